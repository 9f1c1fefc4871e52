#!/bin/bash
# Ninth session (2026-11-26), the final kernel's remaining switches on a 1-GPU machine:
# the four partial max/sum chains (TREE, on with the pipelined loop) against a build
# with TREE off (.gpu/ringattn-prev), at the H100's picks, causal both, two rounds; and
# the pipelined loop off (RINGATTN_MATRIX_PIPE=0) with MREF at (2,4,16) D=64.
source scripts/device_run.sh
results
ab_prev_picks
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  RINGATTN_MATRIX_PIPE=0 RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/nopipe-64-$round.md 2>&1
done
pack
