#!/bin/bash
# Twenty-eighth session, ninth call: does the GRID_T build want the heads together past
# HEADS_TOGETHER_BYTES too? (The 64K figures behind the rule came from the first build,
# whose per-head launches ran as slow.) Causal matrix f16, head_dims 64/128, N = 32K/64K:
# default (per head above 64 MiB of K/V) against RINGATTN_HEADS_TOGETHER=1, two rounds,
# built-in tiles. One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
S="bench --no-progress --reps 10 --max-seconds 4 --preheat 2 --tiers matrix --dtypes f16 --head-dims 64,128 --causal on --seqs 32768,65536"
for r in a b; do
  timeout 80 .gpu/ringattn $S > $R/rule-$r.md 2>&1
  RINGATTN_HEADS_TOGETHER=1 timeout 80 .gpu/ringattn $S > $R/tog-$r.md 2>&1
done
