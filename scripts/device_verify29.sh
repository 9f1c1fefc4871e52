#!/bin/bash
# Twenty-ninth session, third call (the second ran past its 600 s with the whole test
# binaries and lost its subgroup tables and tests): the same build. One GPU.
# 1. subgroup f32 at built-in tiles, N = 1K..64K, head_dims 64/128, causal both, in the
#    fresh machine's first process (with the per-case reheat);
# 2. the attention tests that run the matrix tier at head_dim 128 (the new built-in
#    (2,8,16)) and the random-shape property tests, against f64.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
B="bench --no-progress --reps 10 --max-seconds 3 --preheat 2 --seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both"
timeout 90 .gpu/ringattn $B --tiers subgroup --dtypes f32 --json $R/subgroup.json > $R/subgroup.md 2>&1
T="every_head_dim single_token causal_more_queries_than_keys causal_fewer_queries_than_keys batch_of_three large_and_small_scale random_shapes key_splits_match_reference rising_scores_match_reference shape_aware_tiles"
timeout 200 .gpu/attention --test-threads 2 $T > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
(cd $R && test_lines) > $R/tests.txt
cd $OUT && tar czf r.tgz r && rm -rf r
