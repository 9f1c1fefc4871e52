#!/bin/bash
# Thirtieth session, fourth call: the portable tier's invocations per query row
# (RINGATTN_PORTABLE_SPLIT=1 / 2 / 4) at head_dims 32 / 64 / 128, f32, N=4096 / 16384,
# causal both, two rounds; then the attention tests against f64 with four invocations
# per row. One GPU.
source scripts/device_run.sh
results
B="bench --no-progress --tiers portable --dtypes f32 --reps 10 --max-seconds 3 --preheat 1 --causal both --seqs 4096,16384 --head-dims 32,64,128"
for round in 1 2; do
  for s in 1 2 4; do CASE_LIMIT=100 bench_case s$s RINGATTN_PORTABLE_SPLIT=$s; done
done
T="every_head_dim causal_more_queries_than_keys causal_fewer_queries_than_keys large_and_small_scale key_splits_match_reference batch_of_three"
RINGATTN_PORTABLE_SPLIT=4 timeout 150 .gpu/attention --test-threads 2 $T > $R/test-split4.txt 2>&1; echo "rc=$?" >> $R/test-split4.txt
cd $R && {
  cat gpu.txt
  for f in *-1.md *-2.md; do echo "== $f"; grep -E '^\| portable' $f | awk -F'|' '{print $3, $4, $5, $6, $7}'; grep -i error $f; done
  python3 -c "
import json,glob
for f in sorted(glob.glob('*-1.json')): print(f, sorted(set(r.get('tile') for r in json.load(open(f))['results'])))"
  test_lines
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
