#!/bin/bash
# Twenty-fourth session: the wave as cores times the workgroups each holds
# (tuning::wave_workgroups): a fresh subgroup search (f32, head_dims 32/64/128; cache in
# $R/tiles.json) prints each wave; the wave test; head_dim 32's small split shapes
# (as in device_d32w24.sh) with the measured wave.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
timeout 120 .gpu/ringattn tune --head-dims 32,64,128 --dtypes f32 > $R/tune.txt 2>&1
timeout 60 .gpu/attention --test-threads 1 --nocapture wave_measurement > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
B="--no-progress --reps 10 --max-seconds 2 --tiers subgroup --dtypes f32 --head-dims 32 --causal both"
timeout 60 .gpu/ringattn bench $B --heads 8 --seqs 1024,4096 --json $R/tuned-h8.json > $R/tuned-h8.md 2>&1
timeout 60 .gpu/ringattn bench $B --heads 4 --seqs 3000,6000 --json $R/tuned-h4.json > $R/tuned-h4.md 2>&1
timeout 60 .gpu/ringattn bench $B --heads 1 --seqs 2048,8192 --json $R/tuned-h1.json > $R/tuned-h1.md 2>&1
cd $R && {
  cat gpu.txt; test_lines; grep "invocations at once" test-attention.txt
  grep -E "^(f32|best|wave)" tune.txt | grep -v matrix
  for h in h8 h4 h1; do grep -E "^\| subgroup" tuned-$h.md; grep -o '"tile": "[^"]*"' tuned-$h.json | tr '\n' ' '; echo; done
} > summary.txt; cat summary.txt
