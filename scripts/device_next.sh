#!/bin/bash
# Open GPU checks after the fifth session of 2026-11-26 (BENCHMARKS.md), one call on a
# 1-GPU machine (about 1 minute). Everything lands in $OUT/r.tgz.
# 1. The tile search, now building every candidate before timing any: does it pick
#    (2,4,16) at head_dim 64 on an H100 (forced: 0.40 vs 0.48 ms at N=4096) and what on
#    an H200? Then the kernels table at the picked tiles against the forced shapes.
# 2. Registers of whatever it picked (examples/pipeline_stats.rs, carried in .gpu/).
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 > $R/tune.txt 2>&1
M="--no-progress --tiers matrix --dtypes f16 --causal off --reps 10 --max-seconds 3 --seqs 4096,16384 --head-dims 64,128"
RINGATTN_DUMP_WGSL=$R/wgsl .gpu/ringattn bench $M > $R/tuned.md 2>&1
for cfg in 1,8,32 2,4,16; do
  RINGATTN_MATRIX_CFG=$cfg .gpu/ringattn bench $M --head-dims 64 > $R/forced-$cfg.md 2>&1
done
[ -x .gpu/pipeline_stats ] && .gpu/pipeline_stats --adapter NVIDIA $R/wgsl/flash_matrix*.wgsl > $R/stats.txt 2>&1
cd $R && for f in *.md; do echo "$f $(grep -E '^\| matrix' $f | awk -F'|' '{print $4, $5, $7}' | tr '\n' ' ')"; done | tee summary.txt
grep -E "^best|^\| [0-9]" tune.txt | tee -a summary.txt
cd - >/dev/null; tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
