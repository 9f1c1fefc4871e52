#!/bin/bash
# Twenty-eighth session, fifth call: the heads-together order on a transposed grid
# (rev_tiles 2 dispatches (head, tile); no divisions in GRID_HEADS) against the build
# before the session (.gpu/old-ringattn) on one machine: matrix f16, head_dims 64 and
# 128, causal N = 4K/16K/64K and non-causal 16K/64K, old / new per head
# (RINGATTN_HEADS_TOGETHER=0) / new by the rule, two rounds; sparse_bench 16K head_dim
# 64. Built-in tiles. One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
S="bench --no-progress --reps 10 --max-seconds 4 --preheat 2 --tiers matrix --dtypes f16 --head-dims 64,128"
order_rounds "$S"
timeout 90 .gpu/sparse_bench --seqs 16384 --dtype f16 --densities 0.1 --head-dim 64 --block 128 > $R/s16k.md 2>&1
cd $R && tar czf m.tgz old-*.md per-*.md rule-*.md && rm old-*.md per-*.md rule-*.md
