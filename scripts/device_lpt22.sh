#!/bin/bash
# Twenty-second session: causal launches with their query tiles in reverse order, the
# longest first (flash::longest_first; RINGATTN_LONGEST_FIRST=0 restores index order),
# A/B in the same call, two rounds: the subgroup tier f32 (N=1024..16384, with the
# small-grid key splits) and the matrix tier f16 (N=4096..65536), head_dims 64 and 128,
# built-in tiles (RINGATTN_TUNE=0); SDPA (efficient f32, flash f16) causal at the same
# shapes; then the GPU tests unless NO_TESTS=1.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
G=".gpu/ringattn bench --no-progress --reps 10 --max-seconds 2 --heads 8 --head-dims 64,128 --causal on"
.gpu/ringattn bench --no-progress --tiers subgroup --reps 20 --max-seconds 3 --seqs 16384 --head-dims 64 --dtypes f32 > /dev/null 2>&1
for round in 1 2; do
  for lf in 1 0; do
    RINGATTN_LONGEST_FIRST=$lf timeout 120 $G --tiers subgroup --dtypes f32 --seqs 1024,2048,4096,16384 > $R/sg-lf$lf-$round.md 2>&1
    RINGATTN_LONGEST_FIRST=$lf timeout 120 $G --tiers matrix --dtypes f16 --seqs 4096,16384,65536 > $R/mx-lf$lf-$round.md 2>&1
  done
done
if [ -z "$NO_SDPA" ]; then
  P="python3 benches/python/sdpa_baseline.py --reps 10 --heads 8 --head-dims 64,128 --causal on"
  timeout 100 $P --backends efficient --dtypes f32 --seqs 1024,2048,4096,16384 > $R/sdpa-eff.txt 2>&1
  timeout 100 $P --backends flash --dtypes f16 --seqs 4096,16384,65536 > $R/sdpa-flash.txt 2>&1
fi
[ -z "$NO_TESTS" ] && TEST_LIMIT=${TEST_LIMIT:-420} run_tests ${TESTS:-attention}
cd $R && {
  cat gpu.txt
  for f in sg-*.md mx-*.md; do echo "${f%.md} $(grep -E '^\| (subgroup|matrix)' $f | awk -F'|' '{print $5"/"$4"="$7}' | tr -d ' ' | tr '\n' ' ') $(grep -ciE 'error' $f)"; done
  grep -hE "efficient|flash" sdpa-*.txt
  test_lines 2>/dev/null
} > summary.txt; cat summary.txt
cd $OUT && tar czf r${TAG}.tgz r && rm -rf r
