#!/bin/bash
# Thirty-fourth session, one call on a 4-GPU machine: the ring against one device with
# the current kernels (the ring tables in BENCHMARKS.md date from 2026-11-26, when one
# H200 took 118 ms for 64K dense at head_dim 64; the matrix tier now takes ~34): N = 32K
# to 256K, 1 / 2 / 4 devices, both placements, causal both, transport alone; then 1M
# causal zigzag on 4 and 2 GPUs. Checked against f64 (4 rows) and one device. Clocks
# sampled every 20 ms. All in $OUT/r.tgz.
source scripts/device_run.sh
ring_results
clocks_start
timeout 400 $RB --seqs 32768,65536,131072,262144 --devices 1,2,4 --causal both --placements contiguous,zigzag --reps 3 \
  --transport-mib 128 --json $R/ring.jsonl > $R/ring.md 2>&1
timeout 150 $RB --seqs 1048576 --devices 4,2 --placements zigzag --causal causal --reps 1 --no-warmup --no-single \
  --transport-mib 0 --json $R/ring1m.jsonl > $R/ring1m.md 2>&1
clocks_stop
grep -hE "^\| [0-9]|rror|GB/s" $R/*.md | tee $R/summary.txt
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
