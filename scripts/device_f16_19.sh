#!/bin/bash
# Nineteenth session, last build: PIPE per dtype (f16 (4,4,32) at head_dim 64 runs it too).
# The subgroup tier as picked by a fresh search (f32 and f16, N=16384, head_dims 64 and
# 128), f16 at 64 with PIPE forced off in the same call; the rows test and the sparse suite.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal off"
$B --dtypes f32,f16 --head-dims 64,128 > $R/picked.md 2>&1
RINGATTN_SUBGROUP_PIPE=0 $B --dtypes f16 --head-dims 64 > $R/f16-64-nopipe.md 2>&1
$B --dtypes f16 --head-dims 64 > $R/f16-64-again.md 2>&1
TEST_LIMIT=150 run_tests sparse
timeout 200 .gpu/attention subgroup_rows_per_group_match_reference --test-threads 2 --nocapture > $R/test-rows.txt 2>&1; echo "rc=$?" >> $R/test-rows.txt
cd $R && { cat gpu.txt; for f in picked.md f16-64-nopipe.md f16-64-again.md; do echo "== $f"; grep -hE "^\| subgroup" $f; done; test_lines; grep -h "cases" test-rows.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
