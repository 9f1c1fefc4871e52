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
ab_env_picks k RINGATTN_MATRIX_EXPEMU 0 8 4 2
RINGATTN_MATRIX_EXPEMU=4 dump_matrix 2,4,16 64 k4
pack
