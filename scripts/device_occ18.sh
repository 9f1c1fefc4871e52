#!/bin/bash
# Eighteenth session: shapes with fewer registers per lane (more lanes per row, or fewer
# rows per group) in larger workgroups, which bound the driver's registers (65536 / WG:
# 384 -> 168, 512 -> 128) so that 12 or 16 warps fit an SM; RSP on and off; f32 N=16384.
# RUNS: "D cfg wg rsp|..."; registers / stack / shared memory per build.
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes ${DT:-f32} --reps 5 --max-seconds 2 --seqs ${SEQ:-16384} --causal ${CAUSAL:-off}"
RUNS=${RUNS:-"128 16,4,16 256 1|128 16,4,16 384 1|128 16,4,16 384 0|128 16,4,16 512 1|128 16,4,8 384 1|128 16,4,8 512 1|64 8,4,16 256 1|64 8,4,16 384 1|64 8,4,16 384 0|64 8,4,16 512 1|64 4,2,16 512 1|64 4,2,32 384 1|64 4,2,32 512 1"}
IFS='|'; for run in $RUNS; do IFS=' '; set -- $run; n=d$1-${2//,/_}-wg$3-p$4
  RINGATTN_DUMP_WGSL=$R/w-$n RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$2 RINGATTN_SUBGROUP_WG=$3 RINGATTN_SUBGROUP_RSP=$4 $B --head-dims $1 > $R/$n.md 2>&1
done; IFS=' '
dumped_regs
cd $R && { run_times; cat regs.txt; } > summary.txt; cat summary.txt
rm -rf $R/w-*
cd $OUT && tar czf r.tgz r && rm -rf r
