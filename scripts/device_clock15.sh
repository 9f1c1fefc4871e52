#!/bin/bash
# Fifteenth session: the SM clock and power while the tiled subgroup kernel (f32,
# N=16384, head_dim 64, 100 timed runs) and SDPA efficient f32 at the same shape run,
# sampled by nvidia-smi every 50 ms: what clock the issue-rate analysis should use.
source scripts/device_run.sh
results
nvidia-smi -q -d CLOCK > $R/clocks.txt 2>&1
Q="--query-gpu=timestamp,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu,clocks_throttle_reasons.active --format=csv -lms 50"
for k in tiled shuffle; do
  nvidia-smi $Q > $R/smi-$k.csv 2>&1 & P=$!
  RINGATTN_SUBGROUP_VARIANT=$k .gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --seqs 16384 --head-dims 64 --causal off --reps 100 --max-seconds 10 > $R/$k.md 2>&1
  kill $P
done
nvidia-smi $Q > $R/smi-sdpa.csv 2>&1 & P=$!
timeout 100 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims 64 --causal off --reps 100 > $R/sdpa.txt 2>&1
kill $P
cd $R && for f in smi-*.csv; do echo "== $f $(wc -l < $f) samples"; awk -F', ' 'NR>1 && $4+0 > 200 {n++; c+=$2; p+=$4} END {if (n) printf "busy samples %d: mean SM clock %.0f MHz, mean power %.0f W\n", n, c/n, p/n}' $f; done
grep -hE "^\| (subgroup|sdpa)" *.md sdpa.txt
