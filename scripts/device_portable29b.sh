#!/bin/bash
# Twenty-ninth session, sixth call: the portable tier (keys four at a time) at N =
# 1K..16K, head_dims 64/128, causal both, beside SDPA math in the same call (the current
# kernel table's portable rows), and a build taking eight keys at a time
# (.gpu/ringattn-k8) at the same shapes. One GPU.
source scripts/device_run.sh
results
B="bench --no-progress --tiers portable --dtypes f32 --seqs 1024,4096,16384 --head-dims 64,128 --causal both --reps 10 --max-seconds 2 --preheat 1"
timeout 60 .gpu/ringattn $B --json $R/portable.json > $R/portable.md 2>&1
timeout 60 .gpu/ringattn-k8 $B > $R/portable-k8.md 2>&1
timeout 60 python3 benches/python/sdpa_baseline.py --backends math --dtypes f32 --reps 10 --seqs 1024,4096,16384 --head-dims 64,128 --causal both --json $R/sdpa-math.json > $R/sdpa-math.txt 2>&1
cd $OUT && tar czf r.tgz r && rm -rf r
