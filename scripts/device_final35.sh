#!/bin/bash
# Thirty-fifth session, the final build (b7e0540) on 2 GPUs: the ring test binary, then
# 128K / 256K causal zigzag and dense contiguous 128K against one GPU (checked against
# f64) with the transport alone.
source scripts/device_run.sh
ring_results
TEST_LIMIT=100 run_tests ring
grep -hE "test result|^rc=" $R/test-ring.txt
timeout 90 .gpu/ringattn ring-bench --check-rows 4 --devices 2 --reps 3 --transport-mib 128 --seqs 131072,262144 --causal causal --placements zigzag --json $R/causal.jsonl > $R/causal.md 2>&1
echo "causal rc=$?"; grep -E "^\| [0-9]|rror|GB/s per" $R/causal.md | cut -c1-150
timeout 60 .gpu/ringattn ring-bench --check-rows 4 --devices 2 --reps 3 --transport-mib 0 --seqs 131072 --causal dense --placements contiguous --json $R/dense.jsonl > $R/dense.md 2>&1
echo "dense rc=$?"; grep -E "^\| [0-9]|rror" $R/dense.md | cut -c1-150
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
