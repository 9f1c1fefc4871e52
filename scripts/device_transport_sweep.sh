#!/bin/bash
# One call on a 2-GPU machine: the ring transport alone (128 MiB blocks, 8 steps, both
# links at once) over receive staging (device, host), piece size (16, 32, 64 MiB) and
# copy threads (4, 8); then the ring at 128K causal zigzag on 1 and 2 GPUs. All in
# $OUT/r.tgz.
source scripts/device_run.sh
unset RINGATTN_ADAPTER
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpus.txt 2>&1
nvidia-smi topo -m > $R/topo.txt 2>&1
for st in device host; do
  for mib in 16 32 64; do
    for th in 4 8; do
      echo "== staging=$st piece=${mib}MiB threads=$th" >> $R/transport.txt
      RINGATTN_RING_STAGING=$st RINGATTN_RING_COPY_THREADS=$th timeout 40 .gpu/ringattn ring-bench --devices 2 --seqs '' --transport-mib 128 --piece-bytes $((mib*1048576)) >> $R/transport.txt 2>&1
    done
  done
done
timeout 150 .gpu/ringattn ring-bench --devices 1,2 --seqs 131072 --causal causal --placements zigzag --transport-mib 0 > $R/ring128k.txt 2>&1
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
