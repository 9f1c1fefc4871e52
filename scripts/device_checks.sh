#!/bin/bash
# One call on a 1-GPU machine: the kernels with wgpu's runtime checks (index clamping
# in shaders and loop bounding, the default of create_shader_module) against none
# (RINGATTN_CHECKS set to an empty string: create_shader_module_trusted with both off).
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
.gpu/ringattn tune --head-dims 64,128 > $R/tune.txt 2>&1
M="--no-progress --tiers matrix --dtypes f16 --causal off --reps 10 --max-seconds 3 --seqs 4096,16384 --head-dims 64,128"
S="--no-progress --tiers subgroup --dtypes f32 --causal off --reps 10 --max-seconds 3 --seqs 4096,16384 --head-dims 64,128"
for run in 1 2; do
  .gpu/ringattn bench $M > $R/matrix-checked-$run.md 2>&1
  RINGATTN_CHECKS= .gpu/ringattn bench $M > $R/matrix-unchecked-$run.md 2>&1
  .gpu/ringattn bench $S > $R/subgroup-checked-$run.md 2>&1
  RINGATTN_CHECKS= .gpu/ringattn bench $S > $R/subgroup-unchecked-$run.md 2>&1
done
cd $R && for f in *.md; do echo "$f $(grep -E '^\| (subgroup|matrix)' $f | awk -F'|' '{print $4, $5, $7}' | tr '\n' ' ')"; done | tee summary.txt
cd - >/dev/null; tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
