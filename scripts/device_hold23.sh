#!/bin/bash
# Twenty-third session, holdout for the refitted key-split rule (flash::key_splits_to_fill,
# fitted on scripts/device_merge23.sh's shapes): subgroup tier f32 and f16, H=4,
# N=768/1536/3000/6000 (not tile or power-of-two multiples), head_dims 64/128, causal
# both: the rule (auto, twice) against RINGATTN_KEY_SPLITS = 1, 2, 4, 8 and against the
# build before the session (.gpu/ringattn-base); then the matrix tier f16 with 1, 2 and 4
# parts now that the merge is one dispatch; then the GPU tests (attention, merge, ring).
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
A="--no-progress --tiers subgroup --dtypes f32,f16 --reps 10 --max-seconds 2 --heads 4 --head-dims 64,128 --causal both --seqs 768,1536,3000,6000"
.gpu/ringattn bench $A > /dev/null 2>&1
timeout 150 .gpu/ringattn bench $A --json $R/auto-1.json > $R/auto-1.md 2>&1
timeout 150 .gpu/ringattn-base bench $A > $R/base-1.md 2>&1
for ks in 1 2 4 8; do RINGATTN_KEY_SPLITS=$ks timeout 150 .gpu/ringattn bench $A > $R/ks$ks-1.md 2>&1; done
timeout 150 .gpu/ringattn bench $A > $R/auto-2.md 2>&1
M="--no-progress --tiers matrix --dtypes f16 --reps 10 --max-seconds 2 --heads 8 --head-dims 64,128 --causal both --seqs 1024,4096"
.gpu/ringattn bench $M > /dev/null 2>&1
for ks in 1 2 4; do RINGATTN_KEY_SPLITS=$ks timeout 100 .gpu/ringattn bench $M > $R/matrix-ks$ks.md 2>&1; done
run_tests attention merge ring
cd $R && {
  cat gpu.txt; test_lines
  for f in *.md; do echo "${f%.md} $(grep -E '^\| (subgroup|matrix)' $f | awk -F'|' '{print $3"/"$5"/"$4"/"$6"="$7}' | tr -d ' ' | tr '\n' ' ')"; done
  grep -o '"tile": "[^"]*"' auto-1.json | tr '\n' ' '
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r/*.json r/*.md
