#!/bin/bash
# Ninth session (2026-11-26): eight partial max/sum chains per row instead of four
# (RINGATTN_MATRIX_T8=1, a switch of this build only) at (2,4,16) head_dim 64, two
# rounds, with the test subset on the eight-chain kernel.
source scripts/device_run.sh
results
RINGATTN_MATRIX_T8=1 pick_tests
B="--no-progress --tiers matrix --dtypes f16 --causal both --reps 5 --max-seconds 3 --seqs 4096,16384,65536"
for round in 1 2; do
  for t in 0 1; do
    RINGATTN_MATRIX_T8=$t RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/t8-$t-64-$round.md 2>&1
  done
done
pack
