#!/bin/bash
# (Needs the experiment builds 65b8b86 / 35ceb71: their RSE, WG and UNM switches are gone.)
# Seventeenth session: the shuffle kernel's scores as scalar chains (SCAL), its mask skipped
# on full tiles (UNM), its eager reduce-scatter (RINGATTN_SUBGROUP_RSE: the
# rounds per block of LPR keys, so one block's partial sums are live instead of the whole
# tile's) and the workgroup size (RINGATTN_SUBGROUP_WG), f32 N=16384, two rounds, shapes as
# given (RINGATTN_SUBGROUP_CFG), registers / stack / shared memory per build, SDPA
# efficient f32 in the same call (SDPA="64 128").
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes ${DT:-f32} --reps 5 --max-seconds 2 --seqs ${SEQ:-16384} --causal off"
# runs: D cfg nsub rse wg [scal unm: RINGATTN_SUBGROUP_SCAL / _UNM, default 0 0]
RUNS=${RUNS:-"64 2,2,32 1 0 128|64 2,2,32 1 1 128"}
for round in 1 2; do
  IFS='|'; for run in $RUNS; do IFS=' '; set -- $run; n=d$1-${2//,/_}-n$3-e$4-w$5-c${6:-0}u${7:-0}
    RINGATTN_DUMP_WGSL=$R/w-$n RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$2 RINGATTN_SUBGROUP_NSUB=$3 RINGATTN_SUBGROUP_RSE=$4 RINGATTN_SUBGROUP_WG=$5 RINGATTN_SUBGROUP_SCAL=${6:-0} RINGATTN_SUBGROUP_UNM=${7:-0} $B --head-dims $1 > $R/$n-$round.md 2>&1
  done; IFS=' '
done
[ -n "$SDPA" ] && timeout 200 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs ${SEQ:-16384} --head-dims ${SDPA// /,} --causal off --reps 5 > $R/sdpa.txt 2>&1
dumped_regs
cd $R && { run_times; grep -hE "efficient" sdpa.txt 2>/dev/null; cat regs.txt; } > summary.txt; cat summary.txt
rm -rf $R/w-*
