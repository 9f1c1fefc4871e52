#!/bin/bash
# Ninth session (2026-11-26): register counts and code of the final f16 kernels at the
# H100's picks ((2,4,16) at head_dim 64, (2,8,16) at 128), with and without MREF
# (pipeline_stats; the dump is for scripts/sass_from_cache.py).
source scripts/device_run.sh
results
for m in 1 0; do
  for a in "2,4,16 64" "2,8,16 128"; do
    set -- $a
    RINGATTN_MATRIX_MREF=$m RINGATTN_DUMP_WGSL=$R/wgsl-$m-$2 RINGATTN_MATRIX_CFG=$1 .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --causal off --reps 1 --seqs 1024 --head-dims $2 > /dev/null 2>&1
    mkdir -p $R/dump-$m-$2; .gpu/pipeline_stats --adapter NVIDIA --dump $R/dump-$m-$2 $R/wgsl-$m-$2/flash_matrix*.wgsl > $R/stats-$m-$2.txt 2>&1
  done
done
cd $R && { cat gpu.txt; grep -E "Register|Shared|^/" stats-*.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
