#!/bin/bash
# Thirty-second session, seventh call: the subgroup tier's decode tiles
# (flash::shuffle_decode_config: two row groups of r = 32 lanes at head_dim 128, 16 at 64,
# 4 rows each, 16-key tiles), which f32 decode calls take on this GPU: one token (GQA
# 4:1) at head_dims 128 and 64, five tokens, MHA; f16 forced to the subgroup tier;
# checked against f64; the decode and split tests on the H200.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --check --splits 16"
timeout 40 $D --head-dim 128 --dtype f32 > $R/f32-gqa-128.md 2>&1
timeout 40 $D --head-dim 64 --dtype f32 > $R/f32-gqa-64.md 2>&1
timeout 40 $D --head-dim 128 --dtype f32 --queries 5 > $R/f32-q5-128.md 2>&1
timeout 40 $D --head-dim 128 --dtype f32 --kv-heads 32 > $R/f32-mha-128.md 2>&1
timeout 40 $D --head-dim 128 --tier subgroup > $R/f16-subgroup-gqa-128.md 2>&1
timeout 150 .gpu/attention --test-threads 2 decode_shapes single_token key_splits_match_reference split_calls_overwrite > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
decode_pack
