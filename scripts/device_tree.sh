#!/bin/bash
# Ninth session (2026-11-26), experiments on the f16 matrix kernel after the two-phase
# softmax: four partial max/sum chains (RINGATTN_MATRIX_TREE=1) and the Q fragments read
# from workgroup memory at each use (RINGATTN_MATRIX_QSMEM=1: 32 registers fewer, for
# a third workgroup per SM), each alone and together, two rounds at the H100's picks;
# their register counts; and a fresh tile search of the new kernel.
# (RINGATTN_MATRIX_TREE and RINGATTN_MATRIX_QSMEM were switches of that build only: TREE
# now goes with the pipelined loop, QSMEM was dropped.)
source scripts/device_run.sh
results
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  for v in base tree qsmem both; do
    T=0; Q=0
    case $v in tree) T=1;; qsmem) Q=1;; both) T=1; Q=1;; esac
    RINGATTN_MATRIX_TREE=$T RINGATTN_MATRIX_QSMEM=$Q RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/$v-64-$round.md 2>&1
    if [ $Q = 0 ]; then
      RINGATTN_MATRIX_TREE=$T RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/$v-128-$round.md 2>&1
    fi
  done
done
for v in base qsmem; do
  Q=0; [ $v = qsmem ] && Q=1
  RINGATTN_MATRIX_QSMEM=$Q RINGATTN_DUMP_WGSL=$R/wgsl-$v RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --causal off --reps 1 --seqs 1024 --head-dims 64 > /dev/null 2>&1
  .gpu/pipeline_stats --adapter NVIDIA $R/wgsl-$v/flash_matrix*.wgsl > $R/stats-$v.txt 2>&1
done
export RINGATTN_TUNE_CACHE=$R/tiles.json
timeout 200 .gpu/ringattn tune --head-dims 64,128 --dtypes f16 > $R/tune.txt 2>&1
pack
