#!/bin/bash
# Eighth session (2026-11-26), last check on a 1-GPU machine of the final build, whose
# f16 matrix kernel takes the UNPACK form by the adapter's SHADER_F16_IN_F32: the
# attention and sparse tests, then the H100's picks at N = 4K..64K, causal both (the
# vec4<f16> form's figures: the previous call, scripts/device_unpack.sh).
source scripts/device_run.sh
results
run_tests attention sparse
B="--no-progress --tiers matrix --dtypes f16 --causal both --reps 5 --max-seconds 3 --seqs 4096,16384,65536"
RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/final-64.md 2>&1
RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/final-128.md 2>&1
cd $R && { cat gpu.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
