#!/bin/bash
# Twenty-ninth session, second call: the build with a reheat after each kernel-table
# case's first call and (2,8,16) as the built-in f16 tiles at head_dim 128. One GPU.
# 1. built-in tiles (RINGATTN_TUNE=0): matrix f16/f32 and subgroup f32 at N = 1K..64K,
#    head_dims 64/128, causal both, in the fresh machine's first process and again
#    (round a should now read as round b);
# 2. SDPA flash f16 / efficient f32 at the same shapes, same call;
# 3. the attention and block-mask tests (the matrix tier at its new head_dim-128 tiles).
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
B="bench --no-progress --reps 10 --max-seconds 3 --preheat 2 --seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both"
for r in a b; do
  timeout 100 .gpu/ringattn $B --tiers matrix --dtypes f16,f32 --json $R/matrix-$r.json > $R/matrix-$r.md 2>&1
  timeout 80 .gpu/ringattn $B --tiers subgroup --dtypes f32 --json $R/subgroup-$r.json > $R/subgroup-$r.md 2>&1
done
P="python3 benches/python/sdpa_baseline.py --reps 10 --head-dims 64,128 --causal both --seqs 1024,4096,16384,65536"
timeout 60 $P --backends flash --dtypes f16 --json $R/sdpa-flash.json > $R/sdpa-flash.txt 2>&1
timeout 90 $P --backends efficient --dtypes f32 --json $R/sdpa-eff.json > $R/sdpa-eff.txt 2>&1
TEST_LIMIT=200 run_tests attention sparse
(cd $R && test_lines) > $R/tests.txt
cd $OUT && tar czf r.tgz r && rm -rf r
