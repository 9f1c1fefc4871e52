#!/bin/bash
# Thirty-fifth session, one H200: the kernels on devices that open DMA queues (every
# Vulkan device with VK_EXT_external_memory_host now does), against the current kernel
# table's figures: matrix f16 at N=16384 head_dims 64 / 128 and subgroup f32 at N=16384
# head_dim 128, non-causal, built-in tiles; with RINGATTN_DMA_QUEUE=0 beside it.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
for v in dma off; do
  E=$([ $v = off ] && echo RINGATTN_DMA_QUEUE=0 || echo RINGATTN_X=1)
  env $E timeout 60 .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --seqs 16384 --head-dims 64,128 --causal off --reps 5 --max-seconds 3 > $R/matrix-$v.md 2>&1
  env $E timeout 60 .gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --seqs 16384 --head-dims 128 --causal off --reps 5 --max-seconds 3 > $R/subgroup-$v.md 2>&1
done
grep -H -E "^\| (matrix|subgroup)" $R/*.md
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
