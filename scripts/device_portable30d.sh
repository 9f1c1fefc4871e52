#!/bin/bash
# Thirtieth session, sixth call: the final build's portable tier (rows over two
# invocations at head_dims 64-128, tiles in up to 24 KiB: 16-key tiles at 80-128) at
# N = 1K..16K, head_dims 64/128, causal both, beside SDPA math in the same call (the
# current kernel table's portable rows), and head_dims 80/96 at N=16384; then the
# attention and mask tests against f64 on the H200 (every tier). One GPU.
source scripts/device_run.sh
results
B="bench --no-progress --tiers portable --dtypes f32 --seqs 1024,4096,16384 --head-dims 64,128 --causal both --reps 10 --max-seconds 2 --preheat 1"
timeout 60 .gpu/ringattn $B --json $R/portable.json > $R/portable.md 2>&1
timeout 60 python3 benches/python/sdpa_baseline.py --backends math --dtypes f32 --reps 10 --seqs 1024,4096,16384 --head-dims 64,128 --causal both --json $R/sdpa-math.json > $R/sdpa-math.txt 2>&1
timeout 60 .gpu/ringattn bench --no-progress --tiers portable --dtypes f32 --reps 10 --max-seconds 2 --preheat 1 --causal off --seqs 16384 --head-dims 80,96 --json $R/portable-d.json > $R/portable-d.md 2>&1
T="every_head_dim causal_more_queries_than_keys causal_fewer_queries_than_keys large_and_small_scale key_splits_match_reference batch_of_three random_shapes"
timeout 150 .gpu/attention --test-threads 2 $T > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
timeout 100 .gpu/sparse --test-threads 2 masked_attention_matches_reference fully_masked_rows_are_zero > $R/test-sparse.txt 2>&1; echo "rc=$?" >> $R/test-sparse.txt
cd $R && {
  cat gpu.txt
  for f in portable.md portable-d.md; do echo "== $f"; grep -E '^\| portable' $f | awk -F'|' '{print $3, $4, $5, $6, $7}'; grep -i error $f; done
  python3 -c "
import json
for f in ['portable.json','portable-d.json']: print(f, sorted(set(r.get('tile') for r in json.load(open(f))['results'])))"
  grep -E "math" sdpa-math.txt | head -20
  test_lines
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
