#!/bin/bash
# Tenth session: the f16 matrix kernel built from SPIR-V with every loop marked
# DontUnroll (RINGATTN_ROLLED_LOOPS=flash_matrix, through wgpu's SPIR-V passthrough)
# against the usual build (the driver unrolls the tile loop 8x): A/B at the H100's
# picks, two rounds; the driver's code of the rolled build (dump for
# scripts/sass_from_cache.py); attention tests with it.
source scripts/device_run.sh
results
ab_env_picks rolled RINGATTN_ROLLED_LOOPS '' flash_matrix
RINGATTN_ROLLED_LOOPS=flash_matrix dump_matrix 2,4,16 64 rolled
RINGATTN_ROLLED_LOOPS=flash_matrix timeout 200 .gpu/attention --test-threads 2 every_head_dim rising_scores_match_reference causal_more_queries_than_keys > $R/test-rolled.txt 2>&1; echo "rc=$?" >> $R/test-rolled.txt
pack
