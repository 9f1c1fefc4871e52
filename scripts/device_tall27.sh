#!/bin/bash
# Twenty-seventh session: merged mask rows (BlockMask::tall_factor; query tiles taller
# than a mask block). The masked tests (the register kernel at head_dim 64 reads merged
# rows now), the presets on the one-device ring, then sparse_bench at N=16384 with merged
# rows and with RINGATTN_TALL_ROWS=0 (the tiles before), f16, head_dims 64 (register
# kernel) and 128 (flash_matrix). One GPU.
source scripts/device_run.sh
sparse_start
SB=".gpu/sparse_bench --seqs 16384 --dtype f16 --densities 0.1"
for b in 64 128; do
  timeout 60 $SB --head-dim 64 --block $b --check > $R/d64-b$b.md 2>&1
  RINGATTN_TALL_ROWS=0 timeout 60 $SB --head-dim 64 --block $b > $R/d64-b$b-flat.md 2>&1
done
timeout 60 $SB --head-dim 64 --block 64 --window 1024 > $R/d64-b64-w1024.md 2>&1
RINGATTN_TALL_ROWS=0 timeout 60 $SB --head-dim 64 --block 64 --window 1024 > $R/d64-b64-w1024-flat.md 2>&1
timeout 60 $SB --head-dim 128 --block 64 --check > $R/d128-b64.md 2>&1
RINGATTN_TALL_ROWS=0 timeout 60 $SB --head-dim 128 --block 64 > $R/d128-b64-flat.md 2>&1
S="bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1"
timeout 90 .gpu/ringattn $S --check --check-rows 4 > $R/ring-suite.md 2>&1
RINGATTN_TALL_ROWS=0 timeout 90 .gpu/ringattn $S > $R/ring-suite-flat.md 2>&1
cd $R && test_lines > tests.txt
