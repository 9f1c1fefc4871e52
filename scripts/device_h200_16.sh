#!/bin/bash
# Sixteenth session on an H200: the subgroup tier as picked (fresh kernel search; the
# shuffle kernel with 16 KiB of K/V staged per barrier, the measured shapes, RS),
# f32/f16, N=1024/4096/16384, head_dims 32/64/128 (f32 causal at 16384 too), the tiled
# kernel at 16384, beside SDPA efficient in the same call; the GPU test suites.
source scripts/device_run.sh
results
.gpu/ringattn info > $R/info.txt 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
G="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --causal off"
.gpu/ringattn bench $G --seqs 1024,4096,16384 --dtypes f32,f16 --head-dims 32,64,128 > $R/subgroup.md 2>&1
.gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal on --dtypes f32 --head-dims 32,64,128 > $R/subgroup-causal.md 2>&1
RINGATTN_SUBGROUP_VARIANT=tiled .gpu/ringattn bench $G --seqs 16384 --dtypes f32 --head-dims 32,64,128 > $R/subgroup-tiled.md 2>&1
timeout 150 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32,f16 --seqs 1024,4096,16384 --head-dims 32,64,128 --causal both --reps 5 > $R/sdpa-eff.txt 2>&1
TEST_LIMIT=330 run_tests attention sparse tiled
cd $R && {
  cat gpu.txt; cat tiles.json | tr ',' '\n' | grep -iE "variant" | sort | uniq -c
  test_lines; grep -h "cases" test-attention.txt
  echo "== as picked"; grep -hE "^\| subgroup" subgroup.md subgroup-causal.md; echo "== tiled"; grep -hE "^\| subgroup" subgroup-tiled.md; grep -E "efficient" sdpa-eff.txt
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
