#!/bin/bash
# Twenty-fourth session: the measured wave. A fresh search (`ringattn tune`, f32 and f16
# at head_dims 32/64/128; cache in $R/tiles.json) prints each subgroup shape's wave; the
# GPU tests of the wave, the search, the automatic splits and the kept scratch; then the
# split shapes of the twenty-third session's fit and holdout (H=4 N=3000/6000, H=2
# N=2500/5000, H=8 N=1024/4096; head_dims 64/128, causal both, f32) with the measured
# wave (the cache) and with the built-in one (RINGATTN_TUNE=0), two rounds: which parts
# each picks (bench JSON) and the times.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
timeout 200 .gpu/ringattn tune --head-dims 32,64,128 --dtypes f32,f16 > $R/tune.txt 2>&1
timeout 200 .gpu/attention --test-threads 1 wave_measurement subgroup_search split_calls subgroup_small_grids key_splits > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
B="--no-progress --reps 10 --max-seconds 2 --tiers subgroup --dtypes f32 --head-dims 64,128 --causal both"
for round in 1 2; do
  for mode in tuned builtin; do
    [ $mode = builtin ] && export RINGATTN_TUNE=0 || unset RINGATTN_TUNE
    timeout 60 .gpu/ringattn bench $B --heads 4 --seqs 3000,6000 --json $R/$mode-h4-$round.json > $R/$mode-h4-$round.md 2>&1
    timeout 60 .gpu/ringattn bench $B --heads 2 --seqs 2500,5000 --json $R/$mode-h2-$round.json > $R/$mode-h2-$round.md 2>&1
    timeout 60 .gpu/ringattn bench $B --heads 8 --seqs 1024,4096 --json $R/$mode-h8-$round.json > $R/$mode-h8-$round.md 2>&1
  done
done
unset RINGATTN_TUNE
cd $R && {
  cat gpu.txt; test_lines; grep -h "invocations at once\|wave" test-attention.txt | head -20
  grep -E "^(f32|f16|best|wave)" tune.txt
  for f in tuned-*.md builtin-*.md; do echo "== $f"; grep -E "^\| subgroup" $f; grep -o '"tile": "[^"]*"' ${f%.md}.json | tr '\n' ' '; echo; done
} > summary.txt; cat summary.txt
