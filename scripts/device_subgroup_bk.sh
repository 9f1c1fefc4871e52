#!/bin/bash
# Subgroup tier (f32), the new default (8-key tiles) against the old one (16-key tiles,
# RINGATTN_SUBGROUP_CFG) and SDPA's memory-efficient f32 kernel on the same card; then a
# checked run of the default (f32 and f16). Everything in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
A="--no-progress --tiers subgroup --dtypes f32 --seqs 4096,16384 --causal off --reps 10 --max-seconds 3"
.gpu/ringattn bench $A --preheat 2 --head-dims 64,128 --json $R/new.json > $R/new.md 2>&1
RINGATTN_SUBGROUP_CFG=4,4,16 .gpu/ringattn bench $A --head-dims 64 --json $R/old64.json > $R/old64.md 2>&1
RINGATTN_SUBGROUP_CFG=8,4,16 .gpu/ringattn bench $A --head-dims 128 --json $R/old128.json > $R/old128.md 2>&1
python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 4096,16384 --head-dims 64,128 --causal off --reps 10 --max-seconds 3 --json $R/sdpa.json > $R/sdpa.txt 2>&1
.gpu/ringattn bench compare --no-progress --tiers subgroup --dtypes f32,f16 --seqs 1024,4096 --head-dims 64,128 --causal both --check --max-seconds 1 > $R/check.md 2>&1
grep -hE "^\| (subgroup|sdpa)" $R/new.md $R/old64.md $R/old128.md $R/sdpa.txt
grep -cE "\| ok " $R/check.md; grep -E "FAIL|fail" $R/check.md | head -3
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
