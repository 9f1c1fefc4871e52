#!/bin/bash
# Eighteenth session: PRE (the next staged K/V tile's loads issued before this tile is
# walked, RINGATTN_SUBGROUP_PRE) on and off at the default shapes and workgroups
# (head_dims 32 / 64 / 128) and (16,4,16) at 128 with 512 invocations; f32 N=16384, two
# rounds; registers per build. RUNS: "D cfg wg pre|...".
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes ${DT:-f32} --reps 5 --max-seconds 2 --seqs ${SEQ:-16384} --causal ${CAUSAL:-off}"
RUNS=${RUNS:-"128 8,4,16 256 0|128 8,4,16 256 1|64 4,4,32 128 0|64 4,4,32 128 1|32 2,2,16 128 0|32 2,2,16 128 1|128 16,4,16 512 1|64 8,4,16 512 1"}
for round in 1 2; do
  IFS='|'; for run in $RUNS; do IFS=' '; set -- $run; n=d$1-${2//,/_}-wg$3-pre$4
    RINGATTN_DUMP_WGSL=$R/w-$n RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$2 RINGATTN_SUBGROUP_WG=$3 RINGATTN_SUBGROUP_PRE=$4 $B --head-dims $1 > $R/$n-$round.md 2>&1
  done; IFS=' '
done
dumped_regs
cd $R && { run_times; cat regs.txt; } > summary.txt; cat summary.txt
rm -rf $R/w-*
cd $OUT && tar czf r.tgz r && rm -rf r
