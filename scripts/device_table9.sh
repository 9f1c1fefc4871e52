#!/bin/bash
# Ninth session (2026-11-26), final build (MREF) on a 1-GPU machine (its tests ran in
# scripts/device_check9.sh): a fresh tile search and every tier's table beside SDPA in
# the same call (kernel_table).
source scripts/device_run.sh
results
kernel_table
pack
