#!/bin/bash
# The f32 split kernel of the matrix tier (2026-11-26, sixth session): correctness on
# the GPU (the attention and sparse tests, which run f32 on every tier), the tile
# search for f32, then its speed against the subgroup tier and SDPA's memory-efficient
# fp32 kernel on the same card. One call on a 1-GPU machine.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
export RINGATTN_TUNE=0
timeout 200 .gpu/attention --test-threads 1 > $R/tests.txt 2>&1; echo "rc=$?" >> $R/tests.txt
timeout 120 .gpu/sparse --test-threads 1 > $R/sparse.txt 2>&1; echo "rc=$?" >> $R/sparse.txt
grep -hE "test result|FAILED|panicked|^NVIDIA|^rc=" $R/tests.txt $R/sparse.txt | head -30
unset RINGATTN_TUNE; export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --dtypes f32 --head-dims 64,128 > $R/tune.txt 2>&1
M="--no-progress --tiers matrix,subgroup --dtypes f32 --causal off --reps 10 --max-seconds 3 --seqs 4096,16384 --head-dims 64,128"
.gpu/ringattn bench $M > $R/bench.md 2>&1
.gpu/ringattn bench --no-progress --tiers matrix --dtypes f32 --causal on --reps 5 --max-seconds 3 --seqs 1024,65536 --head-dims 64 > $R/causal.md 2>&1
timeout 150 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both --reps 10 --max-seconds 3 > $R/sdpa.txt 2>&1
cd $R && grep -E "^best|^f32" tune.txt; for f in bench.md causal.md; do echo "== $f"; grep -E "^\| (matrix|subgroup)" $f | awk -F'|' '{print $2,$4,$5,$6,$7,$9}'; done; grep -E "efficient" sdpa.txt | awk -F'|' '{print $4,$5,$6,$7,$9}'
