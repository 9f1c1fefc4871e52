#!/bin/bash
# Ninth session (2026-11-26): the wide K/V units' two words stored in swapped order by
# every other 16-unit group (RINGATTN_MATRIX_SWAPW=1: the two halves of a subgroup's
# store then use different banks) against the same build without (SWAPW=0) and the
# build before (.gpu/ringattn-prev), at the H100's picks, two rounds; the test subset
# with SWAPW=1.
source scripts/device_run.sh
results
RINGATTN_MATRIX_SWAPW=1 pick_tests
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  for v in prev sw0 sw1; do
    bin=ringattn; [ $v = prev ] && bin=ringattn-prev
    S=0; [ $v = sw1 ] && S=1
    RINGATTN_MATRIX_SWAPW=$S RINGATTN_MATRIX_CFG=2,4,16 .gpu/$bin bench $B --head-dims 64 > $R/$v-64-$round.md 2>&1
    RINGATTN_MATRIX_SWAPW=$S RINGATTN_MATRIX_CFG=2,8,16 .gpu/$bin bench $B --head-dims 128 > $R/$v-128-$round.md 2>&1
  done
done
pack
