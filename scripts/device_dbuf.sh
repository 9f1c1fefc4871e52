#!/bin/bash
# Two K/V tile buffers in the f16 matrix kernel (no barrier at the end of a key tile;
# seventh session, 2026-11-26), one call on a 1-GPU machine: on (the default where it
# fits) against RINGATTN_MATRIX_DBUF=0, two rounds; then the attention and sparse tests
# on the searched tiles. The DBUF variant and RINGATTN_MATRIX_DBUF existed only for this
# measurement: slower at (2,4,16) (7.10 vs 5.08 ms), reverted (BENCHMARKS.md).
source scripts/device_run.sh
results
B="--no-progress --tiers matrix --dtypes f16 --causal both --reps 5 --max-seconds 3 --seqs 4096,16384,65536 --head-dims 64"
for round in 1 2; do
  RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B > $R/dbuf-$round.md 2>&1
  RINGATTN_MATRIX_CFG=2,4,16 RINGATTN_MATRIX_DBUF=0 .gpu/ringattn bench $B > $R/single-$round.md 2>&1
  RINGATTN_MATRIX_CFG=1,8,32 .gpu/ringattn bench $B > $R/dbuf-1832-$round.md 2>&1
  RINGATTN_MATRIX_CFG=1,8,32 RINGATTN_MATRIX_DBUF=0 .gpu/ringattn bench $B > $R/single-1832-$round.md 2>&1
done
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16 > $R/tune.txt 2>&1
run_tests attention sparse
cd $R && { for f in *.md; do echo "== $f"; grep -E "^\| matrix" $f; done; grep -E "^best" tune.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
