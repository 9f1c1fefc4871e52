#!/bin/bash
# (QWG's code is commit c7040da, reverted in the next commit: RINGATTN_REGS_QWG is gone.
# The cases now come from case files; the calls ran the same cases, each round in one list.)
# Thirtieth session, second call: QWG again with Q's chunks loaded row-major (coopLoadT;
# the first call's column-major loads gave wrong results), head_dim 128 f16, N=4096 and
# 16384, two rounds, against the built-in flash_matrix (2,8,16) and the register
# kernel with Q in registers; then the QWG builds against f64. One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
B="bench --no-progress --tiers matrix --dtypes f16 --causal off --reps 10 --max-seconds 3 --preheat 1 --head-dims 128 --seqs 4096,16384"
case_rounds scripts/qwg30_cases.txt
T="every_head_dim causal_more_queries_than_keys causal_fewer_queries_than_keys large_and_small_scale rising_scores_match_reference key_splits_match_reference batch_of_three"
for v in 4 8; do
  RINGATTN_MATRIX_REGS=1 RINGATTN_MATRIX_CFG=2,4,16 RINGATTN_REGS_QWG=$v RINGATTN_REGS_DBUF=0 timeout 100 .gpu/attention --test-threads 2 $T > $R/test-qwg$v.txt 2>&1; echo "rc=$?" >> $R/test-qwg$v.txt
done
cd $R && {
  cat gpu.txt
  for f in *-1.md *-2.md; do echo "$f $(grep -E '^\| matrix' $f | awk -F'|' '{print $4, $7}' | tr '\n' ' ') $(grep -ci error $f)"; done
  test_lines
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
