#!/bin/bash
# Thirty-second session, sixth call: the committed build (d719047: the unrolled slot
# merge, flash_matrix's 16-key decode tiles, parts within 512 workgroups on them, at
# most 32): one token (GQA 4:1) at head_dims 128 and 64, five tokens, MHA, a batch of 4,
# f32 on the subgroup tier, automatic parts beside 16 / 64, checked against f64; SDPA
# flash (math for f32) at the same shapes in the same call; the merge tests and the
# whole attention test binary on the H200.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --check"
timeout 50 $D --head-dim 128 --splits 16,64 > $R/gqa-128.md 2>&1
timeout 40 $D --head-dim 64 --splits 16 > $R/gqa-64.md 2>&1
timeout 40 $D --head-dim 128 --queries 5 --splits 16 > $R/q5-128.md 2>&1
timeout 40 $D --head-dim 128 --kv-heads 32 --splits 8 > $R/mha-128.md 2>&1
timeout 40 $D --head-dim 128 --batch 4 --splits 8 > $R/b4-128.md 2>&1
timeout 40 $D --head-dim 128 --dtype f32 --splits 16 > $R/gqa-128-f32.md 2>&1
sdpa_decode
TEST_LIMIT=60 run_tests merge
TEST_LIMIT=300 run_tests attention
decode_pack
