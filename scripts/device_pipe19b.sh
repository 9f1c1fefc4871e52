#!/bin/bash
# Nineteenth session, second call: PIPE (RINGATTN_SUBGROUP_PIPE) across shapes and
# options, f32 N=16384 non-causal unless the entry says, two rounds. RUNS entries: "D cfg
# wg pipe [VAR=value,...] [dtype]" (VAR: RSP, UNM for RINGATTN_SUBGROUP_<VAR>).
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs ${SEQ:-16384} --causal off"
RUNS=${RUNS:-"128 8,4,16 128 1|128 8,4,16 128 1 RSP=1|128 8,4,16 128 1 UNM=1|128 8,4,8 128 1|128 8,4,8 128 0|128 16,8,8 128 1|128 16,4,16 128 1|64 4,4,32 128 0|64 4,4,32 128 1 RSP=0|64 4,4,32 128 1 UNM=0|64 2,2,32 128 1|64 2,2,32 128 0|64 4,4,16 128 1|64 2,2,16 128 1|64 8,4,16 128 1|32 2,2,32 128 1|32 2,2,32 128 0|32 2,4,16 128 1|64 4,4,32 128 1 - f16|64 2,2,32 128 1 - f16|64 2,2,32 128 0 - f16|128 8,4,16 128 1 - f16"}
shuffle_runs
cd $R && { run_times; cat regs.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
