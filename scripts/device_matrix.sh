#!/bin/bash
# Matrix-tier correctness at awkward sizes, then timings (GPU machine).
source scripts/device_run.sh
run() { echo "== $*"; env "$@" .gpu/quickstart 2>&1 | grep -v XDG | grep -E "tier|gpu time|check|Error" | tr '\n' ' '; echo; }
for n in 1 17 31 32 33 100 1000; do for c in 0 1; do for d in 64 128; do run QUICKSTART_N=$n QUICKSTART_CAUSAL=$c QUICKSTART_DTYPE=f16 QUICKSTART_D=$d; done; done; done
run QUICKSTART_N=1000 QUICKSTART_DTYPE=f16 QUICKSTART_D=32
run QUICKSTART_N=1000 QUICKSTART_DTYPE=f16 QUICKSTART_D=96 QUICKSTART_CAUSAL=1
for n in 4096 16384 65536; do for c in 0 1; do for d in 64 128; do run QUICKSTART_N=$n QUICKSTART_CAUSAL=$c QUICKSTART_DTYPE=f16 QUICKSTART_D=$d $EXTRA; done; done; done
