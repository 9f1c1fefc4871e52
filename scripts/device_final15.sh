#!/bin/bash
# Fifteenth session, final build (the shuffle kernel with RS at r >= 8): a fresh search
# (the subgroup tier's kernel pick included), the subgroup tier as picked and with the
# shuffle kernel forced with RS off, f32/f16, N=4096/16384, head_dims 32/64/128, beside
# SDPA efficient in the same call; the GPU test suites.
source scripts/device_run.sh
results
.gpu/ringattn info > $R/info.txt 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 32,64,128 --dtypes f16,f32 > $R/tune.txt 2>&1
G="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 4096,16384 --head-dims 32,64,128 --causal off --dtypes f32,f16"
.gpu/ringattn bench $G > $R/subgroup.md 2>&1
RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_RS=0 .gpu/ringattn bench $G > $R/subgroup-shuffle-rs0.md 2>&1
timeout 150 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32,f16 --seqs 4096,16384 --head-dims 32,64,128 --causal off --reps 5 > $R/sdpa-eff.txt 2>&1
TEST_LIMIT=300 run_tests attention sparse tiled
cd $R && {
  cat gpu.txt; grep -iE "tier:|kernels:|subgroup" info.txt | head -8
  grep -E "^best|head_dim" tune.txt
  test_lines
  echo "== as picked"; grep -hE "^\| subgroup" subgroup.md; echo "== shuffle RS=0"; grep -hE "^\| subgroup" subgroup-shuffle-rs0.md; grep -E "efficient" sdpa-eff.txt
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
