#!/bin/bash
# The benchmark run behind BENCHMARKS.md: ringattn bench and PyTorch SDPA on the same
# card, same shapes, one call (GPU machine).
source scripts/device_run.sh
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
ARGS="--seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both --reps 10 --max-seconds 4"
.gpu/ringattn bench --tiers matrix,subgroup,portable --dtypes f16,f32 $ARGS --json $OUT/ringattn.json 2>&1 | grep -v XDG > $OUT/ringattn.md
python3 benches/python/sdpa_baseline.py $ARGS --json $OUT/sdpa.json > $OUT/sdpa.md 2> $OUT/sdpa.err
tail -5 $OUT/sdpa.err
grep -E "^\| (matrix|sdpa-flash)" $OUT/ringattn.md $OUT/sdpa.md | head -40
