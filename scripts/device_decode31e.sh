#!/bin/bash
# Thirty-first session, sixth call: the final build (the slot merge as merge.wgsl's
# SLOTS mode): decode at head_dims 128 and 64 with the automatic pick and 32 parts,
# checked against f64, and the split, decode and merge tests on the H200.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 0.5 --splits 32 --check"
timeout 40 $D --head-dim 128 > $R/f16-gqa-128.md 2>&1
timeout 30 $D --head-dim 64 > $R/f16-gqa-64.md 2>&1
timeout 200 .gpu/attention --test-threads 2 decode_shapes key_splits split_calls single_token calls_share > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
TEST_LIMIT=60 run_tests merge
decode_pack
