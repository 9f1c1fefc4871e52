#!/bin/bash
# Fourteenth session: the tiled subgroup kernel with and without PSH (P by subgroup
# shuffles, RINGATTN_TILED_PSH=1) at f32 and f16, head_dims 32/64/128, N=4096/16384
# (tiled kernel forced, default shapes), causal at D=64; the subgroup search's pick with
# each (fresh caches); SDPA efficient f32 in the same call. Two rounds.
source scripts/device_run.sh
results
G="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 4096,16384 --head-dims 32,64,128"
for round in 1 2; do
  for v in 0 1; do
    RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_TILED_PSH=$v .gpu/ringattn bench $G --dtypes f32,f16 --causal off > $R/psh$v-$round.md 2>&1
    RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_TILED_PSH=$v .gpu/ringattn bench $G --dtypes f32 --head-dims 64 --seqs 16384 --causal on > $R/psh$v-causal-$round.md 2>&1
  done
done
.gpu/ringattn bench $G --dtypes f32 --causal off > $R/shuffle.md 2>&1
for v in 0 1; do
  RINGATTN_TUNE_CACHE=$R/tiles-$v.json RINGATTN_TILED_PSH=$v .gpu/ringattn tune --head-dims 32,64,128 --dtypes f32,f16 > $R/tune-$v.txt 2>&1
done
timeout 100 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 4096,16384 --head-dims 32,64,128 --causal off --reps 5 > $R/sdpa-eff.txt 2>&1
cd $R && for f in psh*.md shuffle.md; do echo "== $f"; grep -E "^\| subgroup" $f | awk -F'|' '{print $3, $4, $5, $6, $7}'; done; grep -iE "subgroup|tiled|shuffle" tune-*.txt | head -20; grep -E "efficient" sdpa-eff.txt
cd $OUT && tar czf r.tgz r && rm -rf r
