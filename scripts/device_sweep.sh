#!/bin/bash
# Matrix-tier tile sweep (RINGATTN_MATRIX_CFG=mq,w,bk) at N=16384 (GPU machine).
source scripts/device_run.sh
run() { echo "== $*"; env "$@" .gpu/quickstart 2>&1 | grep -v XDG | grep -E "tier|gpu time|check|Error" | tr '\n' ' '; echo; }
for n in 17 100 1000; do for c in 0 1; do for d in 64 128; do run QUICKSTART_N=$n QUICKSTART_CAUSAL=$c QUICKSTART_DTYPE=f16 QUICKSTART_D=$d; done; done; done
for cfg in 1,4,64 2,4,32 1,8,32 2,2,64 1,8,64 2,4,64 4,2,32; do run QUICKSTART_N=16384 QUICKSTART_DTYPE=f16 QUICKSTART_D=64 RINGATTN_MATRIX_CFG=$cfg; done
for cfg in 1,4,32 2,4,32 1,8,32 2,2,32 1,4,64; do run QUICKSTART_N=16384 QUICKSTART_DTYPE=f16 QUICKSTART_D=128 RINGATTN_MATRIX_CFG=$cfg; done
