#!/bin/bash
# Subgroup tier (f32) shapes on the GPU machine: R lanes per row group, M rows per group,
# BK keys per tile (RINGATTN_SUBGROUP_CFG=r,m,bk), against the default, N=16384.
source scripts/device_run.sh
A="--tiers subgroup --dtypes f32 --seqs 16384 --head-dims 64,128 --causal off --reps 5 --max-seconds 4"
echo "== default"; .gpu/ringattn bench $A 2>&1 | grep -E "^\| subgroup"
for cfg in "$@"; do
  echo "== $cfg"; RINGATTN_SUBGROUP_CFG=$cfg .gpu/ringattn bench $A 2>&1 | grep -E "^\| subgroup"
done
