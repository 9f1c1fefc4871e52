#!/bin/bash
# Twenty-eighth session, third call: causal launches in reverse order with each tile's
# heads together (GRID_HEADS: rank x + tiles * y, heads inner), against the build
# before (.gpu/old-ringattn: reverse order per head, heads outer). The kernel table's
# causal cases, matrix f16 (N = 1K..64K, head_dims 64/128) and subgroup f32 (4K, 16K),
# old / new / old / new, built-in tiles; non-causal 16K/64K once each as the reference.
# sparse_bench at head_dim 128, 128-token blocks (random 0.25 read 2.22 ms against 1.45
# last call), twice. The attention tests' causal cases. One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
run_filtered attention 300 causal
S="bench --no-progress --reps 10 --max-seconds 4 --preheat 2"
M="--tiers matrix --dtypes f16 --seqs 1024,4096,16384,65536 --head-dims 64,128"
G="--tiers subgroup --dtypes f32 --seqs 4096,16384 --head-dims 64,128"
for r in a b; do
  timeout 120 .gpu/old-ringattn $S $M --causal on > $R/m-old-$r.md 2>&1
  timeout 120 .gpu/ringattn $S $M --causal on > $R/m-new-$r.md 2>&1
done
timeout 120 .gpu/ringattn $S $M --causal off > $R/m-noncausal.md 2>&1
timeout 120 .gpu/old-ringattn $S $G --causal on > $R/g-old.md 2>&1
timeout 120 .gpu/ringattn $S $G --causal on > $R/g-new.md 2>&1
SB=".gpu/sparse_bench --seqs 16384 --dtype f16 --densities 0.25,0.1,0.05 --even-rows --head-dim 128 --block 128"
for r in a b; do timeout 90 $SB > $R/d128-b128-$r.md 2>&1; done
cd $R && test_lines > tests.txt && tar czf tests.tgz test-*.txt && rm test-*.txt
