#!/bin/bash
# Twenty-fourth session: head_dim 32, where the measured wave (16896 invocations on an
# H100: 132 workgroups of 128) is half the built-in one: the subgroup tier's small split
# shapes (f32; H=8 N=1024/4096, H=4 N=3000/6000, H=1 N=2048/8192; causal both) with the
# measured wave (a fresh search, cache in $R/tiles.json), the built-in one
# (RINGATTN_TUNE=0) and 1, 2, 4, 8 parts forced; then the attention and merge suites.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
timeout 60 .gpu/ringattn tune --head-dims 32 --dtypes f32 > $R/tune.txt 2>&1
B="--no-progress --reps 10 --max-seconds 2 --tiers subgroup --dtypes f32 --head-dims 32 --causal both"
run() {
  timeout 60 .gpu/ringattn bench $B --heads 8 --seqs 1024,4096 --json $R/$1-h8.json > $R/$1-h8.md 2>&1
  timeout 60 .gpu/ringattn bench $B --heads 4 --seqs 3000,6000 --json $R/$1-h4.json > $R/$1-h4.md 2>&1
  timeout 60 .gpu/ringattn bench $B --heads 1 --seqs 2048,8192 --json $R/$1-h1.json > $R/$1-h1.md 2>&1
}
run tuned
RINGATTN_TUNE=0 run builtin
for p in 1 2 4 8; do RINGATTN_KEY_SPLITS=$p run p$p; done
TEST_LIMIT=420 run_tests attention merge
cd $R && {
  cat gpu.txt; test_lines; grep -E "^(best|wave)" tune.txt
  for m in tuned builtin p1 p2 p4 p8; do echo "== $m"; for h in h8 h4 h1; do grep -E "^\| subgroup" $m-$h.md; grep -o '"tile": "[^"]*"' $m-$h.json | tr '\n' ' '; echo; done; done
} > summary.txt; cat summary.txt
