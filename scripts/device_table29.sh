#!/bin/bash
# Twenty-ninth session, first call: the current build's whole table in one call, and what
# the built-in tiles cost against the searched ones. One GPU.
# 1. built-in tiles (RINGATTN_TUNE=0), matrix f16, N = 1K..64K, head_dims 64/128, causal
#    both, in the fresh machine's first process and again (the warm-up now counts from
#    after a case's first call: the first process should read as the second);
# 2. head_dim 128 at the searches' pick (2,8,16) forced on flash_matrix launches
#    (non-causal N >= 4K, causal 64K), built-in otherwise;
# 3. fresh searches (`ringattn tune`, cache $R/tiles.json), then every tier's table at
#    the picked tiles: matrix f16/f32, subgroup f32, portable f32 (N <= 16K);
# 4. SDPA flash / efficient / math at the same shapes.
source scripts/device_run.sh
results
B="bench --no-progress --reps 10 --max-seconds 3 --preheat 2"
ALL="--seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both"
for r in a b; do
  RINGATTN_TUNE=0 timeout 90 .gpu/ringattn $B --tiers matrix --dtypes f16 $ALL > $R/builtin-$r.md 2>&1
done
RINGATTN_TUNE=0 RINGATTN_MATRIX_CFG=2,8,16 timeout 60 .gpu/ringattn $B --tiers matrix --dtypes f16 --head-dims 128 --causal off --seqs 4096,16384,65536 > $R/forced-nc.md 2>&1
RINGATTN_TUNE=0 RINGATTN_MATRIX_CFG=2,8,16 timeout 40 .gpu/ringattn $B --tiers matrix --dtypes f16 --head-dims 128 --causal on --seqs 65536 > $R/forced-c64k.md 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
timeout 120 .gpu/ringattn tune --head-dims 64,128 --dtypes f16,f32 > $R/tune.txt 2>&1
timeout 120 .gpu/ringattn $B --tiers matrix --dtypes f16,f32 $ALL --json $R/matrix.json > $R/matrix.md 2>&1
timeout 90 .gpu/ringattn $B --tiers subgroup --dtypes f32 $ALL --json $R/subgroup.json > $R/subgroup.md 2>&1
timeout 60 .gpu/ringattn $B --tiers portable --dtypes f32 --seqs 1024,4096,16384 --head-dims 64,128 --causal both --json $R/portable.json > $R/portable.md 2>&1
P="python3 benches/python/sdpa_baseline.py --reps 10 --head-dims 64,128 --causal both"
timeout 60 $P --backends flash --dtypes f16 --seqs 1024,4096,16384,65536 --json $R/sdpa-flash.json > $R/sdpa-flash.txt 2>&1
timeout 90 $P --backends efficient --dtypes f32 --seqs 1024,4096,16384,65536 --json $R/sdpa-eff.json > $R/sdpa-eff.txt 2>&1
timeout 60 $P --backends math --dtypes f32 --seqs 1024,4096,16384 --json $R/sdpa-math.json > $R/sdpa-math.txt 2>&1
cd $OUT && tar czf r.tgz r && rm -rf r
