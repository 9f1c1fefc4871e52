#!/bin/bash
# Ninth session (2026-11-26): the pipelined f16 loop with MREF at two barriers per tile
# (V staged after the softmax, no end-of-tile barrier) against the build before
# (.gpu/ringattn-prev: three barriers), at the H100's picks, causal both, two rounds;
# the attention and sparse tests and the subset with the picks forced and with every
# workgroup running its keys twice (PLIM patched to -1).
source scripts/device_run.sh
results
run_tests attention sparse
T="every_head_dim causal_more_queries_than_keys causal_fewer_queries_than_keys large_and_small_scale rising_scores_match_reference key_splits_match_reference batch_of_three"
P='const PLIM: f32 = 15.0;=>const PLIM: f32 = -1.0;'
for cfg in 2,4,16 2,8,16; do
  RINGATTN_MATRIX_CFG=$cfg timeout 200 .gpu/attention --test-threads 2 $T > $R/test-cfg-$cfg.txt 2>&1; echo "rc=$?" >> $R/test-cfg-$cfg.txt
done
RINGATTN_MATRIX_PATCH="$P" timeout 200 .gpu/attention --test-threads 2 $T > $R/test-rerun-always.txt 2>&1; echo "rc=$?" >> $R/test-rerun-always.txt
ab_prev_picks
cd $R && { cat gpu.txt; for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=|^FAIL" $f; done; for f in *.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
