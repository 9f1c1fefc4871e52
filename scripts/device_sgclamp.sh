#!/bin/bash
# The subgroup tier's f32 kernels without naga's workgroup index clamps (seventh session,
# 2026-11-26; their SASS showed the clamps on every workgroup read of the tiled kernel's
# unrolled loops), one call on a 1-GPU machine: each kernel unclamped (the build now)
# and clamped (RINGATTN_CHECKS=bounds,loops), two rounds; then the attention and
# sparse tests, where f32 on this GPU takes the matrix tier but the subgroup tier runs
# in the tests that name it.
source scripts/device_run.sh
results
B="--no-progress --tiers subgroup --dtypes f32 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384 --head-dims 64,128"
for round in 1 2; do
  .gpu/ringattn bench $B > $R/shuffle-$round.md 2>&1
  RINGATTN_CHECKS=bounds,loops .gpu/ringattn bench $B > $R/shuffle-clamped-$round.md 2>&1
  RINGATTN_SUBGROUP_VARIANT=tiled .gpu/ringattn bench $B > $R/tiled-$round.md 2>&1
  RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_CHECKS=bounds,loops .gpu/ringattn bench $B > $R/tiled-clamped-$round.md 2>&1
done
run_tests attention sparse tiled
cd $R && { for f in *.md; do echo "== $f"; grep -E "^\| subgroup" $f; done; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
