#!/bin/bash
# Twenty-fourth session: RSP with rows only (the rounds that pair rows without selects,
# the key rounds with them; K addresses lane-independent) at head_dim 128's (8,4,16)/256
# on the subgroup tier, against the default (RSP off) of this build and of the build
# before (.gpu/ringattn-base), three rounds; then the shuffle-variant test on this GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
B="--no-progress --reps 5 --max-seconds 2 --tiers subgroup --head-dims 128"
for round in 1 2 3; do
  timeout 60 .gpu/ringattn-base bench $B --dtypes f32 --seqs 4096,16384 --causal both > $R/base-$round.md 2>&1
  timeout 60 .gpu/ringattn bench $B --dtypes f32 --seqs 4096,16384 --causal both > $R/new-$round.md 2>&1
  RINGATTN_SUBGROUP_RSP=1 timeout 60 .gpu/ringattn bench $B --dtypes f32 --seqs 4096,16384 --causal both > $R/rsp-$round.md 2>&1
done
timeout 60 .gpu/ringattn bench $B --dtypes f16 --seqs 16384 --causal off > $R/f16-new.md 2>&1
RINGATTN_SUBGROUP_RSP=1 timeout 60 .gpu/ringattn bench $B --dtypes f16 --seqs 16384 --causal off > $R/f16-rsp.md 2>&1
timeout 200 .gpu/attention --test-threads 2 subgroup_rows > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
cd $R && {
  cat gpu.txt; test_lines; grep -h "shuffle-variant cases" test-attention.txt
  for f in base-*.md new-*.md rsp-*.md f16-*.md; do echo "== $f"; grep -E "^\| subgroup" $f; done
} > summary.txt; cat summary.txt
