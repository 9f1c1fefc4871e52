#!/bin/bash
# One call on a 2-GPU machine: the transport alone (stage breakdown) with one and two
# sets of send staging (RINGATTN_RING_SEND_SETS), then the ring at 128K causal zigzag
# and 256K dense on 1 and 2 GPUs with each.
source scripts/device_run.sh
unset RINGATTN_ADAPTER
for sets in 1 2; do
  for mib in 16 64; do
    echo "== sets=$sets piece=${mib}MiB"
    RINGATTN_RING_SEND_SETS=$sets timeout 40 .gpu/ringattn ring-bench --devices 2 --seqs '' --transport-mib 128 --piece-bytes $((mib*1048576)) 2>&1 | grep -E "transport|device [0-9], ms"
  done
done
for sets in 1 2; do
  echo "== ring, sets=$sets"
  RINGATTN_RING_SEND_SETS=$sets timeout 100 .gpu/ringattn ring-bench --devices 1,2 --seqs 131072 --causal causal --placements zigzag --transport-mib 0 2>&1 | grep -E "^\| 131072"
  RINGATTN_RING_SEND_SETS=$sets timeout 100 .gpu/ringattn ring-bench --devices 2 --no-single --seqs 65536 --causal dense --placements contiguous --transport-mib 0 2>&1 | grep -E "^\| 65536"
done
