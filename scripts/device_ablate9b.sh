#!/bin/bash
# Ninth session (2026-11-26): what a rescale-free f16 loop could gain (timing only: the
# patched kernels give wrong results). bar1 replaces the workgroupUniformLoad of the
# rescale flag (two barriers) by one workgroupBarrier and a uniform false (the barrier
# a loop without the flag would still need between the P stores and the P fragments);
# noflag drops it entirely, as in device_ablate9.sh. Two rounds at the H100's picks,
# and (2,8,16) at head_dim 128 with the pipelined loop forced on.
source scripts/device_run.sh
results
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
BAR1='if workgroupUniformLoad(&rescale_flag)[0] != 0u {=>workgroupBarrier(); if p.causal == 7u {'
NOFLAG='if workgroupUniformLoad(&rescale_flag)[0] != 0u {=>if p.causal == 7u {'
for round in 1 2; do
  for v in base bar1 noflag; do
    case $v in base) P='';; bar1) P="$BAR1";; noflag) P="$NOFLAG";; esac
    RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/$v-64-$round.md 2>&1
    RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/$v-128-$round.md 2>&1
    RINGATTN_MATRIX_PIPE=1 RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/$v-pipe-128-$round.md 2>&1
  done
done
pack
