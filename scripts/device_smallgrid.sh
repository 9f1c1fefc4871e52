#!/bin/bash
# Small grids on the matrix tier (few query tiles x heads): tile shapes and key splits
# at N=1024 (H=8) and N=4096 (H=1, 2), against the defaults; all in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
B=".gpu/ringattn bench --tiers matrix --dtypes f16 --causal off --reps 20 --preheat 1"
for d in 64 128; do
  for cfg in default 1,4,32 2,2,32 1,2,64 1,2,32; do
    for sp in 1 2 4; do
      [ "$cfg" != default ] && [ "$sp" != 1 ] && continue
      e="RINGATTN_KEY_SPLITS=$sp"; [ "$cfg" != default ] && e="$e RINGATTN_MATRIX_CFG=$cfg"
      for hs in "8 1024" "1 4096" "2 4096"; do
        set -- $hs
        echo "== D=$d cfg=$cfg splits=$sp H=$1 N=$2" >> $R/all.txt
        env $e timeout 30 $B --head-dims $d --heads $1 --seqs $2 2>&1 | grep -E "^\| matrix" >> $R/all.txt
      done
    done
  done
done
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
