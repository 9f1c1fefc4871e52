#!/bin/bash
# Thirty-first session, fourth call: decode with key parts in one launch (default)
# against one launch per part (RINGATTN_PARTS_LAUNCH=0), GPU time and wall time per call
# of calls submitted back to back, after a per-length warm-up of the automatic pick on
# the timed tensors; f16 GQA at head_dims 128 and 64, five query rows, MHA, f32; SDPA
# flash at the same shapes in the same call; then the sparse, merge and tiled test
# binaries on the H200 (the attention binary passed in call3 on the same kernels).
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 0.5"
timeout 40 $D --head-dim 128 --splits 16,32 --check > $R/f16-gqa-128.md 2>&1
RINGATTN_PARTS_LAUNCH=0 timeout 40 $D --head-dim 128 --splits 16,32 > $R/f16-gqa-128-perpart.md 2>&1
timeout 30 $D --head-dim 64 --splits 32 > $R/f16-gqa-64.md 2>&1
RINGATTN_PARTS_LAUNCH=0 timeout 30 $D --head-dim 64 --splits 32 > $R/f16-gqa-64-perpart.md 2>&1
timeout 30 $D --head-dim 128 --queries 5 --splits 32 > $R/f16-gqa-128-q5.md 2>&1
timeout 30 $D --head-dim 128 --kv-heads 32 --splits 16 > $R/f16-mha-128.md 2>&1
timeout 40 $D --head-dim 128 --dtype f32 --splits 16 > $R/f32-gqa-128.md 2>&1
P="python3 benches/python/sdpa_baseline.py --heads 32 --seqs 4096,16384,65536 --causal off --reps 20"
timeout 40 $P --queries 1 --kv-heads 8 --backends flash --dtypes f16 --head-dims 64,128 > $R/sdpa-gqa.txt 2>&1
timeout 30 $P --queries 5 --kv-heads 8 --backends flash --dtypes f16 --head-dims 128 > $R/sdpa-gqa-q5.txt 2>&1
timeout 30 $P --queries 1 --backends flash --dtypes f16 --head-dims 128 > $R/sdpa-mha.txt 2>&1
TEST_LIMIT=120 run_tests sparse merge tiled
decode_pack
