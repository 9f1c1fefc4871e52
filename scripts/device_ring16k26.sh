#!/bin/bash
# Twenty-sixth session: why the ring suite's one-device Standard (contiguous) causal case
# at N=16384 runs 3x slower than Distributed (zigzag) on the same device (the suite run
# of 2026-11-28: 6.5-8.5 ms against 2.3). One GPU.
source scripts/device_run.sh
results
B=".gpu/ringattn"
timeout 60 $B bench --tiers matrix --dtypes f16 --seqs 16384 --head-dims 64 --causal both --reps 10 --preheat 1 > $R/plain.txt 2>&1
timeout 90 $B ring-bench --seqs 16384 --devices 1 --transport-mib 0 --reps 5 --check-rows 4 > $R/ringbench.txt 2>&1
RINGATTN_LONGEST_FIRST=0 timeout 90 $B ring-bench --seqs 16384 --devices 1 --transport-mib 0 --reps 5 --check-rows 4 > $R/ringbench-inorder.txt 2>&1
timeout 120 $B bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1 --check --check-rows 4 > $R/suite.txt 2>&1
RINGATTN_LONGEST_FIRST=0 timeout 120 $B bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1 > $R/suite-inorder.txt 2>&1
