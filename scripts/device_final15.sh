#!/bin/bash
# Fifteenth session, final build (the shuffle kernel with RS and 16-key tiles where
# r >= 4 rows): the subgroup tier as picked (its kernel search runs at first use, cache
# in $R/tiles.json) and with RS off (the shuffle kernel's former default, 8-key tiles),
# f32/f16, N=4096/16384, head_dims 32/64/128, beside SDPA efficient in the same call;
# the GPU test suites.
source scripts/device_run.sh
results
.gpu/ringattn info > $R/info.txt 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
G="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 4096,16384 --head-dims 32,64,128 --causal off --dtypes f32,f16"
.gpu/ringattn bench $G > $R/subgroup.md 2>&1
RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_RS=0 .gpu/ringattn bench $G > $R/subgroup-shuffle-rs0.md 2>&1
RINGATTN_SUBGROUP_VARIANT=tiled .gpu/ringattn bench $G > $R/subgroup-tiled.md 2>&1
timeout 150 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32,f16 --seqs 4096,16384 --head-dims 32,64,128 --causal off --reps 5 > $R/sdpa-eff.txt 2>&1
TEST_LIMIT=300 run_tests attention sparse tiled
cd $R && {
  cat gpu.txt; grep -iE "tier:|kernels:|subgroup" info.txt | head -8
  cat tiles.json | tr ',' '\n' | grep -iE "subgroup|variant" | head -20
  test_lines
  echo "== as picked"; grep -hE "^\| subgroup" subgroup.md; echo "== shuffle RS=0"; grep -hE "^\| subgroup" subgroup-shuffle-rs0.md; echo "== tiled"; grep -hE "^\| subgroup" subgroup-tiled.md; grep -E "efficient" sdpa-eff.txt
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
