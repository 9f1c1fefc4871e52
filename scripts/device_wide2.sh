#!/bin/bash
# Eighth session (2026-11-26), one call on a 1-GPU machine, after WIDE: the attention
# and sparse tests (f32 split kernel now WIDE too); f32 WIDE on/off; f16 with WIDE: the
# pipelined loop on/off at the H100's picks and (1,8,32); a fresh tile search (its
# per-candidate table in tune.txt).
source scripts/device_run.sh
results
run_tests attention sparse
B="--no-progress --tiers matrix --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  for w in 1 0; do
    RINGATTN_MATRIX_WIDE=$w RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --dtypes f32 --head-dims 64 > $R/f32w$w-2416-64-$round.md 2>&1
    RINGATTN_MATRIX_WIDE=$w RINGATTN_MATRIX_CFG=1,8,16 .gpu/ringattn bench $B --dtypes f32 --head-dims 128 > $R/f32w$w-1816-128-$round.md 2>&1
  done
  for pp in 1 0; do
    RINGATTN_MATRIX_PIPE=$pp RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --dtypes f16 --head-dims 64 > $R/p$pp-2416-64-$round.md 2>&1
    RINGATTN_MATRIX_PIPE=$pp RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --dtypes f16 --head-dims 128 > $R/p$pp-2816-128-$round.md 2>&1
    RINGATTN_MATRIX_PIPE=$pp RINGATTN_MATRIX_CFG=1,8,32 .gpu/ringattn bench $B --dtypes f16 --head-dims 64,128 > $R/p$pp-1832-$round.md 2>&1
  done
done
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16,f32 > $R/tune.txt 2>&1
cd $R && { cat gpu.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; cat tune.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
