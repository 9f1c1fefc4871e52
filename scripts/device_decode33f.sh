#!/bin/bash
# Thirty-third session, sixth call: the committed build (flash_decode.wgsl for f16 and
# f32 decode calls of up to 8 rows per K/V head, 4-row query tiles, parts within 262144 /
# rows invocations): one token (GQA 4:1) at head_dims 128 / 64 / 256, two tokens, one
# token of 8 query heads per K/V head, five tokens (the previous kernels), MHA, a batch
# of 4, f32, and the matrix tier's decode tiles (RINGATTN_DECODE_STREAM=0) beside them;
# automatic parts beside one forced count; checked against f64; SDPA flash (math for
# f32) at the same shapes in the same call; the decode, split and merge tests and the
# shader coverage check on the H200.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --check"
timeout 45 $D --head-dim 128 --splits 16 > $R/gqa-128.md 2>&1
RINGATTN_DECODE_STREAM=0 timeout 45 $D --head-dim 128 --splits 16 > $R/gqa-128-matrix.md 2>&1
timeout 45 $D --head-dim 64 --splits 16 > $R/gqa-64.md 2>&1
timeout 45 $D --head-dim 256 --splits 16 > $R/gqa-256.md 2>&1
timeout 45 $D --head-dim 128 --queries 2 --splits 32 > $R/q2-128.md 2>&1
timeout 45 $D --head-dim 128 --heads 64 --splits 32 > $R/g8-128.md 2>&1
timeout 45 $D --head-dim 128 --queries 5 --splits 16 > $R/q5-128.md 2>&1
timeout 45 $D --head-dim 128 --kv-heads 32 --splits 8 > $R/mha-128.md 2>&1
timeout 45 $D --head-dim 128 --batch 4 --splits 16 > $R/b4-128.md 2>&1
timeout 45 $D --head-dim 128 --dtype f32 --splits 16 > $R/gqa-128-f32.md 2>&1
sdpa_decode
P="python3 benches/python/sdpa_baseline.py --seqs 4096,16384,65536 --causal off --reps 20 --backends flash --dtypes f16"
timeout 40 $P --heads 32 --head-dims 128 --queries 2 --kv-heads 8 > $R/sdpa-q2.txt 2>&1
timeout 40 $P --heads 64 --head-dims 128 --queries 1 --kv-heads 8 > $R/sdpa-g8.txt 2>&1
timeout 40 $P --heads 32 --head-dims 256 --queries 1 --kv-heads 8 > $R/sdpa-256.txt 2>&1
timeout 150 .gpu/attention decode split overwrite shuffle --test-threads 2 > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
TEST_LIMIT=60 run_tests merge
timeout 60 .gpu/shaders library_tiles > $R/test-shaders.txt 2>&1; echo "rc=$?" >> $R/test-shaders.txt
decode_pack
