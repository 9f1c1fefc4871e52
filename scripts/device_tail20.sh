#!/bin/bash
# Twentieth session: TAIL (the next staged tile's K/V loads issued before the closing
# barrier, RINGATTN_SUBGROUP_TAIL) and PSM (PIPE's previous-tile P through workgroup
# memory, RINGATTN_SUBGROUP_PSM) against the defaults, f32 N=16384 non-causal unless the
# entry says, two rounds; SDPA efficient f32 in the same call; then the GPU tests of the
# shuffle kernel's options. RUNS entries as in device_pipe19b.sh: "D cfg wg pipe
# [VAR=value,...] [dtype]" (VAR: UNM, RSP, TAIL, PSM for RINGATTN_SUBGROUP_<VAR>).
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs ${SEQ:-16384} --causal ${CAUSAL:-off}"
RUNS=${RUNS:-"128 8,4,16 128 1 UNM=1|128 8,4,16 128 1 UNM=1,TAIL=1|128 8,4,16 128 1 UNM=1,PSM=1|128 8,4,16 128 1 UNM=1,TAIL=1,PSM=1|64 4,4,32 128 0|64 4,4,32 128 0 TAIL=1|32 2,2,16 128 0|32 2,2,16 128 0 TAIL=1|128 8,4,16 256 1 UNM=1 f16|128 8,4,16 256 1 UNM=1,TAIL=1,PSM=1 f16"}
shuffle_runs
[ -z "$NO_SDPA" ] && timeout 120 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs ${SEQ:-16384} --head-dims 32,64,128 --causal ${CAUSAL:-off} --reps 5 > $R/sdpa.txt 2>&1
if [ -z "$NO_TESTS" ]; then
  A=$(ls .gpu/attention-* | head -1); S=$(ls .gpu/sparse-* | head -1)
  timeout ${TEST_LIMIT:-200} $A --test-threads 2 --nocapture subgroup_rows_per_group_match_reference shuffle_long_keys > $R/test-rows.txt 2>&1; echo "rc=$?" >> $R/test-rows.txt
  timeout ${TEST_LIMIT:-200} $S --test-threads 2 --nocapture shuffle_kernel_options > $R/test-sparse-options.txt 2>&1; echo "rc=$?" >> $R/test-sparse-options.txt
fi
cd $R && { run_times; cat regs.txt; grep -E "efficient" sdpa.txt; test_lines; grep -h "cases" test-*.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r${TAG}.tgz r && rm -rf r
