#!/bin/bash
# K/V of the f16 matrix kernel read as 8-byte units (WIDE, eighth session, 2026-11-26)
# instead of cooperative-matrix fragments from storage, one call on a 1-GPU machine: the
# attention and sparse tests (f64 reference), then WIDE against RINGATTN_MATRIX_WIDE=0
# at the H100's picks and (1,8,32), two rounds.
source scripts/device_run.sh
results
run_tests attention sparse
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  for w in 1 0; do
    RINGATTN_MATRIX_WIDE=$w RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/w$w-2416-64-$round.md 2>&1
    RINGATTN_MATRIX_WIDE=$w RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/w$w-2816-128-$round.md 2>&1
    RINGATTN_MATRIX_WIDE=$w RINGATTN_MATRIX_CFG=1,8,32 .gpu/ringattn bench $B --head-dims 64,128 > $R/w$w-1832-$round.md 2>&1
  done
done
cd $R && { cat gpu.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
