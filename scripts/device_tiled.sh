#!/bin/bash
# Subgroup tier on the GPU machine: the register-tiled kernel in several shapes
# (RINGATTN_TILED_CFG=bq,bk,tm) and code shapes (RINGATTN_TILED_OPTS=du,ju,pf: unroll
# factors, register prefetch) against the shuffle kernel (RINGATTN_SUBGROUP_VARIANT=
# shuffle), f32, N=16384. Everything lands in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --seqs 16384 --causal off"
RINGATTN_SUBGROUP_VARIANT=shuffle timeout 60 $B --preheat 2 --head-dims 64,128 > $R/shuffle.md 2>&1
for cfg in 64,32,4 64,16,4 32,32,4; do
  for opts in ${OPTS:-64,32,1 64,32,0 4,4,0 4,4,1 8,8,1 16,16,1}; do
    RINGATTN_TILED_CFG=$cfg RINGATTN_TILED_OPTS=$opts timeout 40 $B --head-dims 64 > $R/tiled-$cfg-$opts.md 2>&1
  done
done
cd $R && for f in shuffle.md tiled-*.md; do echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $5, $7}' | tr '\n' ' ')"; done | tee summary.txt
cd - >/dev/null; tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
