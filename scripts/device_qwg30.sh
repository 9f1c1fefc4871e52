#!/bin/bash
# (QWG's code is commit c7040da, reverted in the next commit: RINGATTN_REGS_QWG is gone.
# The cases now come from case files; the calls ran the same cases, each round in one list.)
# Thirtieth session, first call: Q in workgroup memory for the register kernel at
# head_dim 128 (QWG: RINGATTN_REGS_QWG=N of Q's 8 chunks read from workgroup memory per
# tile, freeing 4 registers per chunk and 16-row block), against the built-in
# flash_matrix (2,8,16) and the register kernel with Q in registers; two rounds. Then
# correctness of QWG against f64, `ringattn tune` from an empty cache (both matrix-tier
# searches), and the first-call preparation test on the matrix tier. One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
B="bench --no-progress --tiers matrix --dtypes f16 --causal off --reps 10 --max-seconds 3 --preheat 1 --head-dims 128 --seqs 4096,16384"
case_rounds scripts/qwg30_cases.txt
case_rounds scripts/qwg30_first.txt
T="every_head_dim causal_more_queries_than_keys causal_fewer_queries_than_keys large_and_small_scale rising_scores_match_reference key_splits_match_reference batch_of_three"
for v in 4 8; do
  RINGATTN_MATRIX_REGS=1 RINGATTN_MATRIX_CFG=2,4,16 RINGATTN_REGS_QWG=$v RINGATTN_REGS_DBUF=0 timeout 100 .gpu/attention --test-threads 2 $T > $R/test-qwg$v.txt 2>&1; echo "rc=$?" >> $R/test-qwg$v.txt
done
unset RINGATTN_TUNE
timeout 45 .gpu/attention --test-threads 2 tiles_prepares_the_first_call threads_build_each_pipeline_once > $R/test-prepare.txt 2>&1; echo "rc=$?" >> $R/test-prepare.txt
( time RINGATTN_TUNE_CACHE=$R/tiles.json timeout 90 .gpu/ringattn tune --head-dims 64,128 --dtypes f16 ) > $R/tune.txt 2>&1
cd $R && {
  cat gpu.txt
  for f in *-1.md *-2.md; do echo "$f $(grep -E '^\| matrix' $f | awk -F'|' '{print $4, $7}' | tr '\n' ' ') $(grep -ci error $f)"; done
  python3 -c "
import json,glob
for f in sorted(glob.glob('*-1.json')): print(f, [r.get('tile') for r in json.load(open(f))['results']])"
  test_lines
  tail -15 tune.txt
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
