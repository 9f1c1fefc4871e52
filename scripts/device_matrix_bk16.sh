#!/bin/bash
# Matrix tier with 16-key tiles (fewer score registers and less workgroup memory per
# subgroup) against the tuned shapes, f16, N=16384 and 4096, non-causal (GPU machine).
source scripts/device_run.sh
A="--no-progress --tiers matrix --dtypes f16 --seqs 4096,16384 --causal off --reps 10 --max-seconds 3"
.gpu/ringattn bench $A --head-dims 64,128 > /dev/null 2>&1  # tile search and warm-up, untimed
for cfg in "" 1,8,32 1,4,16 2,4,16 1,2,16 2,2,16 4,2,16 1,8,16; do
  for d in 64 128; do
    echo "== cfg=$cfg D=$d $(RINGATTN_MATRIX_CFG=$cfg .gpu/ringattn bench $A --head-dims $d 2>&1 | grep -E '^\| matrix' | awk -F'|' '{print $4, $7}' | tr '\n' ' ')"
  done
done
