#!/bin/bash
# Ninth session (2026-11-26): the softmax's row sums on the tensor cores (LMMA with
# MREF: P times a fragment of ones; RINGATTN_MATRIX_LMMA=1, a switch of this build)
# against the same build without, at the H100's picks, two rounds; the test subset
# with LMMA on.
source scripts/device_run.sh
results
RINGATTN_MATRIX_LMMA=1 pick_tests
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  for m in 0 1; do
    RINGATTN_MATRIX_LMMA=$m RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/lmma$m-64-$round.md 2>&1
    RINGATTN_MATRIX_LMMA=$m RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/lmma$m-128-$round.md 2>&1
  done
done
pack
