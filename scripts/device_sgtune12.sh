#!/bin/bash
# Twelfth session, final build: the subgroup tier's kernel search (shuffle vs tiled,
# `ringattn tune`) and the matrix tile search on a fresh cache; the attention, tiled and
# sparse suites; the subgroup tier as the library now picks it (f32 and f16, N=4096 /
# 16384, head_dim 64 / 128) against the shuffle kernel forced, two rounds; SDPA's
# memory-efficient kernel in the same call.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f32,f16 > $R/tune.txt 2>&1
run_tests attention sparse tiled
timeout 100 .gpu/attention subgroup_search --nocapture > $R/test-search-verbose.txt 2>&1
S="--no-progress --tiers subgroup --dtypes f32,f16 --seqs 4096,16384 --head-dims 64,128 --causal off --reps 5 --max-seconds 2"
for round in 1 2; do
  .gpu/ringattn bench $S > $R/picked-$round.md 2>&1
  RINGATTN_SUBGROUP_VARIANT=shuffle .gpu/ringattn bench $S > $R/shuffle-$round.md 2>&1
done
.gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --seqs 1024,16384 --head-dims 64 --causal both --reps 5 --max-seconds 2 > $R/picked-causal.md 2>&1
timeout 150 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32,f16 --seqs 4096,16384 --head-dims 64,128 --causal off --reps 5 > $R/sdpa.txt 2>&1
cd $R && {
  cat gpu.txt tune.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=|cases|->" $f | head -20; done
  for f in picked-* shuffle-*; do echo "== $f"; grep -hE "^\| subgroup" $f; done
  grep -E "efficient" sdpa.txt
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
