#!/bin/bash
# Ninth session (2026-11-26), the final build (TREE only where the registers allow) on
# a 1-GPU machine: the attention and sparse tests, the subset with the picks forced and
# with every workgroup running its keys twice; then a fresh tile search and every tier's
# table beside SDPA in the same call (kernel_table).
source scripts/device_run.sh
results
run_tests attention sparse
pick_tests
kernel_table
kernel_summary > $R/kernel-summary.txt
cat $R/kernel-summary.txt
pack
