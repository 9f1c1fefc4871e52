#!/bin/bash
# Eighth session (2026-11-26), one call on a 1-GPU machine: tile shapes that the wide K/V
# staging makes possible ((2,8,16) at head_dim 64: 256-row tiles sharing each K/V tile
# across 8 subgroups) beside the current picks, two rounds; the attention and sparse
# tests; a fresh tile search (per-candidate table in tune.txt).
source scripts/device_run.sh
results
run_tests attention sparse
B="--no-progress --tiers matrix --dtypes f16 --causal both --reps 5 --max-seconds 3 --seqs 4096,16384,65536"
for round in 1 2; do
  for c in 2,4,16 2,8,16 1,8,16; do
    RINGATTN_MATRIX_CFG=$c .gpu/ringattn bench $B --head-dims 64 > $R/s$c-64-$round.md 2>&1
  done
  for c in 2,8,16 1,8,16; do
    RINGATTN_MATRIX_CFG=$c .gpu/ringattn bench $B --head-dims 128 > $R/s$c-128-$round.md 2>&1
  done
done
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16 > $R/tune.txt 2>&1
cd $R && { cat gpu.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; grep -E "^best|^\| [0-9]" tune.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
