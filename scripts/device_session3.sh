#!/bin/bash
# One call on the lent 2-GPU machine: the staging probe, the transport alone, and the
# extreme and sweep suites; everything lands in $OUT/r.tgz (one file comes back).
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi topo -m > $R/topo.txt 2>&1
nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.current,pcie.link.width.current --format=csv > $R/gpus.txt 2>&1
timeout 60 .gpu/staging_probe 64 16 > $R/probe0.txt 2>&1
RINGATTN_ADAPTER= timeout 60 .gpu/ringattn ring-bench --devices 2 --seqs '' --transport-mib 128 > $R/transport.txt 2>&1
OUT=$R SUITES=extreme NAME=extreme OLD=0 timeout 260 bash scripts/device_suite.sh > $R/extreme.log 2>&1
OUT=$R SUITES=sweep NAME=sweep OLD=0 timeout 150 bash scripts/device_suite.sh > $R/sweep.log 2>&1
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
