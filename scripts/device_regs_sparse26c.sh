#!/bin/bash
# Twenty-sixth session, third call: the register kernel's sparse tiles as picked now
# ((1,4,32) at 64-token blocks, (2,4,32) at 128) and masks whose work rises (causal,
# causal window) run longest tiles first: the masked tests, then sparse_bench at
# N=16384, head_dim 64, f16 (built-in tiles). One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
timeout 150 .gpu/sparse --test-threads 2 masked_attention_matches_reference fully_masked_rows_are_zero masks_with_rising > $R/test-sparse.txt 2>&1; echo "rc=$?" >> $R/test-sparse.txt
SB=".gpu/sparse_bench --seqs 16384 --dtype f16 --head-dim 64 --densities 0.25,0.1"
timeout 40 $SB --block 64 --check > $R/b64.md 2>&1
timeout 40 $SB --block 128 > $R/b128.md 2>&1
