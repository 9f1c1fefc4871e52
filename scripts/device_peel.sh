#!/bin/bash
# Ninth session (2026-11-26): the f16 matrix kernel's full tiles in two phases (tiles
# no row of the workgroup sees in part run a softmax without the mask) and, for a
# positive scale, the scale folded into the exponent's FMA (SCALE_POS). One call on a
# 1-GPU machine: the attention and sparse tests, the kernel against the previous build
# (.gpu/ringattn-prev) at the H100's picks, causal both, two rounds, and the driver's
# code of the new kernel at (2,4,16) D=64.
source scripts/device_run.sh
results
run_tests attention sparse
ab_prev_picks
RINGATTN_DUMP_WGSL=$R/wgsl RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --causal off --reps 1 --seqs 1024 --head-dims 64 > /dev/null 2>&1
mkdir -p $R/dump; .gpu/pipeline_stats --adapter NVIDIA --dump $R/dump $R/wgsl/flash_matrix*.wgsl > $R/stats.txt 2>&1
cd $R && { cat gpu.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
