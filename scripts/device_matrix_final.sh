#!/bin/bash
# Matrix tier after adding (2,4,16) to the tile candidates: the search, the kernel table
# at N=1024-16384 (non-causal and causal) beside SDPA flash, and a checked compare run.
# Everything in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
export RINGATTN_TUNE_CACHE=$R/tiles.json
timeout 120 .gpu/ringattn tune --head-dims 64,128 > $R/tune.txt 2>&1
A="--no-progress --seqs 1024,4096,16384 --head-dims 64,128 --causal both --reps 10 --max-seconds 3"
timeout 120 .gpu/ringattn bench --tiers matrix --dtypes f16 $A --json $R/matrix.json > $R/matrix.md 2>&1
timeout 120 python3 benches/python/sdpa_baseline.py --backends flash --dtypes f16 --seqs 1024,4096,16384 --head-dims 64,128 --causal both --reps 10 --max-seconds 3 --json $R/sdpa.json > $R/sdpa.txt 2>&1
timeout 100 .gpu/ringattn bench compare --no-progress --tiers matrix --dtypes f16 --seqs 1024,4096 --head-dims 64,128 --causal both --check --max-seconds 1 > $R/check.md 2>&1
python3 scripts/bench_compare.py $R/matrix.json $R/sdpa.json > $R/compare.md 2>&1
grep -E "best" $R/tune.txt; head -24 $R/compare.md | tail -16; grep -c "| ok " $R/check.md
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
