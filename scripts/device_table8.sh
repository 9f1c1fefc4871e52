#!/bin/bash
# The kernels table after the eighth session's pipelined f16 loop (PIPE) (2026-11-26), one
# call on a 1-GPU machine: a fresh tile search (f16 and f32), then every tier's table
# (matrix f16/f32, subgroup f32) at N = 1K..64K, D = 64/128, causal both, beside SDPA
# (flash fp16, efficient fp16/fp32) in the same call on the same card.
source scripts/device_run.sh
results
kernel_table
# The pipelined loop at (2,2,16) and (2,4,16), head_dim 64, on and off.
for pipe in 1 0; do
  for c in 2,2,16 2,4,16; do
    RINGATTN_MATRIX_PIPE=$pipe RINGATTN_MATRIX_CFG=$c .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --seqs 16384 --head-dims 64 --causal off --reps 5 --max-seconds 3 > $R/pipe$pipe-$c.md 2>&1
  done
done
cd $R && { for f in pipe*.md; do echo "== $f"; grep -E "^\| matrix" $f; done; cat gpu.txt; kernel_summary; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
