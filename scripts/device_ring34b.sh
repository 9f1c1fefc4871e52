#!/bin/bash
# Thirty-fourth session, second 4-GPU call: the ring deadlock of call 1 (4 GPUs, causal,
# contiguous, 256K: all GPUs idle until the script's timeout). Builds with and without
# the fix (transport::idle_round polls the device in every idle round): the ring test
# with a slow device (RingOptions::slow_device) on 4 logical devices of one H200, then
# ring-bench at 256K causal on 4 GPUs (the fixed build), 64K / 128K causal contiguous
# again, and the unfixed build at 256K causal contiguous (bounded by timeout 90).
source scripts/device_run.sh
ring_results
clocks_start
timeout 90 .gpu/ring-nofix a_slow_receiver --nocapture > $R/test-nofix.txt 2>&1; echo "rc=$?" >> $R/test-nofix.txt
timeout 90 .gpu/ring a_slow_receiver --nocapture > $R/test-fix.txt 2>&1; echo "rc=$?" >> $R/test-fix.txt
timeout 200 $RB --seqs 262144 --devices 4 --causal causal --placements contiguous,zigzag --reps 3 \
  --transport-mib 0 --json $R/ring256k.jsonl > $R/ring256k.md 2>&1; echo "rc=$?" >> $R/ring256k.md
timeout 120 $RB --seqs 65536,131072 --devices 4 --causal causal --placements contiguous --reps 5 --no-single \
  --transport-mib 0 --json $R/ring-again.jsonl > $R/ring-again.md 2>&1; echo "rc=$?" >> $R/ring-again.md
timeout 90 .gpu/ringattn-nofix ring-bench --check-rows 4 --seqs 262144 --devices 4 --causal causal --placements contiguous --reps 3 \
  --no-single --transport-mib 0 > $R/ring256k-nofix.md 2>&1; echo "rc=$?" >> $R/ring256k-nofix.md
clocks_stop
grep -hE "^\| [0-9]|rror|rc=|test result|panicked" $R/*.md $R/test-*.txt | tee $R/summary.txt
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
