#!/bin/bash
# Twentieth session, final build: head_dim 128's (8,4,16) with PIPE, UNM, TAIL (the next
# staged tile's loads before the closing barrier; with EARLY right after Q·K^T) and PSM
# (the previous tile's P through workgroup memory), 256 invocations; 32 and 64 unchanged.
# (The first calls ran the build before EARLY, f32 with 128 invocations.)
# First the nineteenth session's default at 128 (TAIL, PSM, EARLY off, 128 invocations) against the new one in
# the same call (f32 and f16, N=16384, two rounds), and at 64 the default against PIPE
# with TAIL (three rounds); then the runs of scripts/device_final17.sh (the tier as
# picked by a fresh search, SDPA efficient f32, the GPU suites unless NO_TESTS=1).
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal off"
for round in 1 2; do for dt in f32 f16; do
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=8,4,16 $B --head-dims 128 --dtypes $dt > $R/ab-new-$dt-$round.md 2>&1
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=8,4,16 RINGATTN_SUBGROUP_TAIL=0 RINGATTN_SUBGROUP_PSM=0 RINGATTN_SUBGROUP_EARLY=0 RINGATTN_SUBGROUP_WG=128 $B --head-dims 128 --dtypes $dt > $R/ab-old-$dt-$round.md 2>&1
done; done
for round in 1 2 3; do
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=4,4,32 $B --head-dims 64 --dtypes f32 > $R/ab64-default-$round.md 2>&1
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=4,4,32 RINGATTN_SUBGROUP_PIPE=1 RINGATTN_SUBGROUP_TAIL=1 $B --head-dims 64 --dtypes f32 > $R/ab64-pipetail-$round.md 2>&1
done
for f in $R/ab*.md; do echo "${f##*/} $(grep -E '^\| subgroup' $f | awk -F'|' '{print $7}' | tr -d ' ')"; done > $R/ab.txt; cat $R/ab.txt
NO_2232=1 exec bash scripts/device_final17.sh
