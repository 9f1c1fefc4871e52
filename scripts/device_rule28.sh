#!/bin/bash
# Twenty-eighth session, fourth call: the heads-together rule (flash::heads_together,
# HEADS_TOGETHER_BYTES = 64 MiB of K/V). Causal kernel table, matrix f16 (N = 1K..64K,
# head_dims 64/128) and subgroup f32 (4K, 16K): default (the rule) against
# RINGATTN_HEADS_TOGETHER=0 (per head, the order before) and =1, two rounds of the first
# two. Random masks at N=65536 (order off by the rule) against RINGATTN_HEADS_TOGETHER=1
# (rows longest first). Built-in tiles. One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
S="bench --no-progress --reps 10 --max-seconds 4 --preheat 2 --causal on"
M="--tiers matrix --dtypes f16 --seqs 1024,4096,16384,65536 --head-dims 64,128"
G="--tiers subgroup --dtypes f32 --seqs 4096,16384 --head-dims 64,128"
for r in a b; do
  timeout 120 .gpu/ringattn $S $M > $R/m-rule-$r.md 2>&1
  RINGATTN_HEADS_TOGETHER=0 timeout 120 .gpu/ringattn $S $M > $R/m-per-$r.md 2>&1
  timeout 120 .gpu/ringattn $S $G > $R/g-rule-$r.md 2>&1
  RINGATTN_HEADS_TOGETHER=0 timeout 120 .gpu/ringattn $S $G > $R/g-per-$r.md 2>&1
done
RINGATTN_HEADS_TOGETHER=1 timeout 120 .gpu/ringattn $S $M > $R/m-tog.md 2>&1
SB=".gpu/sparse_bench --seqs 65536 --dtype f16 --densities 0.1,0.05 --head-dim 64 --block 128 --window 8192"
timeout 150 $SB > $R/s64k.md 2>&1
RINGATTN_HEADS_TOGETHER=1 timeout 150 $SB > $R/s64k-tog.md 2>&1
cd $R && tar czf m.tgz m-*.md g-*.md && rm m-*.md g-*.md
