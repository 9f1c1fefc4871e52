#!/bin/bash
# Seventeenth session: the shuffle kernel's scores as scalar chains of multiply-adds
# (RINGATTN_SUBGROUP_SCAL) and its mask skipped on whole tiles (RINGATTN_SUBGROUP_UNM) across shapes (RINGATTN_SUBGROUP_CFG) and staged tiles
# (RINGATTN_SUBGROUP_NSUB), N=16384 (SEQ), f32 (DT), two rounds; registers / stack / shared
# memory per build; SDPA efficient in the same call (SDPA="32 64 128"). Since 30ec798 the
# scalar chains are always on (the scal field is ignored) and UNM defaults per shape.
# (The first runs of this session, raw in rse/ and scal/, ran an earlier form of this
# script on the experiment builds 65b8b86 and 35ceb71, with RINGATTN_SUBGROUP_RSE, _WG and
# _UNM fields, switches those builds had.)
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes ${DT:-f32} --reps 5 --max-seconds 2 --seqs ${SEQ:-16384} --causal ${CAUSAL:-off}"
# runs: D cfg nsub scal [unm: RINGATTN_SUBGROUP_UNM, default 0]
RUNS=${RUNS:-"64 2,2,32 1 0|64 2,2,32 1 1"}
for round in 1 2; do
  IFS='|'; for run in $RUNS; do IFS=' '; set -- $run; n=d$1-${2//,/_}-n$3-c$4${5:+-u$5}
    RINGATTN_DUMP_WGSL=$R/w-$n RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$2 RINGATTN_SUBGROUP_NSUB=$3 RINGATTN_SUBGROUP_SCAL=$4 RINGATTN_SUBGROUP_UNM=${5:-0} $B --head-dims $1 > $R/$n-$round.md 2>&1
  done; IFS=' '
done
[ -n "$SDPA" ] && timeout 200 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes ${DT:-f32} --seqs ${SEQ:-16384} --head-dims ${SDPA// /,} --causal ${CAUSAL:-off} --reps 5 > $R/sdpa.txt 2>&1
dumped_regs
cd $R && { run_times; grep -hE "efficient" sdpa.txt 2>/dev/null; cat regs.txt; } > summary.txt; cat summary.txt
rm -rf $R/w-*
