#!/bin/bash
# Checks the subgroup tier's small-grid rule on one GPU (the automatic choice against
# forced shapes) and the subgroup table at N=1024/4096 with SDPA efficient beside it.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
S="--no-progress --tiers subgroup --dtypes f32 --causal both --reps 10 --max-seconds 3 --seqs 1024,4096 --head-dims 64,128"
.gpu/ringattn bench $S > $R/auto.md 2>&1
RINGATTN_SMALL_GRID=0 .gpu/ringattn bench $S > $R/rule-off.md 2>&1
python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 1024,4096 --head-dims 64,128 --causal both --reps 10 --json $R/sdpa.json > $R/sdpa.txt 2>&1
grep -hE "^\| subgroup|^\| sdpa" $R/*.md $R/sdpa.txt | tee $R/summary.txt
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
