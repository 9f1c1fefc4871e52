#!/bin/bash
# Twenty-first session, final build: DBUF (two K/V areas, one barrier per tile) on
# head_dim 128's (8,4,16) and head_dim 64's new default (4,4,16) with 256 invocations and
# every option (PIPE, UNM, RSP, TAIL, PSM, EARLY, DBUF). First the twentieth session's
# defaults against the new ones in the same call (f32 and f16, N=16384, two rounds:
# 128 with DBUF off; 64 as (4,4,32) with 128 invocations, its options from the tables),
# then the runs of scripts/device_final17.sh (the tier as picked by a fresh search, SDPA
# efficient f32, the GPU suites unless NO_TESTS=1).
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal off"
for round in 1 2; do for dt in f32 f16; do
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=8,4,16 $B --head-dims 128 --dtypes $dt > $R/ab-new128-$dt-$round.md 2>&1
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=8,4,16 RINGATTN_SUBGROUP_DBUF=0 $B --head-dims 128 --dtypes $dt > $R/ab-old128-$dt-$round.md 2>&1
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=4,4,16 $B --head-dims 64 --dtypes $dt > $R/ab-new64-$dt-$round.md 2>&1
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=4,4,32 $B --head-dims 64 --dtypes $dt > $R/ab-old64-$dt-$round.md 2>&1
done; done
for f in $R/ab*.md; do echo "${f##*/} $(grep -E '^\| subgroup' $f | awk -F'|' '{print $7}' | tr -d ' ')"; done > $R/ab.txt; cat $R/ab.txt
NO_2232=1 exec bash scripts/device_final17.sh
