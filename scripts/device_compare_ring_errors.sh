#!/bin/bash
# One call on the lent 2-GPU machine: the compare and ring suites (preset cases timed on
# resident shards), then the error-path tests on the GPU with 4 test threads (a hang
# was seen there once); all in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > $R/gpus.txt 2>&1
OUT=$R SUITES=ring NAME=ring OLD=0 BUDGET=2 timeout 150 bash scripts/device_suite.sh > $R/ring.log 2>&1
OUT=$R SUITES=compare NAME=compare OLD=0 BUDGET=2 timeout 220 bash scripts/device_suite.sh > $R/compare.log 2>&1
timeout 90 .gpu/errors-test --test-threads 4 > $R/errors-4.txt 2>&1; echo "rc $?" >> $R/errors-4.txt
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
