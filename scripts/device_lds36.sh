#!/bin/bash
# Thirty-sixth session: examples/lds_probe.rs with its new L1 probes ("K" read from a
# storage buffer that every workgroup reads, so from the L1 cache, instead of from
# workgroup memory): 1056 workgroups x 200 iterations, and one workgroup per SM.
source scripts/device_run.sh
results
.gpu/lds_probe > $R/lds-a.txt 2>&1
.gpu/lds_probe 132 1600 > $R/lds-b.txt 2>&1
.gpu/lds_probe > $R/lds-c.txt 2>&1
cat $R/lds-a.txt $R/lds-b.txt $R/lds-c.txt
