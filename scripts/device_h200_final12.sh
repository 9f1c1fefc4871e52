#!/bin/bash
# Twelfth session's last build on one GPU (meant for an H200): the attention, sparse
# and tiled suites, a fresh search, matrix f16 at head_dim 64 / 128 and N = 4K / 16K,
# causal both, with SDPA flash in the same call.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16 > $R/tune.txt 2>&1
run_tests attention sparse tiled
S="--seqs 4096,16384 --head-dims 64,128 --causal both --reps 5 --max-seconds 3"
.gpu/ringattn bench --no-progress --preheat 2 --tiers matrix --dtypes f16 $S > $R/bench.md 2>&1
timeout 120 python3 benches/python/sdpa_baseline.py --backends flash --dtypes f16 $S > $R/sdpa.txt 2>&1
cd $R && {
  cat gpu.txt; grep -E "^best" tune.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=" $f | head; done
  grep -hE "^\| matrix" bench.md; grep -E "flash" sdpa.txt
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
