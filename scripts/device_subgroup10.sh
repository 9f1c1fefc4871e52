#!/bin/bash
# Tenth session, final build, one GPU: the subgroup tier's two kernels (shuffle, the
# default; tiled, RINGATTN_SUBGROUP_VARIANT=tiled) at N=4096/16384, D=64/128, f32 and f16,
# non-causal, two rounds, SDPA's memory-efficient kernel at the same shapes in the same
# call, and the tests with the tiled kernel forced (attention subset, tiled). $OUT/r.tgz.
source scripts/device_run.sh
results
run_tests tiled
T="every_head_dim causal_more_queries_than_keys causal_fewer_queries_than_keys large_and_small_scale key_splits_match_reference batch_of_three rising_scores_match_reference"
RINGATTN_SUBGROUP_VARIANT=tiled timeout 200 .gpu/attention --test-threads 2 $T > $R/test-attention-tiled.txt 2>&1; echo "rc=$?" >> $R/test-attention-tiled.txt
B="--no-progress --tiers subgroup --dtypes f32,f16 --seqs 4096,16384 --head-dims 64,128 --causal off --reps 5 --max-seconds 3"
for round in 1 2; do
  for v in shuffle tiled; do
    RINGATTN_SUBGROUP_VARIANT=$v .gpu/ringattn bench $B > $R/$v-$round.md 2>&1
  done
done
timeout 240 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32,f16 --seqs 4096,16384 --head-dims 64,128 --causal off --reps 5 > $R/sdpa.txt 2>&1
cd $R && {
  cat gpu.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=" $f; done
  for f in shuffle-*.md tiled-*.md; do echo "== $f"; grep -E "^\| subgroup" $f; done
  grep -E "efficient" sdpa.txt
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
