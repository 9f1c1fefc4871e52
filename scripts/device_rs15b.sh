#!/bin/bash
# Fifteenth session: shuffle-kernel shapes (RINGATTN_SUBGROUP_CFG=r,m,bk) with and
# without RS, f32 N=16384, head_dims 128 and 64, two rounds.
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --seqs 16384 --causal off"
for round in 1 2; do
  for cfg in 8,4,8 8,4,16 8,2,8 8,2,16 8,4,4; do
    for rs in 1 0; do
      RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$cfg RINGATTN_SUBGROUP_RS=$rs $B --head-dims 128 > $R/d128-$cfg-rs$rs-$round.md 2>&1
    done
  done
  for cfg in 4,4,8 4,2,8 4,4,16 4,2,16; do
    for rs in 1 0; do
      RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$cfg RINGATTN_SUBGROUP_RS=$rs $B --head-dims 64 > $R/d64-$cfg-rs$rs-$round.md 2>&1
    done
  done
done
cd $R && for f in d*.md; do echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $7}' | tr -d ' ')"; done | sort > summary.txt; cat summary.txt
