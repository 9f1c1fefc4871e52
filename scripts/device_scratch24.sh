#!/bin/bash
# Twenty-fourth session: split calls with the scratch O/LSE kept in the Attention object
# (this build) against the build before (.gpu/ringattn-base: new scratch buffers per call,
# zero-filled by wgpu in the submission): the subgroup tier's automatically split shapes
# (f32 and f16, H=8 N=1024 and H=1 N=512/2048, head_dims 64/128, causal both), GPU and
# wall (submit + wait) medians of 20, three rounds alternating the builds.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
B="--no-progress --reps 20 --max-seconds 2 --tiers subgroup --dtypes f32,f16 --head-dims 64,128 --causal both"
for round in 1 2 3; do
  for bin in ringattn-base ringattn; do
    timeout 60 .gpu/$bin bench $B --seqs 1024 > $R/$bin-h8-$round.md 2>&1
    timeout 60 .gpu/$bin bench $B --heads 1 --seqs 512,2048 > $R/$bin-h1-$round.md 2>&1
  done
done
cd $R && {
  cat gpu.txt
  for f in ringattn*.md; do echo "== $f"; grep -E "^\| subgroup" $f; done
} > summary.txt; cat summary.txt
