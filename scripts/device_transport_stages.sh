#!/bin/bash
# One call on a 2-GPU machine: the ring transport alone with the per-stage breakdown
# `ring-bench` prints (exchange, first piece in, last piece out, host copies, waits for
# local staging, GPU submits, waits for acks), for a few staging/piece settings.
source scripts/device_run.sh
unset RINGATTN_ADAPTER
for cfg in ${CFGS:-device,16 device,64 host,16}; do
  st=${cfg%,*}; mib=${cfg#*,}
  echo "== staging=$st piece=${mib}MiB"
  RINGATTN_RING_STAGING=$st timeout 40 .gpu/ringattn ring-bench --devices 2 --seqs '' --transport-mib 128 --piece-bytes $((mib*1048576)) 2>&1 | grep -E "transport|device [0-9], ms"
done
