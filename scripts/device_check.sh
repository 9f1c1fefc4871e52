#!/bin/bash
# Correctness and first timings of every tier on the GPU machine.
source scripts/device_run.sh
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee $OUT/gpu.txt
.gpu/ringattn info 2>&1 | tee $OUT/info.txt | head -60
run() { echo "== $*"; env "$@" .gpu/quickstart 2>&1 | grep -v XDG | tail -4; }
for n in 1000 4096 16384; do
  for c in 0 1; do
    run QUICKSTART_N=$n QUICKSTART_CAUSAL=$c QUICKSTART_DTYPE=f16
    run QUICKSTART_N=$n QUICKSTART_CAUSAL=$c QUICKSTART_DTYPE=f16 QUICKSTART_D=128
    run QUICKSTART_N=$n QUICKSTART_CAUSAL=$c QUICKSTART_DTYPE=f32
  done
done
run QUICKSTART_N=4096 RINGATTN_TIER=portable
run QUICKSTART_N=4096 RINGATTN_TIER=subgroup QUICKSTART_DTYPE=f16
run QUICKSTART_N=1 QUICKSTART_DTYPE=f16
run QUICKSTART_N=17 QUICKSTART_DTYPE=f16 QUICKSTART_CAUSAL=1
