#!/bin/bash
# Thirty-sixth session: the current build's kernel table in one call on one H200, at
# built-in tiles (RINGATTN_TUNE=0, what a user gets without a tile search): matrix f16 and
# f32 (split kernel), subgroup f32, N = 1K..64K, head_dims 64/128, causal both; SDPA flash
# f16 and efficient f32 at the same shapes; then subgroup f32 at N=16384 and SDPA efficient
# again, alternating, twice more (the subgroup target's shape).
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
B="bench --no-progress --reps 10 --max-seconds 3 --preheat 2"
ALL="--seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both"
timeout 130 .gpu/ringattn $B --tiers matrix --dtypes f16,f32 $ALL --json $R/matrix.json > $R/matrix.md 2>&1
timeout 100 .gpu/ringattn $B --tiers subgroup --dtypes f32 $ALL --json $R/subgroup.json > $R/subgroup.md 2>&1
P="python3 benches/python/sdpa_baseline.py --reps 10 --head-dims 64,128 --causal both"
timeout 70 $P --backends flash --dtypes f16 --seqs 1024,4096,16384,65536 --json $R/sdpa-flash.json > $R/sdpa-flash.txt 2>&1
timeout 100 $P --backends efficient --dtypes f32 --seqs 1024,4096,16384,65536 --json $R/sdpa-eff.json > $R/sdpa-eff.txt 2>&1
for r in b c; do
  timeout 40 .gpu/ringattn $B --tiers subgroup --dtypes f32 --seqs 16384 --head-dims 64,128 --causal off --json $R/subgroup16k-$r.json > $R/subgroup16k-$r.md 2>&1
  timeout 40 python3 benches/python/sdpa_baseline.py --reps 10 --head-dims 64,128 --causal off --backends efficient --dtypes f32 --seqs 16384 > $R/sdpa-eff16k-$r.txt 2>&1
done
python3 scripts/bench_compare.py $R/matrix.json $R/subgroup.json $R/sdpa-flash.json $R/sdpa-eff.json > $R/compare.md 2>&1
cd $R && grep -hE "^\| (subgroup|sdpa-eff)" subgroup16k-*.md sdpa-eff16k-*.txt; cat compare.md | head -120
cd $OUT && tar czf r.tgz r && rm -rf r
