#!/bin/bash
# Twenty-third session: the key-split path's merge in one coalesced dispatch (merge.wgsl:
# one invocation per element, every part folded in at once) against the build before
# (.gpu/ringattn-base: one invocation per row, one dispatch per part). Subgroup tier f32,
# built-in tiles: H=8 at N=512..4096 (head_dims 64/128, causal both) and H=1 at
# N=1024..8192 (non-causal); the rule's parts in both builds, then RINGATTN_KEY_SPLITS =
# 1, 2, 4, 8 in the new one; two rounds. Then the GPU tests of the split path and the merge.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
A="--no-progress --tiers subgroup --dtypes f32 --reps 10 --max-seconds 2"
C8="--heads 8 --head-dims 64,128 --causal both --seqs 512,1024,2048,4096"
C1="--heads 1 --head-dims 64,128 --causal off --seqs 1024,2048,4096,8192"
.gpu/ringattn bench $A $C8 > /dev/null 2>&1
for round in 1 2; do
  for bin in base new; do
    x=.gpu/ringattn; [ $bin = base ] && x=.gpu/ringattn-base
    timeout 120 $x bench $A $C8 --json $R/$bin-auto-h8-$round.json > $R/$bin-auto-h8-$round.md 2>&1
    timeout 120 $x bench $A $C1 --json $R/$bin-auto-h1-$round.json > $R/$bin-auto-h1-$round.md 2>&1
  done
  for ks in 1 2 4 8; do
    RINGATTN_KEY_SPLITS=$ks timeout 120 .gpu/ringattn bench $A $C8 > $R/new-ks$ks-h8-$round.md 2>&1
    RINGATTN_KEY_SPLITS=$ks timeout 120 .gpu/ringattn bench $A $C1 > $R/new-ks$ks-h1-$round.md 2>&1
  done
done
timeout 200 .gpu/attention --test-threads 2 key_splits subgroup_small_grids > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
timeout 100 .gpu/merge --test-threads 2 > $R/test-merge.txt 2>&1; echo "rc=$?" >> $R/test-merge.txt
cd $R && {
  cat gpu.txt; test_lines
  for f in *.md; do echo "${f%.md} $(grep -E '^\| subgroup' $f | awk -F'|' '{print $5"/"$4"/"$6"="$7}' | tr -d ' ' | tr '\n' ' ')"; done
  grep -ho '"tile": "[^"]*"' new-auto-h8-1.json new-auto-h1-1.json | tr '\n' ' '
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r/*.json
