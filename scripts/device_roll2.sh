#!/bin/bash
# One call on a 1-GPU machine: rolled 16-key-block loops (RINGATTN_MATRIX_ROLL=1) with
# 128-invocation workgroups, where fewer registers could fit a third workgroup per SM:
# (1,4,32) rolled and unrolled against the built-in (1,8,32); registers and GPU time.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
export RINGATTN_TUNE=0
M="--no-progress --tiers matrix --dtypes f16 --causal off --reps 10 --max-seconds 3 --seqs 4096,16384 --head-dims 64,128"
.gpu/ringattn bench $M > $R/default.md 2>&1
for cfg in 1,4,32 1,2,32; do
  for roll in 0 1; do
    RINGATTN_MATRIX_ROLL=$roll RINGATTN_MATRIX_CFG=$cfg RINGATTN_DUMP_WGSL=$R/wgsl-$cfg-$roll .gpu/ringattn bench $M > $R/m-$cfg-roll$roll.md 2>&1
    .gpu/pipeline_stats --adapter NVIDIA $R/wgsl-$cfg-$roll/flash_matrix*.wgsl > $R/stats-$cfg-roll$roll.txt 2>&1
  done
done
cd $R && for f in *.md; do echo "$f $(grep -E '^\| matrix' $f | awk -F'|' '{print $4, $5, $7}' | tr '\n' ' ')"; done | tee summary.txt
for f in stats-*.txt; do echo "$f $(grep -E 'Register' $f | tr -s ' ' | tr '\n' ' ')"; done | tee -a summary.txt
cd - >/dev/null; tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
