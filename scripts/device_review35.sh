#!/bin/bash
# Thirty-fifth session, final review, one H200: the ring tests (logical devices, DMA
# queues) without the slots' clear (the shared buffers come from hal, which wgpu counts
# as written) and a ring-bench's first call (no warm-up) checked against f64, with the
# transport alone.
source scripts/device_run.sh
results
unset RINGATTN_ADAPTER
TEST_LIMIT=100 run_tests ring
grep -hE "test result|^rc=|panicked" $R/test-ring.txt
timeout 60 .gpu/ringattn ring-bench --logical --devices 2 --check-rows 8 --reps 1 --no-warmup --transport-mib 64 --seqs 16384 --causal both --placements zigzag > $R/first.md 2>&1
echo "first rc=$?"; grep -E "^\| [0-9]|rror|GB/s per" $R/first.md | cut -c1-160
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
