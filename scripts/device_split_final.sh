#!/bin/bash
# The f32 split kernel, last checks (2026-11-26, sixth session), one call on a 1-GPU
# machine: the ring, dilated and order tests (f32 now takes the matrix tier there too),
# the quickstart (f32, its default: error against the f64 reference), and the kernel
# table of the matrix tier in f32 beside SDPA's memory-efficient fp32 kernel.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
export RINGATTN_TUNE_CACHE=$R/tiles.json
for t in ring dilated order; do
  timeout 100 .gpu/$t --test-threads 2 > $R/test-$t.txt 2>&1; echo "rc=$?" >> $R/test-$t.txt
done
grep -hE "test result|FAILED|panicked|^rc=" $R/test-*.txt | head -20
for n in 4096 16384; do QUICKSTART_N=$n .gpu/quickstart > $R/quickstart-$n.txt 2>&1; done
grep -h "tier\|check\|gpu time" $R/quickstart-*.txt
.gpu/ringattn bench --no-progress --tiers matrix --dtypes f32 --causal both --reps 5 --max-seconds 3 --seqs 1024,4096,16384,65536 --head-dims 64,128 --json $R/bench.json > $R/bench.md 2>&1
timeout 200 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both --reps 5 --max-seconds 3 --json $R/sdpa.json > $R/sdpa.txt 2>&1
cd $R && grep -E "^\| matrix" bench.md | awk -F'|' '{print $4,$5,$6,$7,$9}'; grep -E "efficient" sdpa.txt | awk -F'|' '{print $4,$5,$6,$7,$9}'
