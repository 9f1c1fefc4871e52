#!/bin/bash
# The kernels table after the seventh session's matrix-kernel changes (2026-11-26), one
# call on a 1-GPU machine: a fresh tile search (f16 and f32), then every tier's table
# (matrix f16/f32, subgroup f32) at N = 1K..64K, D = 64/128, causal both, beside SDPA
# (flash fp16, efficient fp16/fp32) in the same call on the same card.
source scripts/device_run.sh
results
kernel_table
cd $R && { cat gpu.txt; kernel_summary; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
