#!/bin/bash
# Twelfth session: the register-tiled subgroup kernel with UNM (full tiles in a first
# pass without mask code) and KONE (S reads one key's vec4 at a time) on one GPU: tiled
# tests and an attention subset with the tiled kernel forced (both on, the new
# defaults), then f32 at N=4096/16384 for the shuffle kernel (the tier's default) and
# the tiled kernel with UNM/KONE on/off and a few unroll factors, two rounds; SDPA's
# memory-efficient f32 kernel in the same call; register counts of the swept kernels.
source scripts/device_run.sh
results
export RINGATTN_SUBGROUP_VARIANT=tiled
run_tests tiled
T="every_head_dim causal_more_queries_than_keys causal_fewer_queries_than_keys large_and_small_scale key_splits_match_reference batch_of_three rising_scores_match_reference"
RINGATTN_TIER=subgroup timeout 200 .gpu/attention --test-threads 2 $T > $R/test-attention-tiled.txt 2>&1; echo "rc=$?" >> $R/test-attention-tiled.txt
unset RINGATTN_SUBGROUP_VARIANT
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --causal off"
export RINGATTN_DUMP_WGSL=$R/wgsl
for round in 1 2; do
  RINGATTN_SUBGROUP_VARIANT=shuffle $B --seqs 4096,16384 --head-dims 64,128 > $R/shuffle-$round.md 2>&1
  for v in "1 1" "1 0" "0 1" "0 0"; do
    set -- $v
    RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_TILED_UNM=$1 RINGATTN_TILED_KONE=$2 $B --seqs 4096,16384 --head-dims 64 > $R/tiled-unm$1-kone$2-$round.md 2>&1
  done
done
for o in 2,8,0 1,8,0 4,4,0 4,16,0; do
  RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_TILED_OPTS=$o $B --seqs 16384 --head-dims 64 > $R/tiled-opts$o.md 2>&1
done
RINGATTN_SUBGROUP_VARIANT=tiled $B --seqs 16384 --head-dims 32,128 > $R/tiled-d32-128.md 2>&1
RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_TILED_UNM=0 RINGATTN_TILED_KONE=0 $B --seqs 16384 --head-dims 32,128 > $R/tiled-d32-128-off.md 2>&1
RINGATTN_SUBGROUP_VARIANT=tiled .gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --causal on --seqs 16384 --head-dims 64 > $R/tiled-causal.md 2>&1
RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_TILED_UNM=0 RINGATTN_TILED_KONE=0 .gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --causal on --seqs 16384 --head-dims 64 > $R/tiled-causal-off.md 2>&1
unset RINGATTN_DUMP_WGSL
timeout 150 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 4096,16384 --head-dims 64,128 --causal both --reps 5 > $R/sdpa.txt 2>&1
.gpu/pipeline_stats --adapter NVIDIA $R/wgsl/flash_tiled*.wgsl > $R/stats.txt 2>&1
cd $R && {
  cat gpu.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=|cases" $f; done
  for f in shuffle-*.md tiled-*.md; do echo "== $f"; grep -hE "^\| subgroup" $f; done
  grep -E "efficient" sdpa.txt
  grep -hE "^/|Register" stats.txt
} > summary.txt; cat summary.txt; rm -rf wgsl; cd $OUT && tar czf r.tgz r && rm -rf r
