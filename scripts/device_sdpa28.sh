#!/bin/bash
# Twenty-eighth session, eighth call: the causal launch orders beside SDPA in one call.
# ringattn bench matrix f16 and subgroup f32, causal, head_dims 64/128, N = 1K..64K
# (matrix) and 4K/16K (subgroup), built-in tiles, twice (the first case of a process has
# read slow); SDPA flash f16 and efficient f32 at the same shapes. One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
S="bench --no-progress --reps 10 --max-seconds 3 --preheat 2 --causal on --head-dims 64,128"
for r in a b; do
  timeout 90 .gpu/ringattn $S --tiers matrix --dtypes f16 --seqs 1024,4096,16384,65536 > $R/matrix-$r.md 2>&1
  timeout 60 .gpu/ringattn $S --tiers subgroup --dtypes f32 --seqs 4096,16384 > $R/subgroup-$r.md 2>&1
done
P="python3 benches/python/sdpa_baseline.py --reps 10 --causal on --head-dims 64,128"
timeout 60 $P --backends flash --dtypes f16 --seqs 1024,4096,16384,65536 > $R/sdpa-flash.txt 2>&1
timeout 60 $P --backends efficient --dtypes f32 --seqs 4096,16384 > $R/sdpa-eff.txt 2>&1
