#!/bin/bash
# One short call on the lent 2-GPU machine: the ring suite at 16K and the compare suite
# up to 8K, with --preheat and the time-based warm-up (to check that short cases no
# longer run at dropped clocks); all in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
OUT=$R SUITES=ring NAME=ring16k OLD=0 BUDGET=2 EXTRA="--seqs 16384" timeout 120 bash scripts/device_suite.sh > $R/ring.log 2>&1
OUT=$R SUITES=compare NAME=compare8k OLD=0 BUDGET=2 EXTRA="--max-seq 8192" timeout 150 bash scripts/device_suite.sh > $R/compare.log 2>&1
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
