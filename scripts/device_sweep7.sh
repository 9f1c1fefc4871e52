#!/bin/bash
# Tile shapes outside the tuner's candidates, on the matrix kernel of the seventh session
# (2026-11-26), one call on a 1-GPU machine: f16, N=4096/16384, non-causal, each shape
# forced with RINGATTN_MATRIX_CFG, twice.
source scripts/device_run.sh
results
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  for c in 2,4,16 2,2,16 1,4,16 1,8,16 2,8,32 1,2,16; do
    RINGATTN_MATRIX_CFG=$c .gpu/ringattn bench $B --head-dims 64 > $R/d64-$c-$round.md 2>&1
  done
  for c in 1,8,32 2,4,16 2,8,16 1,8,16 2,2,16 1,4,16; do
    RINGATTN_MATRIX_CFG=$c .gpu/ringattn bench $B --head-dims 128 > $R/d128-$c-$round.md 2>&1
  done
done
cd $R && for f in *.md; do echo "$f $(grep -E '^\| matrix' $f | awk -F'|' '{print $4, $7}' | tr '\n' ' ') $(grep -i -m1 error $f)"; done | sort > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
