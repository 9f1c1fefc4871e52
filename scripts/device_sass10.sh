#!/bin/bash
# The driver's machine code of the subgroup tier's kernels at head_dim 64, f32: the
# shuffle kernel (the default) and the tiled kernel at its first shape (or
# RINGATTN_TILED_CFG): pipeline-cache blobs in $R/dump for scripts/sass_from_cache.py.
source scripts/device_run.sh
results wgsl dump
B="--no-progress --tiers subgroup --dtypes f32 --causal off --reps 2 --seqs 1024 --head-dims 64"
RINGATTN_DUMP_WGSL=$R/wgsl RINGATTN_SUBGROUP_VARIANT=shuffle .gpu/ringattn bench $B > $R/bench-shuffle.md 2>&1
RINGATTN_DUMP_WGSL=$R/wgsl RINGATTN_SUBGROUP_VARIANT=tiled .gpu/ringattn bench $B > $R/bench-tiled.md 2>&1
.gpu/pipeline_stats --adapter NVIDIA --dump $R/dump $R/wgsl/flash_*.wgsl > $R/stats.txt 2>&1
grep -E "^/|Register" $R/stats.txt
cd $OUT && tar czf r.tgz r && rm -rf r
