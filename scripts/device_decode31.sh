#!/bin/bash
# Thirty-first session, first call: GQA packing for decode launches (flash::gqa_fold:
# one workgroup runs the query heads of one K/V head as its rows). One query row per
# sequence, H=32, 8 K/V heads: the automatic pick and forced key-split counts, packed
# (default) and not (RINGATTN_GQA_PACK=0), checked against f64; head_dim 128 (64 ran in
# the first try, whose matrix kernel failed to build: call1),
# f16 and f32; 5 query rows (speculative decoding); SDPA flash / efficient at the same
# shapes in the same call; then the decode and GQA tests on the matrix tier. One GPU.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536"
timeout 70 $D --head-dim 128 --splits 8,16,32,64 --check --preheat 1 > $R/pack-128.md 2>&1
RINGATTN_GQA_PACK=0 timeout 40 $D --head-dim 128 --splits 8 > $R/nopack-128.md 2>&1
timeout 50 $D --head-dim 128 --queries 5 --splits 8,16,32 --check > $R/pack-128-q5.md 2>&1
timeout 60 $D --head-dim 128 --dtype f32 --splits 1,4,16 --check > $R/pack-128-f32.md 2>&1
timeout 60 $D --head-dim 128 --dtype f32 --tier subgroup --splits 1,4,16 --check > $R/pack-128-f32-subgroup.md 2>&1
P="python3 benches/python/sdpa_baseline.py --heads 32 --kv-heads 8 --seqs 4096,16384,65536 --causal off --reps 20"
timeout 60 $P --queries 1 --backends flash,efficient --dtypes f16 --head-dims 64,128 > $R/sdpa-f16.txt 2>&1
timeout 40 $P --queries 5 --backends flash --dtypes f16 --head-dims 128 > $R/sdpa-f16-q5.txt 2>&1
timeout 40 $P --queries 1 --backends math,efficient --dtypes f32 --head-dims 128 > $R/sdpa-f32.txt 2>&1
timeout 200 .gpu/attention --test-threads 2 decode_shapes single_token causal_fewer_queries_than_keys batch_of_three register_kernel_matches_reference key_splits_match_reference > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
decode_pack
