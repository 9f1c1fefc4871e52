#!/bin/bash
# The subgroup tier's shuffle kernel with a lazy rescale of O (its running max rises only
# when a tile's max exceeds it by more than 2^8) and no select after exp2 (seventh
# session, 2026-11-26), one call on a 1-GPU machine. The previous build's binary is
# carried as .gpu/ringattn-prev for the comparison in the same call; then the attention
# and sparse tests with the subgroup tier forced (RINGATTN_TIER=subgroup), f32 and f16.
source scripts/device_run.sh
results
B="--no-progress --tiers subgroup --dtypes f32,f16 --causal both --reps 5 --max-seconds 3 --seqs 4096,16384 --head-dims 64,128"
for round in 1 2; do
  .gpu/ringattn bench $B > $R/lazy-$round.md 2>&1
  .gpu/ringattn-prev bench $B > $R/prev-$round.md 2>&1
done
RINGATTN_TIER=subgroup run_tests attention sparse
cd $R && { for f in *.md; do echo "== $f"; grep -E "^\| subgroup" $f; done; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
