#!/bin/bash
# Eleventh session, final build (register kernel the default at head_dim <= 64, small
# grids on flash_matrix): attention (incl. register_kernel_matches_reference) and
# sparse tests; matrix f16 at head_dim 64 and 128, N = 1K..64K, causal both, with a
# fresh tile search, and SDPA flash at the same shapes in the same call.
source scripts/device_run.sh
results
run_tests attention sparse
RINGATTN_DEBUG=1 timeout 200 .gpu/attention --test-threads 1 register_kernel --nocapture > $R/test-regs-verbose.txt 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16 > $R/tune.txt 2>&1
S="--seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both --reps 5 --max-seconds 3"
.gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 $S --json $R/bench.json > $R/bench.md 2>&1
timeout 200 python3 benches/python/sdpa_baseline.py --backends flash --dtypes f16 $S --json $R/sdpa.json > $R/sdpa.txt 2>&1
cd $R && {
  cat gpu.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=|error|cases|skipped|probe" $f | head -30; done
  grep -E "^best|regs" tune.txt; grep -hE "^\| matrix" bench.md; grep -E "flash" sdpa.txt
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
