#!/bin/bash
# Seventeenth session, final build (run on an H100; meant for an H200, the warm H100 was kept): the subgroup tier as picked (fresh kernel
# search, cache in $R/tiles.json), f32, N=4096/16384 (causal at 16384 too), head_dims
# 32/64/128, beside SDPA efficient f32 in the same call.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 4096,16384 --causal off --dtypes f32 --head-dims 32,64,128 > $R/subgroup.md 2>&1
.gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal on --dtypes f32 --head-dims 32,64,128 > $R/subgroup-causal.md 2>&1
timeout 120 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 4096,16384 --head-dims 32,64,128 --causal both --reps 5 > $R/sdpa-eff.txt 2>&1
cd $R && { cat gpu.txt; cat tiles.json | tr ',' '\n' | grep -iE "variant" | sort | uniq -c; grep -hE "^\| subgroup" subgroup.md subgroup-causal.md; grep -E "efficient" sdpa-eff.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
