#!/bin/bash
# Twenty-first session: DBUF (PIPE's K/V staged into two areas used by alternate tiles,
# one barrier per tile instead of two; RINGATTN_SUBGROUP_DBUF) against the default
# (8,4,16) build at head_dim 128 (PIPE, UNM, TAIL, PSM, EARLY, 256 invocations), f32 and
# f16, N=16384 non-causal then causal, two rounds each; SDPA efficient f32 in the same
# call; then the GPU tests of the shuffle kernel's options. RUNS entries as in
# device_tail20.sh: "D cfg wg pipe [VAR=value,...] [dtype]".
source scripts/device_run.sh
results
D="UNM=1,TAIL=1,PSM=1,EARLY=1"
RUNS=${RUNS:-"128 8,4,16 256 1 $D|128 8,4,16 256 1 $D,DBUF=1|128 8,4,16 256 1 UNM=1,TAIL=0,PSM=1,DBUF=1|128 8,4,16 256 1 $D f16|128 8,4,16 256 1 $D,DBUF=1 f16"}
for CAUSAL in ${CAUSALS:-off on}; do
  B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs ${SEQ:-16384} --causal $CAUSAL"
  mkdir -p $R/causal-$CAUSAL; R0=$R; R=$R/causal-$CAUSAL
  shuffle_runs
  R=$R0
  [ "$CAUSAL" = on ] && RUNS="128 8,4,16 256 1 $D|128 8,4,16 256 1 $D,DBUF=1"
done
[ -z "$NO_SDPA" ] && timeout 120 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs ${SEQ:-16384} --head-dims ${SDPA_DIMS:-128} --causal both --reps 5 > $R/sdpa.txt 2>&1
if [ -z "$NO_TESTS" ]; then
  A=$(ls .gpu/attention-* | head -1); S=$(ls .gpu/sparse-* | head -1)
  timeout ${TEST_LIMIT:-200} $A --test-threads 2 --nocapture subgroup_rows_per_group_match_reference shuffle_long_keys > $R/test-rows.txt 2>&1; echo "rc=$?" >> $R/test-rows.txt
  timeout ${TEST_LIMIT:-200} $S --test-threads 2 --nocapture shuffle_kernel_options > $R/test-sparse-options.txt 2>&1; echo "rc=$?" >> $R/test-sparse-options.txt
fi
cd $R && { for c in ${CAUSALS:-off on}; do echo "== causal $c"; (R=$R/causal-$c; run_times; cat $R/regs.txt); done; grep -E "efficient" sdpa.txt; test_lines; grep -h "cases" test-*.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r${TAG}.tgz r && rm -rf r
