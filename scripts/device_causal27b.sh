#!/bin/bash
# Twenty-seventh session, eighth call: causal launches at head_dim 128 take the register
# kernel up to REGS_CAUSAL_WORK. The attention tests that run causal head_dims above 64
# through Attention, and the register kernel's own test; then causal f16 at head_dim 128
# with the default picks (fresh search), H=8, N=4K..64K. One GPU.
source scripts/device_run.sh
results
RINGATTN_TUNE=0 run_filtered attention 150 every_head_dim causal_ register_kernel single_token
RINGATTN_TUNE_CACHE=$R/tiles.json timeout 80 .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --head-dims 128 --causal on --reps 5 --max-seconds 2 --seqs 4096,16384,32768,65536 > $R/causal.md 2>&1
