#!/bin/bash
# Tenth session: the register-tiled subgroup kernel with KQ key quads per lane (8 x 8
# score blocks) on one GPU. The tiled and attention tests with the tiled kernel forced,
# the shape sweep of scripts/device_tiled.sh over scripts/tiled_runs10.txt (f32,
# N=16384) against the shuffle kernel, SDPA's memory-efficient f32 kernel at the same
# shapes, and the driver's statistics of the swept kernels (NOATT=1 skips the attention
# tests, NOSDPA=1 the SDPA baseline). All in $OUT/r.tgz.
source scripts/device_run.sh
results
export RINGATTN_SUBGROUP_VARIANT=tiled
run_tests tiled
T="every_head_dim causal_more_queries_than_keys causal_fewer_queries_than_keys large_and_small_scale key_splits_match_reference batch_of_three"
[ -n "$NOATT" ] || RINGATTN_TIER=subgroup timeout 200 .gpu/attention --test-threads 2 $T > $R/test-attention-tiled.txt 2>&1; echo "rc=$?" >> $R/test-attention-tiled.txt
unset RINGATTN_SUBGROUP_VARIANT
[ -n "$NOSDPA" ] || timeout 200 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims 32,64,128 --causal off --reps 5 > $R/sdpa.txt 2>&1
export RINGATTN_DUMP_WGSL=$R/wgsl

NOPACK=1 RUNS=scripts/tiled_runs10.txt bash scripts/device_tiled.sh
unset RINGATTN_DUMP_WGSL
.gpu/pipeline_stats --adapter NVIDIA $R/wgsl/flash_*.wgsl > $R/stats.txt 2>&1
cd $R && {
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=|cases" $f; done
  grep -E "efficient" sdpa.txt
  grep -hE "^/|Register" stats.txt
} >> summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
