#!/bin/bash
# Twenty-seventh session, seventh call: causal f16 at head_dim 128 on the register kernel
# (RINGATTN_MATRIX_REGS=1, its own fresh search) against flash_matrix (tuned, fresh
# search), B=1 H=8 at N=2K..64K and B=1 H=32 at N=4K..16K (other grids), two rounds.
# One GPU.
source scripts/device_run.sh
results
S="bench --no-progress --tiers matrix --dtypes f16 --head-dims 128 --causal on --reps 5 --max-seconds 2"
for round in 1 2; do
  RINGATTN_TUNE_CACHE=$R/tiles.json timeout 100 .gpu/ringattn $S --seqs 2048,4096,8192,16384,32768,65536 > $R/fm-$round.md 2>&1
  RINGATTN_MATRIX_REGS=1 RINGATTN_TUNE_CACHE=$R/tiles-regs.json timeout 100 .gpu/ringattn $S --seqs 2048,4096,8192,16384,32768,65536 > $R/regs-$round.md 2>&1
done
RINGATTN_TUNE_CACHE=$R/tiles.json timeout 60 .gpu/ringattn $S --heads 32 --seqs 4096,8192,16384 > $R/fm-h32.md 2>&1
RINGATTN_MATRIX_REGS=1 RINGATTN_TUNE_CACHE=$R/tiles-regs.json timeout 60 .gpu/ringattn $S --heads 32 --seqs 4096,8192,16384 > $R/regs-h32.md 2>&1
