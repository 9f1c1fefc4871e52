#!/bin/bash
# Last checks of the seventh session (2026-11-26), one call on a 1-GPU machine: a tile
# search with (2,8,16) among the candidates, the attention and sparse tests on the
# searched tiles (RINGATTN_TUNE_CACHE), the matrix f16 table at those tiles and SDPA
# flash in the same call.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16,f32 > $R/tune.txt 2>&1
run_tests attention sparse
S="--seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both --reps 5 --max-seconds 3"
.gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 $S --json $R/bench.json > $R/bench.md 2>&1
timeout 200 python3 benches/python/sdpa_baseline.py --backends flash --dtypes f16 $S --json $R/sdpa.json > $R/sdpa.txt 2>&1
cd $R && { cat gpu.txt; grep -E "^best|^\| [0-9]" tune.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; grep -hE "^\| matrix" bench.md; grep -E "flash" sdpa.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
