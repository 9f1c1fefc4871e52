#!/bin/bash
# Thirty-third session, fourth call: flash_decode.wgsl's rows over several query tiles
# (RINGATTN_DECODE_ROWS=4: tiles of at most 4 rows, each reading its head's K/V) for 8
# rows (two tokens of 4 query heads per K/V head; one token of 8) and 20 (five tokens),
# against one 8-row tile and the previous kernels (RINGATTN_DECODE_STREAM=0); f32 five
# tokens; 64K keys twice in one process (the first-case effect); SDPA in the same call.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --check --head-dim 128"
timeout 40 $D --queries 2 --splits 16 > $R/q2.md 2>&1
RINGATTN_DECODE_ROWS=4 timeout 40 $D --queries 2 --splits 16,32 > $R/q2-rows4.md 2>&1
timeout 40 $D --heads 64 --splits 16 > $R/g8.md 2>&1
RINGATTN_DECODE_ROWS=4 timeout 40 $D --heads 64 --splits 16,32 > $R/g8-rows4.md 2>&1
RINGATTN_DECODE_ROWS=4 timeout 40 $D --queries 5 --splits 8,16 > $R/q5-rows4.md 2>&1
RINGATTN_DECODE_ROWS=8 timeout 40 $D --queries 5 --splits 8,16 > $R/q5-rows8.md 2>&1
timeout 40 $D --queries 5 --splits 16 > $R/q5-old.md 2>&1
RINGATTN_DECODE_ROWS=4 timeout 40 $D --queries 5 --dtype f32 --splits 8,16 > $R/q5-f32-rows4.md 2>&1
timeout 40 $D --queries 5 --dtype f32 --splits 16 > $R/q5-f32-old.md 2>&1
timeout 40 .gpu/decode --kv-lens 65536,65536,16384,16384 --preheat 1 --head-dim 128 --splits 32 > $R/twice.md 2>&1
P="python3 benches/python/sdpa_baseline.py --seqs 4096,16384,65536 --causal off --reps 20 --backends flash --dtypes f16 --head-dims 128"
timeout 40 $P --heads 32 --queries 2 --kv-heads 8 > $R/sdpa-q2.txt 2>&1
timeout 40 $P --heads 64 --queries 1 --kv-heads 8 > $R/sdpa-g8.txt 2>&1
timeout 40 $P --heads 32 --queries 5 --kv-heads 8 > $R/sdpa-q5.txt 2>&1
timeout 40 $P --heads 32 --queries 1 --kv-heads 8 > $R/sdpa-gqa.txt 2>&1
decode_pack
