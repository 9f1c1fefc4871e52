#!/bin/bash
# One call on the lent 4-GPU machine: the transport alone with each kind of receive
# staging over 2 and 4 GPUs, then the compare and ring suites; all in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > $R/gpus.txt 2>&1
nvidia-smi topo -m > $R/topo.txt 2>&1
for st in device mixed host; do
  RINGATTN_RING_STAGING=$st RINGATTN_ADAPTER= timeout 80 .gpu/ringattn ring-bench --devices 2,4 --seqs '' --transport-mib 128 > $R/transport-$st.txt 2>&1
done
OUT=$R SUITES=compare NAME=compare OLD=1 BUDGET=2 timeout 200 bash scripts/device_suite.sh > $R/compare.log 2>&1
OUT=$R SUITES=ring NAME=ring OLD=0 BUDGET=2 timeout 150 bash scripts/device_suite.sh > $R/ring.log 2>&1
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
