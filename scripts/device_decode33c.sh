#!/bin/bash
# Thirty-third session, third call: flash_decode.wgsl's rows and parts: 8 rows (two
# tokens of 4 query heads per K/V head; one token of 8) against the previous kernels
# (RINGATTN_DECODE_STREAM=0), f32 too; one row (MHA) and two (MHA, two tokens) at more
# parts than 65536 invocations; head_dims 64 and 256; SDPA twice in the call (its
# figures moved 1.2-1.9x between the first two calls).
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --check"
timeout 40 $D --head-dim 128 --splits 32 > $R/gqa-128.md 2>&1
timeout 40 $D --head-dim 128 --queries 2 --splits 16,32,64 > $R/q2-128.md 2>&1
RINGATTN_DECODE_STREAM=0 timeout 40 $D --head-dim 128 --queries 2 --splits 32 > $R/q2-128-old.md 2>&1
timeout 40 $D --head-dim 128 --heads 64 --splits 16,32 > $R/g8-128.md 2>&1
RINGATTN_DECODE_STREAM=0 timeout 40 $D --head-dim 128 --heads 64 --splits 32 > $R/g8-128-old.md 2>&1
timeout 40 $D --head-dim 128 --queries 2 --dtype f32 --splits 16,32 > $R/q2-128-f32.md 2>&1
RINGATTN_DECODE_STREAM=0 timeout 40 $D --head-dim 128 --queries 2 --dtype f32 --splits 32 > $R/q2-128-f32-old.md 2>&1
timeout 40 $D --head-dim 128 --kv-heads 32 --splits 16,32,64 > $R/mha-128.md 2>&1
timeout 40 $D --head-dim 128 --kv-heads 32 --queries 2 --splits 8,16,32 > $R/mha-q2-128.md 2>&1
timeout 40 $D --head-dim 64 --kv-heads 32 --splits 8,16,32 > $R/mha-64.md 2>&1
timeout 40 $D --head-dim 256 --splits 16,32 > $R/gqa-256.md 2>&1
RINGATTN_DECODE_STREAM=0 timeout 40 $D --head-dim 256 --splits 32 > $R/gqa-256-old.md 2>&1
sdpa_decode
P="python3 benches/python/sdpa_baseline.py --seqs 4096,16384,65536 --causal off --reps 20 --backends flash --dtypes f16 --heads 32"
timeout 40 $P --head-dims 128 --queries 2 --kv-heads 8 > $R/sdpa-q2.txt 2>&1
timeout 40 $P --head-dims 128 --queries 1 --kv-heads 8 > $R/sdpa-gqa-again.txt 2>&1
timeout 40 $P --head-dims 128,64 --queries 1 > $R/sdpa-mha-again.txt 2>&1
timeout 40 python3 benches/python/sdpa_baseline.py --seqs 4096,16384,65536 --causal off --reps 20 --backends flash --dtypes f16 --heads 64 --head-dims 128 --queries 1 --kv-heads 8 > $R/sdpa-g8.txt 2>&1
decode_pack
