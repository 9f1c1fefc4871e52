#!/bin/bash
# Thirtieth session, third call: the portable tier with each query row split over two
# invocations above head_dim 64 (R=2: q and O in half the registers, partial scores
# summed through workgroup memory). f32, N=4096 / 16384, head_dims 64 / 128, causal both,
# two rounds: the build before (ringattn-old), this build (R=2 at 128, R=1 at 64) and
# this build with RINGATTN_PORTABLE_SPLIT=1 / 2 forced; then head_dims 80 / 96; then the
# attention and mask tests against f64 on the H200 (every tier, the portable one
# included). One GPU.
source scripts/device_run.sh
results
B="bench --no-progress --tiers portable --dtypes f32 --reps 10 --max-seconds 3 --preheat 1 --causal both --seqs 4096,16384 --head-dims 64,128"
for round in 1 2; do
  timeout 80 .gpu/ringattn-old $B --json $R/old-$round.json > $R/old-$round.md 2>&1
  timeout 80 .gpu/ringattn $B --json $R/new-$round.json > $R/new-$round.md 2>&1
  RINGATTN_PORTABLE_SPLIT=1 timeout 80 .gpu/ringattn $B --json $R/s1-$round.json > $R/s1-$round.md 2>&1
  RINGATTN_PORTABLE_SPLIT=2 timeout 80 .gpu/ringattn $B --json $R/s2-$round.json > $R/s2-$round.md 2>&1
done
D="bench --no-progress --tiers portable --dtypes f32,f16 --reps 10 --max-seconds 3 --preheat 1 --causal off --seqs 16384 --head-dims 80,96"
timeout 60 .gpu/ringattn-old $D > $R/old-d.md 2>&1
timeout 60 .gpu/ringattn $D > $R/new-d.md 2>&1
T="every_head_dim causal_more_queries_than_keys causal_fewer_queries_than_keys large_and_small_scale key_splits_match_reference batch_of_three"
timeout 150 .gpu/attention --test-threads 2 $T > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
timeout 100 .gpu/sparse --test-threads 2 masked_attention_matches_reference fully_masked_rows_are_zero > $R/test-sparse.txt 2>&1; echo "rc=$?" >> $R/test-sparse.txt
cd $R && {
  cat gpu.txt
  for f in *-1.md *-2.md *-d.md; do echo "== $f"; grep -E '^\| portable' $f | awk -F'|' '{print $3, $4, $5, $6, $7}'; grep -i error $f; done
  test_lines
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
