#!/bin/bash
# Subgroup tier on the GPU machine: the register-tiled kernel (default on GPUs) in each
# shape that fits (RINGATTN_TILED_CFG=bq,bk) against the shuffle kernel
# (RINGATTN_SUBGROUP_VARIANT=shuffle) and SDPA's memory-efficient f32 kernel, checked
# against the f64 reference (--check). Everything lands in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 10 --max-seconds 3"
timeout 200 $B --preheat 2 --seqs 1024,4096,16384 --head-dims 64,128 --causal both --check --json $R/tiled.json > $R/tiled.md 2>&1
for cfg in 64,32 32,32 64,16 32,16; do
  RINGATTN_TILED_CFG=$cfg timeout 60 $B --seqs 16384 --head-dims 64,128 --causal off --json $R/tiled-$cfg.json > $R/tiled-$cfg.md 2>&1
done
RINGATTN_SUBGROUP_VARIANT=shuffle timeout 90 $B --seqs 16384 --head-dims 64,128 --causal off --json $R/shuffle.json > $R/shuffle.md 2>&1
timeout 150 python3 benches/python/sdpa_baseline.py --backends efficient,flash --dtypes f32,f16 --seqs 1024,4096,16384 --head-dims 64,128 --causal both --reps 10 --max-seconds 3 --json $R/sdpa.json > $R/sdpa.txt 2>&1
# Matrix tier, small grids: the default shape against 64-row tiles (before the grid rule).
for cfg in "" 1,4,32; do
  RINGATTN_MATRIX_CFG=$cfg timeout 40 .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --seqs 1024,4096 --head-dims 64,128 --causal off --reps 20 --json $R/matrix-small-$cfg.json > $R/matrix-small-$cfg.md 2>&1
done
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
