#!/bin/bash
# One call on an H200: the 16-key shape (2,4,16) that is fastest on an H100 against the
# H200's tuned (1,8,32), forced in turn (RINGATTN_MATRIX_CFG), same process order both
# ways, plus what the tile search picks on this machine. All in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 > $R/tune.txt 2>&1
M="--no-progress --tiers matrix --dtypes f16 --causal off --reps 10 --max-seconds 3 --seqs 4096,16384 --head-dims 64"
for cfg in 1,8,32 2,4,16 1,8,32 2,4,16; do
  RINGATTN_MATRIX_CFG=$cfg .gpu/ringattn bench $M >> $R/m-$cfg.md 2>&1
done
cd $R && for f in *.md; do echo "$f $(grep -E '^\| matrix' $f | awk -F'|' '{print $4, $5, $7}' | tr '\n' ' ')"; done | tee summary.txt
grep -iE "best|->|ms" tune.txt | head -20 | tee -a summary.txt
cd - >/dev/null; tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
