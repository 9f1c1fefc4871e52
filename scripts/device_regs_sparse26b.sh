#!/bin/bash
# Twenty-sixth session, second call: sparse_bench at N=16384, head_dim 64, f16, with a
# preheat and a reheat before each case (the first call's 64-token runs read 3-5x slow
# after the tests), 64- and 128-token blocks: the register kernel with its pick
# ((1,4,32) / (1,8,64)), with a forced (2,2,32) / (2,4,32), and flash_matrix.wgsl
# (RINGATTN_MATRIX_REGS=0, the path block masks took before). Built-in tiles
# (RINGATTN_TUNE=0: no searches on the fresh machine). One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
SB=".gpu/sparse_bench --seqs 16384 --dtype f16 --head-dim 64 --densities 0.25,0.1"
timeout 60 $SB --block 64 --check > $R/b64.md 2>&1
RINGATTN_MATRIX_CFG=2,2,32 timeout 60 $SB --block 64 > $R/b64-2x2x32.md 2>&1
RINGATTN_MATRIX_REGS=0 timeout 60 $SB --block 64 > $R/b64-noregs.md 2>&1
timeout 60 $SB --block 128 > $R/b128.md 2>&1
RINGATTN_MATRIX_CFG=2,4,32 timeout 60 $SB --block 128 > $R/b128-2x4x32.md 2>&1
RINGATTN_MATRIX_REGS=0 timeout 60 $SB --block 128 > $R/b128-noregs.md 2>&1
