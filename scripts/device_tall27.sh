#!/bin/bash
# Twenty-seventh session: merged mask rows (BlockMask::tall_factor; query tiles taller
# than a mask block). The masked tests (the register kernel at head_dim 64 reads merged
# rows now), the presets on the one-device ring, then sparse_bench at N=16384 with merged
# rows and with RINGATTN_TALL_ROWS=0 (the tiles before), f16, head_dims 64 (register
# kernel) and 128 (flash_matrix). One GPU.
source scripts/device_run.sh
sparse_start
SB=".gpu/sparse_bench --seqs 16384 --dtype f16 --densities 0.1"
FLAT=RINGATTN_TALL_ROWS=0
for b in 64 128; do
  AB_A=--check AB_LIMIT=60 ab d64-b$b flat $FLAT $SB --head-dim 64 --block $b
done
AB_LIMIT=60 ab d64-b64-w1024 flat $FLAT $SB --head-dim 64 --block 64 --window 1024
AB_A=--check AB_LIMIT=60 ab d128-b64 flat $FLAT $SB --head-dim 128 --block 64
AB_A="--check --check-rows 4" ab ring-suite flat $FLAT .gpu/ringattn bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1
cd $R && test_lines > tests.txt
