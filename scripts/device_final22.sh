#!/bin/bash
# Twenty-second session, final build (the subgroup tier's automatic key splits on small
# grids; causal launches with their longest query tiles first; the tiled kernel's name
# clash fixed): the tiers as picked (fresh searches at first use, cache in $R/tiles.json):
# subgroup f32 N=1024/4096/16384 at head_dims 32/64/128, causal both; matrix f16
# N=1024..65536 at 64/128, causal both; SDPA (efficient f32, flash f16) at the same shapes
# in the same call; then the attention suite unless NO_TESTS=1. Results stay as files
# under $OUT/r (what a cut call leaves still comes back).
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
S="--no-progress --reps 5 --max-seconds 2 --causal both"
timeout 150 .gpu/ringattn bench $S --tiers subgroup --dtypes f32 --seqs 1024,4096,16384 --head-dims 32,64,128 --json $R/subgroup.json > $R/subgroup.md 2>&1
timeout 150 .gpu/ringattn bench $S --tiers matrix --dtypes f16 --seqs 1024,4096,16384,65536 --head-dims 64,128 --json $R/matrix.json > $R/matrix.md 2>&1
P="python3 benches/python/sdpa_baseline.py --reps 5 --causal both"
timeout 100 $P --backends efficient --dtypes f32 --seqs 1024,4096,16384 --head-dims 32,64,128 > $R/sdpa-eff.txt 2>&1
timeout 100 $P --backends flash --dtypes f16 --seqs 1024,4096,16384,65536 --head-dims 64,128 > $R/sdpa-flash.txt 2>&1
[ -z "$NO_TESTS" ] && TEST_LIMIT=${TEST_LIMIT:-240} run_tests attention
cd $R && {
  cat gpu.txt
  test_lines; grep -h "split cases" test-*.txt
  grep -hE "^\| (subgroup|matrix)" subgroup.md matrix.md
  grep -hE "efficient|flash" sdpa-*.txt
} > summary.txt; cat summary.txt
