#!/bin/bash
# The f16 matrix kernel's software-pipelined tile loop (PIPE: S of the next key tile
# multiplied while the softmax of this one runs; eighth session, 2026-11-26), one call on
# a 1-GPU machine: the attention and sparse tests (pipelined kernel, f64 reference), then
# pipelined against RINGATTN_MATRIX_PIPE=0 at the tuner's picks and two other shapes, two
# rounds; then a subgroup-tier (f32) shape sweep at head_dim 128 (RINGATTN_SUBGROUP_CFG).
source scripts/device_run.sh
results
run_tests attention sparse
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  for pipe in 1 0; do
    RINGATTN_MATRIX_PIPE=$pipe RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/p$pipe-2416-64-$round.md 2>&1
    RINGATTN_MATRIX_PIPE=$pipe RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/p$pipe-2816-128-$round.md 2>&1
    RINGATTN_MATRIX_PIPE=$pipe RINGATTN_MATRIX_CFG=1,8,32 .gpu/ringattn bench $B --head-dims 64,128 > $R/p$pipe-1832-$round.md 2>&1
    RINGATTN_MATRIX_PIPE=$pipe RINGATTN_MATRIX_CFG=2,4,32 .gpu/ringattn bench $B --head-dims 64 > $R/p$pipe-2432-64-$round.md 2>&1
  done
done
S="--no-progress --tiers subgroup --dtypes f32 --causal off --reps 5 --max-seconds 3 --seqs 16384 --head-dims 128"
for c in 8,4,8 8,2,8 16,4,8 16,8,8 16,8,4 8,8,8; do
  RINGATTN_SUBGROUP_CFG=$c .gpu/ringattn bench $S > $R/sg-$c.md 2>&1
done
cd $R && { cat gpu.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; for f in *.md; do echo "== $f"; grep -E "^\| (matrix|subgroup)" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
