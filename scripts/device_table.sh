#!/bin/bash
# The kernel table of BENCHMARKS.md (matrix f16, subgroup f32) beside PyTorch SDPA (flash,
# efficient) on the same card in one call; the tile search runs first (`ringattn tune`)
# so no timed process pays for it. Everything lands in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
export RINGATTN_TUNE_CACHE=$R/tiles.json
timeout 120 .gpu/ringattn tune --head-dims 64,128 > $R/tune.txt 2>&1
A="--no-progress --seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both --reps 10 --max-seconds 4"
timeout 150 .gpu/ringattn bench --tiers matrix --dtypes f16 --preheat 2 $A --json $R/matrix.json > $R/matrix.md 2>&1
timeout 200 .gpu/ringattn bench --tiers subgroup --dtypes f32 $A --json $R/subgroup.json > $R/subgroup.md 2>&1
timeout 150 python3 benches/python/sdpa_baseline.py --backends flash,efficient --dtypes f16,f32 --seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both --reps 10 --max-seconds 4 --json $R/sdpa.json > $R/sdpa.txt 2>&1
python3 - $R <<'PY' > $R/merged.json
import json, sys
r = sys.argv[1]
a = json.load(open(r + "/matrix.json")); b = json.load(open(r + "/subgroup.json"))
a["results"] += b["results"]
print(json.dumps(a))
PY
python3 scripts/bench_compare.py $R/merged.json $R/sdpa.json > $R/compare.md 2>&1
cat $R/compare.md | head -60
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
