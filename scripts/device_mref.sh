#!/bin/bash
# Ninth session (2026-11-26): the f16 matrix kernel without the lazy rescale (MREF: P
# against a fixed reference max per row, a second run of the keys when a row's max rises
# past it; RINGATTN_MATRIX_MREF=0 gives the lazy rescale with its per-tile flag). One
# call on a 1-GPU machine: the attention and sparse tests, then MREF on/off at the
# H100's picks, with the pipelined loop forced on and off at (2,8,16) head_dim 128,
# causal both, two rounds.
source scripts/device_run.sh
results
run_tests attention sparse
B="--no-progress --tiers matrix --dtypes f16 --causal both --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  for m in 1 0; do
    RINGATTN_MATRIX_MREF=$m RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/mref$m-64-$round.md 2>&1
    for pipe in 1 0; do
      RINGATTN_MATRIX_PIPE=$pipe RINGATTN_MATRIX_MREF=$m RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/mref$m-pipe$pipe-128-$round.md 2>&1
    done
  done
done
pack
