#!/bin/bash
# Fourteenth session's final build on an H200: the subgroup search (tiled kernel with
# PSH against the shuffle kernel), the subgroup tier at f32 N=16384 as picked and with
# the shuffle kernel forced beside SDPA efficient, the tiled and search tests.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 32,64,128 --dtypes f32 > $R/tune.txt 2>&1
G="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --head-dims 32,64,128 --causal off --dtypes f32"
.gpu/ringattn bench $G > $R/subgroup.md 2>&1
RINGATTN_SUBGROUP_VARIANT=shuffle .gpu/ringattn bench $G > $R/subgroup-shuffle.md 2>&1
RINGATTN_SUBGROUP_VARIANT=tiled .gpu/ringattn bench $G > $R/subgroup-tiled.md 2>&1
timeout 100 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims 32,64,128 --causal off --reps 5 > $R/sdpa-eff.txt 2>&1
TEST_LIMIT=200 run_tests tiled
.gpu/attention subgroup_search --test-threads 1 > $R/test-search.txt 2>&1; echo "rc=$?" >> $R/test-search.txt
cd $R && {
  cat gpu.txt; grep -A5 "subgroup$" tune.txt | grep -E "subgroup$|^\| bq|^best"
  for f in subgroup.md subgroup-shuffle.md subgroup-tiled.md; do echo "== $f"; grep -hE "^\| subgroup" $f; done; grep -E "efficient" sdpa-eff.txt
  test_lines
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
