#!/bin/bash
# Sixteenth session, final build (the shuffle kernel stages 16 KiB of K/V per barrier
# with its loads batched; measured shapes (2,2,16)@32, (2,2,32)@64, (8,4,16)@128): the
# subgroup tier as picked (its kernel search runs at first use, cache in $R/tiles.json),
# the fifteenth session's defaults (old shapes, one tile and one unit per staging round),
# and the tiled kernel, f32/f16, N=1024/4096/16384, head_dims 32/64/128 (f32 causal at
# 16384 too), beside SDPA efficient in the same call; the GPU test suites.
source scripts/device_run.sh
results
.gpu/ringattn info > $R/info.txt 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
G="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 1024,4096,16384 --causal off --dtypes f32,f16"
.gpu/ringattn bench $G --head-dims 32,64,128 > $R/subgroup.md 2>&1
.gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal on --dtypes f32 --head-dims 32,64,128 > $R/subgroup-causal.md 2>&1
for dc in 32:2,4,8 64:4,4,16 128:8,4,16; do
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=${dc#*:} RINGATTN_SUBGROUP_NSUB=1 RINGATTN_SUBGROUP_SCH=1 .gpu/ringattn bench $G --head-dims ${dc%%:*} > $R/subgroup-old-${dc%%:*}.md 2>&1
done
RINGATTN_SUBGROUP_VARIANT=tiled .gpu/ringattn bench $G --head-dims 32,64,128 > $R/subgroup-tiled.md 2>&1
timeout 200 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32,f16 --seqs 1024,4096,16384 --head-dims 32,64,128 --causal both --reps 5 > $R/sdpa-eff.txt 2>&1
TEST_LIMIT=300 run_tests attention sparse tiled
cd $R && {
  cat gpu.txt; grep -iE "tier:|kernels:|subgroup" info.txt | head -8
  cat tiles.json | tr ',' '\n' | grep -iE "subgroup|variant" | head -20
  test_lines; grep -h "cases" test-attention.txt
  echo "== as picked"; grep -hE "^\| subgroup" subgroup.md subgroup-causal.md; echo "== old defaults"; grep -hE "^\| subgroup" subgroup-old-*.md; echo "== tiled"; grep -hE "^\| subgroup" subgroup-tiled.md; grep -E "efficient" sdpa-eff.txt
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
