#!/bin/bash
# Eleventh session: the register kernel on by default at head_dim <= 64; two K/V
# buffers (DBUF, one barrier per tile) against one (RINGATTN_REGS_DBUF=0), tile shapes,
# head_dim 32, small grids (N=1024), the workgroup-memory kernel (RINGATTN_MATRIX_REGS=0)
# in the same call; attention and sparse tests.
source scripts/device_run.sh
results
run_tests attention sparse
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  RINGATTN_MATRIX_REGS=0 RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/base-64-$round.md 2>&1
  for cfg in 2,4,32 2,4,64; do
    RINGATTN_MATRIX_CFG=$cfg .gpu/ringattn bench $B --head-dims 64 > $R/dbuf-64-$cfg-$round.md 2>&1
    RINGATTN_REGS_DBUF=0 RINGATTN_MATRIX_CFG=$cfg .gpu/ringattn bench $B --head-dims 64 > $R/single-64-$cfg-$round.md 2>&1
  done
done
for cfg in 2,4,16 2,8,32 2,8,16 1,8,64 2,2,32; do
  RINGATTN_MATRIX_CFG=$cfg timeout 60 .gpu/ringattn bench $B --head-dims 64 > $R/dbuf-64-$cfg.md 2>&1
done
RINGATTN_MATRIX_REGS=0 .gpu/ringattn bench $B --head-dims 32 > $R/base-32.md 2>&1
.gpu/ringattn bench $B --head-dims 32 > $R/regs-32.md 2>&1
RINGATTN_MATRIX_REGS=1 .gpu/ringattn bench $B --head-dims 128 > $R/regs-128-default.md 2>&1
S="--no-progress --tiers matrix --dtypes f16 --causal both --reps 5 --max-seconds 3 --seqs 1024 --head-dims 64"
RINGATTN_MATRIX_REGS=0 .gpu/ringattn bench $S > $R/small-base.md 2>&1
.gpu/ringattn bench $S > $R/small-regs.md 2>&1
RINGATTN_MATRIX_CFG=2,4,32 .gpu/ringattn bench $S > $R/small-regs-2,4,32.md 2>&1
cd $R && {
  cat gpu.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=|error" $f | head -30; done
  for f in base-*.md dbuf-*.md single-*.md regs-*.md small-*.md; do echo "== $f"; grep -E "^\| (matrix|subgroup)|rror" $f | head -5; done
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
