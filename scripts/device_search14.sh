#!/bin/bash
# Fourteenth session: the subgroup tier's search on its new (2, 8192, 8, head_dim)
# problem, two fresh searches (f32/f16, head_dims 32/64/128), then the subgroup tier as
# picked at N=16384 beside the shuffle kernel forced; the search test.
source scripts/device_run.sh
results
for i in 1 2; do
  RINGATTN_TUNE_CACHE=$R/tiles-$i.json .gpu/ringattn tune --head-dims 32,64,128 --dtypes f32,f16 > $R/tune-$i.txt 2>&1
done
export RINGATTN_TUNE_CACHE=$R/tiles-1.json
G="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --head-dims 32,64,128 --causal off --dtypes f32,f16"
.gpu/ringattn bench $G > $R/subgroup.md 2>&1
.gpu/attention subgroup_search --test-threads 1 > $R/test-search.txt 2>&1; echo "rc=$?" >> $R/test-search.txt
cd $R && {
  cat gpu.txt; for i in 1 2; do echo "== tune-$i"; grep -A5 "subgroup$" tune-$i.txt | grep -E "subgroup$|^\| bq|^best"; done
  grep -hE "^\| subgroup" subgroup.md; grep -E "test result|rc=" test-search.txt
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
