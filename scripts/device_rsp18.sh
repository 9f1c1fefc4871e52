#!/bin/bash
# Eighteenth session: the reduce-scatter rounds without selects (RSP) generalized to r > m
# (lane L's slot (m, j) holds row m ^ mr and key j ^ j0), at head_dim 128's (8,4,16),
# with UNM on and off, and 128 / 256 invocations per workgroup (RINGATTN_SUBGROUP_WG);
# f32 N=16384 (SEQ), two rounds; registers per build; SDPA efficient in the same call.
# RUNS: "D cfg wg rsp unm|...".
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes ${DT:-f32} --reps 5 --max-seconds 2 --seqs ${SEQ:-16384} --causal ${CAUSAL:-off}"
RUNS=${RUNS:-"128 8,4,16 128 0 0|128 8,4,16 128 1 0|128 8,4,16 128 1 1|128 8,4,16 256 0 0|128 8,4,16 256 1 0|64 4,4,32 128 1 1|64 4,4,32 256 1 1"}
for round in 1 2; do
  IFS='|'; for run in $RUNS; do IFS=' '; set -- $run; n=d$1-${2//,/_}-wg$3-p$4-u$5
    RINGATTN_DUMP_WGSL=$R/w-$n RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$2 RINGATTN_SUBGROUP_WG=$3 RINGATTN_SUBGROUP_RSP=$4 RINGATTN_SUBGROUP_UNM=$5 $B --head-dims $1 > $R/$n-$round.md 2>&1
  done; IFS=' '
done
timeout 200 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes ${DT:-f32} --seqs ${SEQ:-16384} --head-dims 64,128 --causal ${CAUSAL:-off} --reps 5 > $R/sdpa.txt 2>&1
dumped_regs
[ -n "$SASS" ] && { mkdir -p $R/dump; for w in $R/w-d128*wg128-p1-u0; do .gpu/pipeline_stats --adapter NVIDIA --dump $R/dump $w/flash_subgroup*.wgsl > /dev/null 2>&1; done; }
cd $R && { run_times; grep -hE "efficient" sdpa.txt 2>/dev/null; cat regs.txt; } > summary.txt; cat summary.txt
rm -rf $R/w-*
cd $OUT && tar czf r.tgz r && rm -rf r
