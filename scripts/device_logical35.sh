#!/bin/bash
# Thirty-fifth session, one H200 (no multi-GPU kind lent): two logical devices on the
# one GPU, the transport alone (128 MiB blocks) and a 64K / 128K causal zigzag ring with
# --gpu-timeline, with two DMA queues per device (default), one (RINGATTN_DMA_QUEUES=1)
# and none (RINGATTN_DMA_QUEUE=0).
source scripts/device_run.sh
results
P="--logical --devices 2 --check-rows 4 --reps 3 --gpu-timeline --transport-mib 128 --seqs 65536,131072 --causal causal --placements zigzag"
for v in two one off; do
  case $v in one) E="RINGATTN_DMA_QUEUES=1";; off) E="RINGATTN_DMA_QUEUE=0";; *) E="RINGATTN_X=1";; esac
  env $E timeout 60 .gpu/ringattn ring-bench $P --json $R/$v.jsonl > $R/$v.md 2>&1
  echo "== $v rc=$?"; grep -E "^\| [0-9]|rror|GB/s per link|device 0:" $R/$v.md | cut -c1-160
done
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
