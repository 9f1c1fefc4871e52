#!/bin/bash
# The matrix kernel's softmax skipping the mask on lanes whose columns are all visible
# (eighth session, 2026-11-26), one call on a 1-GPU machine: the attention and sparse
# tests (f64 reference, causal and masked cases), then the kernel against the previous
# build (.gpu/ringattn-prev) at the H100's picks, f16 and f32, causal both, two rounds.
source scripts/device_run.sh
results
run_tests attention sparse
B="--no-progress --tiers matrix --causal both --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  for bin in ringattn ringattn-prev; do
    RINGATTN_MATRIX_CFG=2,4,16 .gpu/$bin bench $B --dtypes f16,f32 --head-dims 64 > $R/$bin-64-$round.md 2>&1
    RINGATTN_MATRIX_CFG=2,8,16 .gpu/$bin bench $B --dtypes f16 --head-dims 128 > $R/$bin-128-$round.md 2>&1
    RINGATTN_MATRIX_CFG=1,8,16 .gpu/$bin bench $B --dtypes f32 --head-dims 128 > $R/$bin-128f32-$round.md 2>&1
  done
done
cd $R && { cat gpu.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
