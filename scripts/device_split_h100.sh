#!/bin/bash
# The f32 split kernel on an H100 (2026-11-26, sixth session): the attention and sparse
# tests, the f32 tile search, f32 speed against the subgroup tier and SDPA's
# memory-efficient fp32 kernel on the same card.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
RINGATTN_TUNE=0 timeout 150 .gpu/attention --test-threads 1 > $R/tests.txt 2>&1; echo "rc=$?" >> $R/tests.txt
RINGATTN_TUNE=0 timeout 90 .gpu/sparse --test-threads 1 > $R/sparse.txt 2>&1; echo "rc=$?" >> $R/sparse.txt
grep -hE "test result|FAILED|panicked|^rc=" $R/tests.txt $R/sparse.txt | head -20
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --dtypes f32,f16 --head-dims 64,128 > $R/tune.txt 2>&1
M="--no-progress --tiers matrix --dtypes f32,f16 --causal off --reps 10 --max-seconds 3 --seqs 4096,16384 --head-dims 64,128"
.gpu/ringattn bench $M > $R/bench.md 2>&1
.gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --causal off --reps 10 --max-seconds 3 --seqs 4096,16384 --head-dims 64,128 > $R/subgroup.md 2>&1
timeout 100 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 1024,4096,16384 --head-dims 64,128 --causal off --reps 10 --max-seconds 3 > $R/sdpa.txt 2>&1
