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
tiers_beside_sdpa
[ -z "$NO_TESTS" ] && TEST_LIMIT=${TEST_LIMIT:-240} run_tests attention
cd $R && {
  cat gpu.txt
  test_lines; grep -h "split cases" test-*.txt
  grep -hE "^\| (subgroup|matrix)" subgroup.md matrix.md
  grep -hE "efficient|flash" sdpa-*.txt
} > summary.txt; cat summary.txt
