#!/bin/bash
# Thirty-first session, third call: decode launches with GQA packing, the decode split
# rule (flash::decode_key_splits) and key parts in one launch (flash::encode_key_parts,
# merged by merge_slots.wgsl), checked against f64: H=32 with 8 K/V heads (one query row
# and five), MHA, head_dims 128 and 64, f16 (matrix tier), f32 (left for the subgroup
# tier), the portable tier; packing off for comparison; SDPA at the same shapes in the
# same call; then the whole attention test binary on the H200. One GPU.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 0.5"
timeout 60 $D --head-dim 128 --splits 8,16,32,64 --check > $R/f16-gqa-128.md 2>&1
timeout 40 $D --head-dim 64 --splits 16,32,64 --check > $R/f16-gqa-64.md 2>&1
timeout 40 $D --head-dim 128 --queries 5 --splits 16,32 --check > $R/f16-gqa-128-q5.md 2>&1
timeout 40 $D --head-dim 128 --kv-heads 32 --splits 8,16 --check > $R/f16-mha-128.md 2>&1
RINGATTN_GQA_PACK=0 timeout 30 $D --head-dim 128 --splits 32 > $R/f16-gqa-128-nopack.md 2>&1
timeout 50 $D --head-dim 128 --dtype f32 --splits 16,32,64 --check > $R/f32-gqa-128.md 2>&1
timeout 50 $D --head-dim 128 --tier portable --kv-lens 4096,16384 --splits 8,32 --check > $R/f16-gqa-128-portable.md 2>&1
P="python3 benches/python/sdpa_baseline.py --heads 32 --seqs 4096,16384,65536 --causal off --reps 20"
timeout 40 $P --queries 1 --kv-heads 8 --backends flash --dtypes f16 --head-dims 64,128 > $R/sdpa-gqa.txt 2>&1
timeout 30 $P --queries 5 --kv-heads 8 --backends flash --dtypes f16 --head-dims 128 > $R/sdpa-gqa-q5.txt 2>&1
timeout 30 $P --queries 1 --backends flash --dtypes f16 --head-dims 128 > $R/sdpa-mha.txt 2>&1
timeout 40 $P --queries 1 --kv-heads 8 --backends math --dtypes f32 --head-dims 128 > $R/sdpa-f32.txt 2>&1
TEST_LIMIT=280 run_tests attention
decode_pack
