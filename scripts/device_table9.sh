#!/bin/bash
# Ninth session (2026-11-26), final build on a 1-GPU machine: the attention and sparse
# tests; the f16 matrix kernel against the previous session's build
# (.gpu/ringattn-prev) at the H100's picks, two rounds; then a fresh tile search and
# every tier's table beside SDPA in the same call (kernel_table).
source scripts/device_run.sh
results
run_tests attention sparse
ab_prev_picks
kernel_table
cd $R && { cat gpu.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; for f in ringattn*.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; kernel_summary; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
