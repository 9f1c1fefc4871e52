#!/bin/bash
# Eighth session (2026-11-26), one call meant for an H200 (any 1-GPU card works): the
# attention and sparse tests on the final build (wide K/V loads, pipelined loop), a fresh
# tile search (f16, f32), the matrix f16 table at N = 4K..64K beside SDPA flash, and f32
# at 16K beside SDPA efficient, in the same call on the same card.
source scripts/device_run.sh
results
run_tests attention sparse
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16,f32 > $R/tune.txt 2>&1
S="--seqs 4096,16384,65536 --head-dims 64,128 --causal both --reps 5 --max-seconds 3"
.gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 $S --json $R/bench.json > $R/bench.md 2>&1
.gpu/ringattn bench --no-progress --tiers matrix --dtypes f32 --seqs 16384 --head-dims 64,128 --causal off --reps 5 --max-seconds 3 > $R/bench32.md 2>&1
timeout 200 python3 benches/python/sdpa_baseline.py --backends flash $S --dtypes f16 --json $R/sdpa.json > $R/sdpa.txt 2>&1
timeout 100 python3 benches/python/sdpa_baseline.py --backends efficient --seqs 16384 --head-dims 64,128 --causal off --dtypes f32 > $R/sdpa32.txt 2>&1
cd $R && { cat gpu.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; grep -E "^best" tune.txt; grep -hE "^\| matrix" bench.md bench32.md; grep -hE "flash|efficient" sdpa.txt sdpa32.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
