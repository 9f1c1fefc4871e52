#!/bin/bash
# Twenty-seventh session, second call: which tiles under merged mask rows. sparse_bench
# at N=16384, f16, no check (random 0.1, every block as a mask, causal, causal window):
# head_dim 64 at 64/128-token blocks with the default picks (twice: the first call read
# random 0.1 at 64-token blocks 0.66 ms against 0.48) and with (2,4,32) forced (128-row
# tiles over 256-row merged rows); head_dim 128 at 64-token blocks with the flat rows and
# flash_matrix's shapes forced, then the register kernel (RINGATTN_MATRIX_REGS=1). One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
SB=".gpu/sparse_bench --seqs 16384 --dtype f16 --densities 0.1"
for b in 64 128; do
  timeout 60 $SB --head-dim 64 --block $b > $R/d64-b$b.md 2>&1
  timeout 60 $SB --head-dim 64 --block $b > $R/d64-b$b-again.md 2>&1
  RINGATTN_MATRIX_CFG=2,4,32 timeout 60 $SB --head-dim 64 --block $b > $R/d64-b$b-2432.md 2>&1
done
for c in 2,2,64 1,4,64 1,4,32 2,2,32; do
  RINGATTN_TALL_ROWS=0 RINGATTN_MATRIX_CFG=$c timeout 60 $SB --head-dim 128 --block 64 > $R/d128-b64-flat-$c.md 2>&1
done
RINGATTN_TALL_ROWS=0 RINGATTN_MATRIX_REGS=1 timeout 60 $SB --head-dim 128 --block 64 > $R/d128-b64-flat-regs.md 2>&1
RINGATTN_MATRIX_REGS=1 timeout 60 $SB --head-dim 128 --block 64 > $R/d128-b64-regs.md 2>&1
RINGATTN_MATRIX_REGS=1 timeout 60 $SB --head-dim 128 --block 128 > $R/d128-b128-regs.md 2>&1
timeout 60 $SB --head-dim 128 --block 128 > $R/d128-b128.md 2>&1
cd $R && tar czf all.tgz *.md
