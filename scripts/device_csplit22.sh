#!/bin/bash
# Twenty-second session: forced key splits (RINGATTN_KEY_SPLITS=1/2/4) on causal
# subgroup launches with the longest query tiles first, f32, B=1, H=8,
# N=2048..16384, head_dims 64 and 128, built-in tiles; one round after a warm-up.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
.gpu/ringattn bench --no-progress --tiers subgroup --reps 20 --max-seconds 3 --seqs 16384 --head-dims 64 --dtypes f32 > /dev/null 2>&1
for ks in 1 2 4; do
  RINGATTN_KEY_SPLITS=$ks timeout 100 .gpu/ringattn bench --no-progress --tiers subgroup --reps 10 --max-seconds 2 --heads 8 --head-dims 64,128 --causal on --dtypes f32 --seqs 2048,4096,8192,16384 > $R/c-ks$ks.md 2>&1
done
cd $R && { cat gpu.txt; for f in c-*.md; do echo "${f%.md} $(grep -E '^\| subgroup' $f | awk -F'|' '{print $5"/"$4"="$7}' | tr -d ' ' | tr '\n' ' ')"; done; } > summary.txt; cat summary.txt
