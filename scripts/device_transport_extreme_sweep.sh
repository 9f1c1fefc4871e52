#!/bin/bash
# One call on the lent 2-GPU machine: the transport alone with both kinds of receive
# staging, the 2-GPU ring at 128K causal with both, and the extreme and sweep suites;
# everything lands in $OUT/r.tgz (one file comes back).
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.current,pcie.link.width.current --format=csv > $R/gpus.txt 2>&1
for st in host device; do
  for pb in 16777216 67108864; do
    RINGATTN_RING_STAGING=$st RINGATTN_ADAPTER= timeout 60 .gpu/ringattn ring-bench --devices 2 --seqs '' --transport-mib 128 --piece-bytes $pb > $R/transport-$st-$pb.txt 2>&1
  done
  RINGATTN_RING_STAGING=$st RINGATTN_ADAPTER= timeout 90 .gpu/ringattn ring-bench --devices 2 --seqs 131072,262144 --causal causal --placements zigzag --reps 3 --transport-mib 0 --json $R/ring-$st.jsonl > $R/ring-$st.txt 2>&1
done
OUT=$R SUITES=extreme NAME=extreme OLD=0 timeout 200 bash scripts/device_suite.sh > $R/extreme.log 2>&1
OUT=$R SUITES=sweep NAME=sweep OLD=0 timeout 150 bash scripts/device_suite.sh > $R/sweep.log 2>&1
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
