#!/bin/bash
# Ninth session (2026-11-26): register counts and code of the final f16 kernels at the
# H100's picks ((2,4,16) at head_dim 64, (2,8,16) at 128), with and without MREF
# (pipeline_stats; the dump is for scripts/sass_from_cache.py).
source scripts/device_run.sh
results
for m in 1 0; do
  RINGATTN_MATRIX_MREF=$m dump_matrix 2,4,16 64 $m-64
  RINGATTN_MATRIX_MREF=$m dump_matrix 2,8,16 128 $m-128
done
pack
