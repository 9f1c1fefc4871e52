#!/bin/bash
# Ninth session (2026-11-26), the build with MREF on a 1-GPU machine: the attention and
# sparse tests; a subset of the attention tests with the H100's picks forced
# (RINGATTN_MATRIX_CFG) and with every workgroup running its keys twice (PLIM patched
# to -1: MREF's worst case, its second run checked against the reference); the f16
# matrix kernel against the previous session's build (.gpu/ringattn-prev) at the picks,
# two rounds; the worst case timed at the picks.
source scripts/device_run.sh
results
run_tests attention sparse
pick_tests
ab_prev_picks
W="--no-progress --tiers matrix --dtypes f16 --causal both --reps 5 --max-seconds 3 --seqs 16384"
RINGATTN_MATRIX_PATCH="$PLIM_ALWAYS" RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $W --head-dims 64 > $R/rerun-always-64.md 2>&1
RINGATTN_MATRIX_PATCH="$PLIM_ALWAYS" RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $W --head-dims 128 > $R/rerun-always-128.md 2>&1
pack
