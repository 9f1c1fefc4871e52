#!/bin/bash
# Twenty-third session, last call: the final build's GPU tests of the key-split path and
# the merge; the ring (4 logical devices on one GPU, so each step's merge runs) with the
# build before the session (.gpu/ringattn-base) and now; the wave model's picks on the
# H=4 shapes it was fitted to split (N=3000/6000).
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
timeout 120 .gpu/attention --test-threads 2 key_splits subgroup_small_grids > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
timeout 60 .gpu/merge --test-threads 2 > $R/test-merge.txt 2>&1; echo "rc=$?" >> $R/test-merge.txt
RB="ring-bench --seqs 65536 --devices 4 --logical --placements contiguous --causal both --transport-mib 0 --no-single --reps 5 --preheat 1 --check-rows 4"
for round in 1 2; do
  timeout 100 .gpu/ringattn-base $RB > $R/ring-base-$round.txt 2>&1
  timeout 100 .gpu/ringattn $RB > $R/ring-new-$round.txt 2>&1
done
timeout 100 .gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 10 --max-seconds 2 --heads 4 --head-dims 64,128 --causal off --seqs 3000,6000 --json $R/wave.json > $R/wave.md 2>&1
cd $R && {
  cat gpu.txt; test_lines
  for f in ring-*.txt; do echo "== $f"; grep -E "^\|" $f | grep -vE "^\| *-|ring ms|^\| N " | head -6; done
  grep -E '^\| subgroup' wave.md; grep -o '"tile": "[^"]*"' wave.json | tr '\n' ' '
} > summary.txt; cat summary.txt
