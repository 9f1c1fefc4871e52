#!/bin/bash
# Twenty-third session, first call (built-in tiles, H100):
# 1. the --warmup-queue measurement (scripts/device_warmq22.sh, removed with the flag after this call) into $R/warmq;
# 2. the matrix tier f16 with key splits (RINGATTN_KEY_SPLITS = auto (1), 2, 4) on causal
#    and non-causal launches, H=8, N=1024/4096/16384, head_dims 64/128, two rounds;
# 3. the subgroup tier f32 at H=1, head_dim 128, N=1024..4096: the rule's parts against 2 and 4;
source scripts/device_run.sh
results warmq splits qg
export RINGATTN_TUNE=0
# 0. QG (Q read from q per tile): the shuffle-variant test, then head_dim 128 f32
#    N=16384 with QG 0/1/2 at 256 and 384 invocations, two rounds, and head_dim 64.
timeout 200 .gpu/attention --test-threads 2 --nocapture subgroup_rows_per_group_match_reference > $R/test-qg.txt 2>&1; echo "rc=$?" >> $R/test-qg.txt
D="UNM=1,TAIL=1,PSM=1,EARLY=1,DBUF=1"
RUNS="128 8,4,16 256 1 $D,QG=0|128 8,4,16 256 1 $D,QG=1|128 8,4,16 256 1 $D,QG=2|128 8,4,16 384 1 $D,QG=0|128 8,4,16 384 1 $D,QG=1|128 8,4,16 384 1 $D,QG=2|64 4,4,16 256 1 $D,RSP=1,QG=0|64 4,4,16 256 1 $D,RSP=1,QG=2"
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 10 --max-seconds 3 --heads 8 --seqs 16384 --causal off"
$B --dtypes f32 --head-dims 128 > /dev/null 2>&1
R0=$R; R=$R/qg; shuffle_runs; run_times > $R/times.txt; R=$R0
OUT_SAVE=$OUT; OUT=$R/warmq-out; mkdir -p $OUT
( source scripts/device_warmq22.sh ) > $R/warmq/log.txt 2>&1
OUT=$OUT_SAVE
M=".gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --reps 10 --max-seconds 2 --heads 8 --head-dims 64,128 --causal both --seqs 1024,4096,16384"
$M > /dev/null 2>&1
for round in 1 2; do
  for ks in auto 2 4; do
    if [ $ks = auto ]; then timeout 150 $M --json $R/splits/m-$ks-$round.json > $R/splits/m-$ks-$round.md 2>&1
    else RINGATTN_KEY_SPLITS=$ks timeout 150 $M --json $R/splits/m-$ks-$round.json > $R/splits/m-$ks-$round.md 2>&1; fi
  done
done
S=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 10 --max-seconds 2 --heads 1 --head-dims 128 --causal off --seqs 1024,2048,4096"
for round in 1 2; do
  for ks in auto 2 4; do
    if [ $ks = auto ]; then timeout 100 $S --json $R/splits/h1-$ks-$round.json > $R/splits/h1-$ks-$round.md 2>&1
    else RINGATTN_KEY_SPLITS=$ks timeout 100 $S > $R/splits/h1-$ks-$round.md 2>&1; fi
  done
done
cd $R && {
  cat gpu.txt; cat warmq-out/r/summary.txt 2>/dev/null
  cat test-*.txt | grep -E 'test result|FAILED|panicked|rc=|cases'; cat qg/times.txt qg/regs.txt; for f in splits/*.md; do echo "${f%.md} $(grep -E '^\| (matrix|subgroup)' $f | awk -F'|' '{print $5"/"$4"/"$6"="$7}' | tr -d ' ' | tr '\n' ' ')"; done
} > summary.txt; cat summary.txt
