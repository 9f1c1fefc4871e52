#!/bin/bash
# Tenth session (2026-11-26), the final build on an H200 (any 1-GPU card works): the
# attention, sparse and tiled tests, a fresh tile search and every tier's table beside
# SDPA in the same call (kernel_table), and the subgroup tier's tiled kernel at N=16384
# (f32, D=64/128) beside the shuffle kernel of the table.
source scripts/device_run.sh
results
run_tests attention sparse tiled
kernel_table
RINGATTN_SUBGROUP_VARIANT=tiled .gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --seqs 16384 --head-dims 64,128 --causal off --reps 5 --max-seconds 3 > $R/tiled.md 2>&1
kernel_summary > $R/kernel-summary.txt
grep -E "^\| subgroup" $R/tiled.md >> $R/kernel-summary.txt
cat $R/kernel-summary.txt
pack
