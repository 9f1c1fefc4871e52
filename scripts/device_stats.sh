#!/bin/bash
# One call on a 1-GPU machine: the driver's statistics (registers, spills, memory,
# instructions) of the kernels the library compiles there, matrix and subgroup tiers at
# head_dim 64 and 128, tuner candidates included (examples/pipeline_stats.rs; carry it in
# .gpu/ next to ringattn). All in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
export RINGATTN_DUMP_WGSL=$R/wgsl
.gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --seqs 1024,4096 --head-dims 64,128 --causal off --reps 1 > $R/bench-matrix.md 2>&1
.gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --seqs 1024,4096 --head-dims 64,128 --causal off --reps 1 > $R/bench-subgroup.md 2>&1
RINGATTN_SUBGROUP_VARIANT=tiled .gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --seqs 4096 --head-dims 64,128 --causal off --reps 1 > $R/bench-tiled.md 2>&1
unset RINGATTN_DUMP_WGSL
.gpu/pipeline_stats --adapter NVIDIA $R/wgsl/*.wgsl > $R/stats.txt 2>&1
grep -E "^/|Register|register|Spill|spill|Shared|shared|Local|Instruction|Occupancy|failed|error" $R/stats.txt | head -150
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
