#!/bin/bash
# Twenty-seventh session, third call: the register kernel's sparse loop runs tiles that
# need no mask without one (two phases per span, as its dense loop); flash_matrix's
# sparse pick ranks shapes by sparse_rank. The masked tests, the presets on the
# one-device ring, then sparse_bench at N=16384, f16 (random 0.1, every block as a mask,
# causal, causal window): head_dim 64 at 64/128-token blocks with the default picks,
# (2,4,32) forced and RINGATTN_TALL_ROWS=0; head_dim 128 at 64/128 (built-in tiles, then
# tuned: fresh search, cache in $R). One GPU.
source scripts/device_run.sh
sparse_start
SB=".gpu/sparse_bench --seqs 16384 --dtype f16 --densities 0.1"
for b in 64 128; do
  timeout 60 $SB --head-dim 64 --block $b --check > $R/d64-b$b.md 2>&1
  RINGATTN_MATRIX_CFG=2,4,32 timeout 60 $SB --head-dim 64 --block $b > $R/d64-b$b-2432.md 2>&1
  RINGATTN_TALL_ROWS=0 timeout 60 $SB --head-dim 64 --block $b > $R/d64-b$b-flat.md 2>&1
  timeout 60 $SB --head-dim 128 --block $b --check > $R/d128-b$b.md 2>&1
done
env -u RINGATTN_TUNE RINGATTN_TUNE_CACHE=$R/tiles.json timeout 120 $SB --head-dim 128 --block 64 > $R/d128-b64-tuned.md 2>&1
timeout 90 .gpu/ringattn bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1 --check --check-rows 4 > $R/ring-suite.md 2>&1
cd $R && test_lines > tests.txt && tar czf all.tgz *.md *.txt *.json
