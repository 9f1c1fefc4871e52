#!/bin/bash
# Checks still open after 2026-11-26 (BENCHMARKS.md), one call on a 1- or 2-GPU machine:
# 1. the sweep suite's head_dim axis with the tuner's warm-up and 5 % margin (D=32/96/128
#    were 4x below the kernel table when tuned mid-suite);
# 2. the ring suite at 16K in one long process (cases 3-4x slow on one device), with the
#    tile cache written first by `ringattn tune`, then the same with RINGATTN_TUNE=0;
# 3. small grids (N=1024 H=8, N=4096 H=1/2) with the tuned and the built-in shapes.
# Everything lands in $OUT/r.tgz, the tile cache included.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
export RINGATTN_TUNE_CACHE=$R/tiles.json
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
timeout 120 .gpu/ringattn tune --head-dims 32,64,96,128 > $R/tune.txt 2>&1
timeout 150 .gpu/ringattn bench sweep --no-progress --max-seconds 2 --head-dims 32,64,96,128 --json $R/sweep.json > $R/sweep.md 2>&1
unset RINGATTN_ADAPTER
timeout 120 .gpu/ringattn bench ring --no-progress --max-seconds 2 --seqs 16384 --json $R/ring16k.json > $R/ring16k.md 2>&1
RINGATTN_TUNE=0 timeout 120 .gpu/ringattn bench ring --no-progress --max-seconds 2 --seqs 16384 --json $R/ring16k-notune.json > $R/ring16k-notune.md 2>&1
export RINGATTN_ADAPTER=NVIDIA
for t in 1 0; do
  for hs in "8 1024" "1 4096" "2 4096"; do
    set -- $hs
    RINGATTN_TUNE=$t timeout 30 .gpu/ringattn bench --tiers matrix --dtypes f16 --causal off --reps 20 \
      --head-dims 64 --heads $1 --seqs $2 2>&1 | grep -E "^\| matrix" | sed "s/^/tune=$t H=$1 N=$2 /" >> $R/smallgrid.txt
  done
done
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
