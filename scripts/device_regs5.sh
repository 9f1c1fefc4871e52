#!/bin/bash
# Eleventh session, final build: the kernel table with the register kernel as the
# default at head_dim <= 64 (fresh tile search, tiles.json), SDPA at the same shapes in
# the same call, small grids (N=1024) with the register kernel's tiles and without it,
# and the attention tests.
source scripts/device_run.sh
results
run_tests attention
kernel_table
S="--no-progress --tiers matrix --dtypes f16 --causal both --reps 5 --max-seconds 3 --seqs 1024 --head-dims 64"
for round in 1 2; do
  RINGATTN_MATRIX_REGS=0 .gpu/ringattn bench $S > $R/small-base-$round.md 2>&1
  .gpu/ringattn bench $S > $R/small-regs-$round.md 2>&1
  RINGATTN_MATRIX_CFG=2,4,32 .gpu/ringattn bench $S > $R/small-regs-2,4,32-$round.md 2>&1
  RINGATTN_MATRIX_CFG=1,8,32 .gpu/ringattn bench $S > $R/small-regs-1,8,32-$round.md 2>&1
done
cd $R && {
  cat gpu.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=|error" $f | head -30; done
  kernel_summary
  for f in small-*.md; do echo "== $f"; grep -E "^\| (matrix|subgroup)|rror" $f | head -5; done
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
