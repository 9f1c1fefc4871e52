#!/bin/bash
# Subgroup tier on the GPU machine: the register-tiled kernel in several shapes
# (RINGATTN_TILED_CFG=bq,bk,tm), code shapes (RINGATTN_TILED_OPTS=du,ju,pf: unroll
# factors, register prefetch) and workgroup-memory budgets (RINGATTN_TILED_BYTES: P^T
# aliased with K^T) against the shuffle kernel (RINGATTN_SUBGROUP_VARIANT=shuffle),
# f32, N=16384. Everything lands in $OUT/r.tgz (NOPACK=1: left in $OUT/r for a calling
# script). Runs: "D cfg opts [bytes]" lines (cfg: bq,bk,tm,kq).
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --seqs 16384 --causal off"
RINGATTN_SUBGROUP_VARIANT=shuffle timeout 60 $B --preheat 2 --head-dims 32,64,128 > $R/shuffle.md 2>&1
while read d cfg opts bytes; do
  [ -z "$d" ] && continue
  f=$R/tiled-d$d-$cfg-$opts-${bytes:-full}.md
  RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_TILED_BYTES=${bytes:-65536} RINGATTN_TILED_CFG=$cfg RINGATTN_TILED_OPTS=$opts timeout 40 $B --head-dims $d > $f 2>&1
done < ${RUNS:-scripts/tiled_runs.txt}
cd $R && for f in shuffle.md tiled-*.md; do echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $5, $7}' | tr '\n' ' ')"; done | tee summary.txt
cd - >/dev/null; [ -n "$NOPACK" ] || { tar czf $OUT/r.tgz -C $OUT r && rm -rf $R; }
