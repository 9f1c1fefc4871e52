#!/bin/bash
# Twenty-seventh session, fourth call: register sparse tiles capped at 128 rows. The
# masked tests; sparse_bench at N=16384, f16 (random 0.25 and 0.1, every block, causal,
# causal window 4096): head_dim 64 at 32/64/128-token blocks (built-in tiles; 128 also
# with RINGATTN_TALL_ROWS=0); head_dim 128 at 64/128 tuned (fresh search, cache in $R) and
# with the register kernel (RINGATTN_MATRIX_REGS=1, built-in tiles); the one-device ring
# suite at 16K, tuned, checked. One GPU.
source scripts/device_run.sh
results
RINGATTN_TUNE=0 run_filtered sparse 240 masked_attention_matches_reference fully_masked_rows_are_zero merged_mask_rows
SB=".gpu/sparse_bench --seqs 16384 --dtype f16 --densities 0.25,0.1"
for b in 32 64 128; do
  RINGATTN_TUNE=0 timeout 60 $SB --head-dim 64 --block $b > $R/d64-b$b.md 2>&1
done
RINGATTN_TUNE=0 RINGATTN_TALL_ROWS=0 timeout 60 $SB --head-dim 64 --block 64 > $R/d64-b64-flat.md 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
for b in 64 128; do
  timeout 120 $SB --head-dim 128 --block $b --check > $R/d128-b$b.md 2>&1
  RINGATTN_TUNE=0 RINGATTN_MATRIX_REGS=1 timeout 60 $SB --head-dim 128 --block $b --check > $R/d128-b$b-regs.md 2>&1
done
timeout 120 .gpu/ringattn bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1 --check --check-rows 4 > $R/ring-suite.md 2>&1
cd $R && test_lines > tests.txt && tar czf all.tgz *.md *.txt *.json
