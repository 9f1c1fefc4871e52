#!/bin/bash
# Nineteenth session, after the dtype-aware workgroup (f16 (8,4,16) at head_dim 128 with
# 256 invocations, f32 with 128; PIPE and UNM for both): a fresh kernel search for
# head_dim 128 f32/f16 (cache $R/tiles.json), the tier as picked at N=16384 (two rounds),
# then the GPU suites (attention with a longer limit: its rows test has PIPE cases now).
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
for round in 1 2; do
  .gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal off --dtypes f32,f16 --head-dims 128 > $R/picked-$round.md 2>&1
done
TEST_LIMIT=${TEST_LIMIT:-470} run_tests attention
TEST_LIMIT=80 run_tests sparse
cd $R && { grep -hE "^\| subgroup" picked-*.md; grep -h -A6 "d128 | subgroup" tiles.json | tr -d '\n '; echo; test_lines; grep -h "cases" test-*.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
