#!/bin/bash
# Twelfth session, second tiled sweep (f32, N=16384): the key-loop unroll of P V (JU,
# 16 gained 4 % in device_tiled12.sh) and the d-loop unroll over tile shapes and head
# dims (scripts/tiled_runs12.txt, UNM and KONE on), the JU=16 shape with KONE off and
# with both off, f16 at the best D=64 shapes; the shuffle kernel in the same call.
source scripts/device_run.sh
NOPACK=1 RUNS=scripts/tiled_runs12.txt bash scripts/device_tiled.sh
R=$OUT/r
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal off --head-dims 64"
export RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_TILED_CFG=64,64,4,2
RINGATTN_TILED_OPTS=4,16,0 RINGATTN_TILED_KONE=0 $B --dtypes f32 > $R/x-4,16-kone0.md 2>&1
RINGATTN_TILED_OPTS=4,16,0 RINGATTN_TILED_KONE=0 RINGATTN_TILED_UNM=0 $B --dtypes f32 > $R/x-4,16-off.md 2>&1
RINGATTN_TILED_OPTS=4,16,0 $B --dtypes f16 > $R/x-4,16-f16.md 2>&1
RINGATTN_TILED_OPTS=4,32,0 $B --dtypes f16 > $R/x-4,32-f16.md 2>&1
RINGATTN_SUBGROUP_VARIANT=shuffle $B --dtypes f16 > $R/x-shuffle-f16.md 2>&1
cd $R && for f in x-*.md; do echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $5, $7}' | tr '\n' ' ')"; done | tee -a summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
