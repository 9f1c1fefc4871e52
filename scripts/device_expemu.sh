#!/bin/bash
# Ninth session (2026-11-26): every k-th exponent of the f16 softmax on the FMA units
# (RINGATTN_MATRIX_EXPEMU=k: a degree-3 polynomial instead of the special-function unit,
# whose 16 exponents per lane and tile are a quarter-rate pipe on NVIDIA), k = 0 (off),
# 8, 4, 2, at the H100's picks, two rounds; the attention tests with k = 4 and 2, and the
# subset with the picks forced.
source scripts/device_run.sh
results
T="every_head_dim causal_more_queries_than_keys causal_fewer_queries_than_keys large_and_small_scale rising_scores_match_reference key_splits_match_reference batch_of_three"
for k in 4 2; do
  RINGATTN_MATRIX_EXPEMU=$k timeout 200 .gpu/attention --test-threads 2 > $R/test-expemu$k.txt 2>&1; echo "rc=$?" >> $R/test-expemu$k.txt
  for cfg in 2,4,16 2,8,16; do
    RINGATTN_MATRIX_EXPEMU=$k RINGATTN_MATRIX_CFG=$cfg timeout 200 .gpu/attention --test-threads 2 $T > $R/test-expemu$k-$cfg.txt 2>&1; echo "rc=$?" >> $R/test-expemu$k-$cfg.txt
  done
done
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  for k in 0 8 4 2; do
    RINGATTN_MATRIX_EXPEMU=$k RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/k$k-64-$round.md 2>&1
    RINGATTN_MATRIX_EXPEMU=$k RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/k$k-128-$round.md 2>&1
  done
done
RINGATTN_MATRIX_EXPEMU=4 RINGATTN_DUMP_WGSL=$R/wgsl RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --causal off --reps 1 --seqs 1024 --head-dims 64 > /dev/null 2>&1
mkdir -p $R/dump; .gpu/pipeline_stats --adapter NVIDIA --dump $R/dump $R/wgsl/flash_matrix*.wgsl > $R/stats.txt 2>&1
pack
