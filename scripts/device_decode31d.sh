#!/bin/bash
# Thirty-first session, fifth call: the decode tiles' key length (RINGATTN_MATRIX_CFG
# 1,1,64 against the built-in DECODE_SHAPE 1,1,32, and 1,2,32) at head_dim 128, GQA and
# MHA, automatic key parts; then the sparse binary's one test that call4's limit cut.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 0.5 --splits 32"
timeout 30 $D --head-dim 128 > $R/gqa-1132.md 2>&1
RINGATTN_MATRIX_CFG=1,1,64 timeout 30 $D --head-dim 128 --check > $R/gqa-1164.md 2>&1
RINGATTN_MATRIX_CFG=1,2,32 timeout 30 $D --head-dim 128 > $R/gqa-1232.md 2>&1
timeout 30 $D --head-dim 128 --kv-heads 32 > $R/mha-1132.md 2>&1
RINGATTN_MATRIX_CFG=1,1,64 timeout 30 $D --head-dim 128 --kv-heads 32 > $R/mha-1164.md 2>&1
RINGATTN_MATRIX_CFG=1,1,64 timeout 30 $D --head-dim 64 > $R/gqa-64-1164.md 2>&1
timeout 200 .gpu/sparse --test-threads 2 shuffle_kernel_options_with_masks_match_reference > $R/test-sparse.txt 2>&1; echo "rc=$?" >> $R/test-sparse.txt
decode_pack
