#!/bin/bash
# The f16 matrix kernel's wide K/V load offsets written as a per-invocation constant
# plus the tile's first key times the row stride in units (eighth session, 2026-11-26),
# one call on a 1-GPU machine: the attention and sparse tests (f64 reference, causal and
# masked cases), then the kernel against the previous build (.gpu/ringattn-prev) at the
# H100's picks, causal both, two rounds; and the K/V store offset with its factor 4
# outermost (rendered shader patched; the recorded run interleaved these with the A/B
# rounds, before the A/B loop moved into ab_prev_picks).
source scripts/device_run.sh
results
run_tests attention sparse
ab_prev_picks
B="--no-progress --tiers matrix --causal both --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  P='let so = (i / D4) * KSTR + 4u * (i % D4);=>let so = 4u * ((i / D4) * (KSTR / 4u) + i % D4);'
  RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --dtypes f16 --head-dims 64 > $R/so-64-$round.md 2>&1
  RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --dtypes f16 --head-dims 128 > $R/so-128-$round.md 2>&1
done
cd $R && { cat gpu.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
