#!/bin/bash
# For the session after the twenty-second: does `--warmup-queue` (warm-up runs submitted
# in ~5 ms batches) remove the first-round outliers (BENCHMARKS.md, "The first-round
# outliers")? Every process compiles its pipelines afresh (__GL_SHADER_DISK_CACHE=0, the
# NVIDIA driver's shader disk cache off), so every run is a first round: the subgroup
# tier f32, H=8, N=1024..4096, head_dims 64/128, causal both, without and with the flag,
# alternating, three rounds; then the same with the cache on (second rounds) as the
# reference. Per-rep times in the JSON files.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 10 --max-seconds 2 --heads 8 --head-dims 64,128 --causal both --seqs 1024,2048,4096"
for round in 1 2 3; do
  for wq in off on; do
    f=""; [ $wq = on ] && f="--warmup-queue"
    __GL_SHADER_DISK_CACHE=0 timeout 120 $B $f --json $R/nocache-$wq-$round.json > $R/nocache-$wq-$round.md 2>&1
  done
done
for wq in off on; do
  f=""; [ $wq = on ] && f="--warmup-queue"
  timeout 120 $B $f > /dev/null 2>&1
  timeout 120 $B $f --json $R/cached-$wq.json > $R/cached-$wq.md 2>&1
done
cd $R && { cat gpu.txt; for f in nocache-*.md cached-*.md; do echo "${f%.md} $(grep -E '^\| subgroup' $f | awk -F'|' '{print $5"/"$4"/"$6"="$7}' | tr -d ' ' | tr '\n' ' ')"; done; } > summary.txt; cat summary.txt
