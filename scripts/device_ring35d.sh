#!/bin/bash
# Thirty-fifth session, fourth multi-GPU call: the DMA-queue ring with every buffer both queue families use shared concurrently (host pieces, slots, the transport's buffers; the step-0 block sent from slot 0), after the fix for
# wgpu's lazy zero-fill (slots and the transport's destination cleared once): the ring
# test binary (.gpu/ring) on these GPUs, then ring-bench with the default (transfer
# family) and off, causal zigzag 64K / 128K / 256K with --gpu-timeline, then dense
# contiguous 128K and the transport alone (128 MiB blocks), ${DEVICES:-2,4} GPUs.
source scripts/device_run.sh
ring_results
timeout 150 .gpu/ring --test-threads 1 > $R/test-ring.txt 2>&1; echo "rc=$?" >> $R/test-ring.txt
grep -hE "test result|FAILED|panicked|^rc=" $R/test-ring.txt
P="--check-rows 4 --devices ${DEVICES:-2,4} --reps 3 --gpu-timeline"
for mode in transfer off; do
  RINGATTN_DMA_QUEUE=$mode timeout 100 .gpu/ringattn ring-bench $P --transport-mib 0 --seqs 65536,131072,262144 --causal causal --placements zigzag --json $R/causal-$mode.jsonl > $R/causal-$mode.md 2>&1
  echo "== $mode rc=$?"; grep -E "^\| [0-9]|rror" $R/causal-$mode.md
done
grep -A5 "N=131072" $R/causal-transfer.md
timeout 100 .gpu/ringattn ring-bench $P --transport-mib 128 --seqs 131072 --causal dense --placements contiguous --json $R/dense.jsonl > $R/dense.md 2>&1
echo "== dense rc=$?"; grep -E "^\| [0-9]|rror|GB/s|transport" $R/dense.md
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
