#!/bin/bash
# Twenty-sixth session, last call: the ring suite at N=16384 on 2 x H200 with the final
# build (per-case reheat; block masks on the register kernel), in a first process on a
# fresh machine (where the 16K outliers used to appear), checked against f64.
source scripts/device_run.sh
ring_results
timeout 170 .gpu/ringattn bench ring --no-progress --max-seconds 2 --seqs 16384 --check --check-rows 4 --json $R/ring16k.json > $R/ring16k.md 2>&1
