#!/bin/bash
# Twelfth session, after the review's refactor of the tuned-choice lookup (no kernel
# changed): a search on a fresh cache, a second process reading the cache, the tests
# that go through the tuned paths, and a few bench cases.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64 --dtypes f16,f32 > $R/tune.txt 2>&1
T="subgroup_search shape_aware_tiles register_kernel every_head_dim causal_more_queries_than_keys"
timeout 300 .gpu/attention --test-threads 2 $T > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
.gpu/ringattn bench --no-progress --tiers matrix,subgroup --dtypes f16,f32 --seqs 4096,16384 --head-dims 64 --causal both --reps 5 --max-seconds 2 --json $R/bench.json > $R/bench.md 2>&1
cd $R && {
  cat gpu.txt; grep -E "^best" tune.txt
  grep -hE "test result|FAILED|panicked|^rc=" test-attention.txt
  grep -hE "^\| (matrix|subgroup)" bench.md
  python3 -c "
import json
for r in json.load(open('bench.json'))['results']: print(r['tier'], r['dtype'], r['seq'], r['causal'], r.get('tile'))
"
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
