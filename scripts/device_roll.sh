#!/bin/bash
# One call on a 1-GPU machine: the matrix kernel with its 16-key-block loops unrolled
# (default) or kept as loops (RINGATTN_MATRIX_ROLL=1): driver register counts
# (examples/pipeline_stats.rs) and GPU time, built-in tiles (RINGATTN_TUNE=0) and the
# 16-key (2,4,16) shape at head_dim 64; the rolled kernel checked against f64 (compare
# suite). All in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
export RINGATTN_TUNE=0
M="--no-progress --tiers matrix --dtypes f16 --causal off --reps 10 --max-seconds 3 --seqs 4096,16384"
for roll in 0 1; do
  RINGATTN_MATRIX_ROLL=$roll RINGATTN_DUMP_WGSL=$R/wgsl-$roll .gpu/ringattn bench $M --head-dims 64,128 > $R/matrix-roll$roll.md 2>&1
  RINGATTN_MATRIX_ROLL=$roll RINGATTN_MATRIX_CFG=2,4,16 RINGATTN_DUMP_WGSL=$R/wgsl-$roll .gpu/ringattn bench $M --head-dims 64 > $R/matrix-2416-roll$roll.md 2>&1
  .gpu/pipeline_stats --adapter NVIDIA $R/wgsl-$roll/flash_matrix*.wgsl > $R/stats-roll$roll.txt 2>&1
done
# The rolled kernel against f64 (sizes not multiples of the tiles too).
RINGATTN_MATRIX_ROLL=1 .gpu/ringattn bench compare --presets standard --devices 1 --tiers matrix --dtypes f16 --seqs 1000,4096 \
  --head-dims 64,128 --check --check-rows 4 --reps 1 --no-progress > $R/check-roll1.txt 2>&1; echo "check exit $?" >> $R/check-roll1.txt
grep -E "check exit|compare \|" $R/check-roll1.txt | tail -6
cd $R && for f in *.md; do echo "$f $(grep -E '^\| matrix' $f | awk -F'|' '{print $4, $5, $7}' | tr '\n' ' ') $(grep -ciE 'fail|above tol' $f)"; done | tee summary.txt
for f in stats-*.txt; do echo "== $f"; grep -E "HEAD_DIM|Register|Local" $f | sed -E 's/.*\("BK", "([0-9]+)"\).*\("HEAD_DIM", "([0-9]+)"\).*\("MQ", "([0-9]+)"\).*\("W", "([0-9]+)"\).*/BK=\1 D=\2 MQ=\3 W=\4/'; done | tee -a summary.txt
cd - >/dev/null; tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
