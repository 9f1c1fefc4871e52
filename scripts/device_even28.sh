#!/bin/bash
# Twenty-eighth session, first call: do random masks lose time to their uneven rows?
# sparse_bench --even-rows times, beside each random mask, one with the same number of
# key blocks in every row. f16, N=16384, head_dims 64 and 128, 128- and 64-token blocks.
# One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
SB=".gpu/sparse_bench --seqs 16384 --dtype f16 --densities 0.25,0.1,0.05 --even-rows"
timeout 90 $SB --head-dim 64 --block 128 --check > $R/d64-b128.md 2>&1
timeout 90 $SB --head-dim 64 --block 64 > $R/d64-b64.md 2>&1
timeout 90 $SB --head-dim 128 --block 128 > $R/d128-b128.md 2>&1
