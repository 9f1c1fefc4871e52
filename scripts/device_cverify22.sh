#!/bin/bash
# Twenty-second session: the automatic key splits with the causal stage
# (flash::key_splits_to_fill: causal launches split on to 1024 workgroups of 256, parts of
# >= 1024 keys) against no split (RINGATTN_KEY_SPLITS=1), causal, f32, B=1, H=8,
# N=1024..16384, head_dims 32/64/128, built-in tiles, two rounds (JSON: the parts in the
# tile label, keys/P).
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
.gpu/ringattn bench --no-progress --tiers subgroup --reps 20 --max-seconds 3 --seqs 16384 --head-dims 64 --dtypes f32 > /dev/null 2>&1
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 10 --max-seconds 2 --heads 8 --head-dims 32,64,128 --causal on --dtypes f32 --seqs 1024,2048,4096,8192,16384"
for round in 1 2; do
  timeout 120 $B --json $R/auto-$round.json > $R/auto-$round.md 2>&1
  RINGATTN_KEY_SPLITS=1 timeout 120 $B > $R/ks1-$round.md 2>&1
done
cd $R && { cat gpu.txt; for f in auto-*.md ks1-*.md; do echo "${f%.md} $(grep -E '^\| subgroup' $f | awk -F'|' '{print $5"/"$4"="$7}' | tr -d ' ' | tr '\n' ' ')"; done; grep -o '"tile": "[^"]*"' auto-2.json | tr '\n' ' '; } > summary.txt; cat summary.txt
