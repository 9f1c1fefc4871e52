#!/bin/bash
# Nineteenth session, final build: head_dim 128's (8,4,16) with PIPE (a tile's P·V in the
# next tile's body) and UNM, 128 invocations per workgroup; 32 and 64 unchanged. First
# the eighteenth session's default at 128 (256 invocations, no PIPE, no UNM) against the
# new one in the same call (f32 and f16, N=16384, two rounds), then the runs of
# scripts/device_final17.sh without its (2,2,32) comparison (the tier as picked by a
# fresh search, SDPA efficient f32, the GPU suites).
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal off --head-dims 128"
for round in 1 2; do for dt in f32 f16; do
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=8,4,16 $B --dtypes $dt > $R/ab-new-$dt-$round.md 2>&1
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=8,4,16 RINGATTN_SUBGROUP_WG=256 RINGATTN_SUBGROUP_PIPE=0 RINGATTN_SUBGROUP_UNM=0 $B --dtypes $dt > $R/ab-old-$dt-$round.md 2>&1
done; done
for f in $R/ab-*.md; do echo "${f##*/} $(grep -E '^\| subgroup' $f | awk -F'|' '{print $7}' | tr -d ' ')"; done > $R/ab.txt; cat $R/ab.txt
NO_2232=1 exec bash scripts/device_final17.sh
