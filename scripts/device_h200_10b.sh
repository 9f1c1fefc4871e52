#!/bin/bash
# Tenth session: the f16 matrix table on whatever 1-GPU card a call for an H200 gets
# (the H200's tiles were last searched in the fourth session): the attention and sparse
# tests, a fresh f16 tile search, the matrix f16 table at N = 1K..64K beside SDPA flash
# in the same call. $OUT/r.tgz.
source scripts/device_run.sh
results
run_tests attention sparse
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16 > $R/tune.txt 2>&1
S="--seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both --reps 5 --max-seconds 3"
.gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 $S --json $R/bench.json > $R/bench.md 2>&1
timeout 240 python3 benches/python/sdpa_baseline.py --backends flash --dtypes f16 $S --json $R/sdpa.json > $R/sdpa.txt 2>&1
grep -E "^best" $R/tune.txt; grep -E "flash" $R/sdpa.txt
pack
