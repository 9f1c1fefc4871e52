#!/bin/bash
# Fourteenth session, final build (the tiled subgroup kernel with PSH at head_dims <= 64):
# a fresh search (the subgroup tier's kernel pick included), the subgroup tier as picked
# and with the shuffle kernel forced at f32/f16, N=4096/16384, head_dims 32/64/128,
# beside SDPA efficient in the same call; the tiled kernel with PSH and prefetch or a
# smaller d unroll (f32, N=16384, head_dim 64, two rounds); the GPU test suites.
source scripts/device_run.sh
results
.gpu/ringattn info > $R/info.txt 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 32,64,128 --dtypes f16,f32 > $R/tune.txt 2>&1
G="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 4096,16384 --head-dims 32,64,128 --causal off --dtypes f32,f16"
.gpu/ringattn bench $G > $R/subgroup.md 2>&1
RINGATTN_SUBGROUP_VARIANT=shuffle .gpu/ringattn bench $G > $R/subgroup-shuffle.md 2>&1
timeout 150 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32,f16 --seqs 4096,16384 --head-dims 32,64,128 --causal off --reps 5 > $R/sdpa-eff.txt 2>&1
for round in 1 2; do
  tb psh RINGATTN_TILED_CFG=64,64,4,2
  tb psh-pf RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=4,16,1
  tb psh-u2 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=2,16,0
done
TEST_LIMIT=300 run_tests attention sparse tiled
cd $R && {
  cat gpu.txt; grep -iE "tier:|kernels:|subgroup" info.txt | head -8
  grep -E "^best|head_dim" tune.txt
  test_lines
  echo "== as picked"; grep -hE "^\| subgroup" subgroup.md; echo "== shuffle"; grep -hE "^\| subgroup" subgroup-shuffle.md; grep -E "efficient" sdpa-eff.txt
  for f in psh*-1.md psh*-2.md; do echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $5, $7}')"; done
} > summary2.txt; cat summary2.txt; cd - > /dev/null
tb_pack | grep -E "^==|Register"
