#!/bin/bash
# Diagnosis of the 16K ring-suite cases that ran 3-4x slow on one device: the same
# presets in separate processes and orders, the ring-bench on one device, and the
# built-in tiles (RINGATTN_TUNE=0); all logs in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
B=".gpu/ringattn bench ring --devices 1 --seqs 16384 --causal off --reps 5 --no-progress --check"
for p in standard distributed standard hilbert; do
  timeout 40 $B --presets $p --json $R/$p.json > $R/bench-$p.txt 2>&1
done
RINGATTN_TUNE=0 timeout 40 $B --presets standard --json $R/standard-notune.json > $R/bench-standard-notune.txt 2>&1
timeout 60 .gpu/ringattn ring-bench --devices 1 --seqs 16384,32768 --placements contiguous,zigzag --causal dense --reps 5 --transport-mib 0 > $R/ringbench.txt 2>&1
timeout 40 .gpu/ringattn bench --tiers matrix --dtypes f16 --seqs 16384 --head-dims 64 --causal off > $R/kernel.txt 2>&1
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
