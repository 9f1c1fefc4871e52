#!/bin/bash
# Thirty-fifth session, second multi-GPU call: the ring's copies on a second Vulkan
# queue (crate::dma). ring-bench --gpu-timeline with RINGATTN_DMA_QUEUE=transfer (a
# transfer-only family, the default), off (wgpu's queue, as before) and same (a
# second queue of wgpu's family), causal zigzag 64K / 128K / 256K on ${DEVICES:-2,4}
# GPUs, checked against f64; dense contiguous 128K and the transport alone with the
# default; then the ring test binary (.gpu/ring) on these GPUs with the default.
source scripts/device_run.sh
ring_results
.gpu/ringattn info > $R/info.txt 2>&1; grep -E "ring:|^  *[0-9]" $R/info.txt | head -12
P="--check-rows 4 --devices ${DEVICES:-2,4} --reps 3 --gpu-timeline"
for mode in transfer off same; do
  RINGATTN_DMA_QUEUE=$mode timeout 100 .gpu/ringattn ring-bench $P --transport-mib 0 --seqs 65536,131072,262144 --causal causal --placements zigzag --json $R/causal-$mode.jsonl > $R/causal-$mode.md 2>&1
  echo "== $mode rc=$?"; grep -E "^\| [0-9]|rror" $R/causal-$mode.md
done
timeout 100 .gpu/ringattn ring-bench $P --transport-mib 128 --seqs 131072 --causal dense --placements contiguous --json $R/dense.jsonl > $R/dense.md 2>&1
echo "== dense rc=$?"; grep -E "^\| [0-9]|rror|GB/s" $R/dense.md
timeout 150 .gpu/ring --test-threads 1 > $R/test-ring.txt 2>&1; echo "rc=$?" >> $R/test-ring.txt
grep -hE "test result|FAILED|panicked|^rc=" $R/test-ring.txt
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
