#!/bin/bash
# Eighth session (2026-11-26), one call on a 1-GPU machine: the split (f32) matrix
# kernel with the rescale of O out of its hot loop against the previous build (carried
# as .gpu/ringattn-prev), two rounds; the attention and sparse tests; the driver's
# register and spill statistics of the f16 kernel with and without the pipelined loop
# (RINGATTN_MATRIX_PIPE) at three shapes.
source scripts/device_run.sh
results
B="--no-progress --tiers matrix --dtypes f32 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
for round in 1 2; do
  for bin in ringattn ringattn-prev; do
    RINGATTN_MATRIX_CFG=2,4,16 .gpu/$bin bench $B --head-dims 64 > $R/$bin-64-$round.md 2>&1
    RINGATTN_MATRIX_CFG=1,8,16 .gpu/$bin bench $B --head-dims 128 > $R/$bin-128-$round.md 2>&1
  done
done
run_tests attention sparse
for v in "2,4,16 64" "2,8,16 128" "1,8,32 64"; do
  set -- $v
  for pipe in 0 1; do
    RINGATTN_DUMP_WGSL=$R/wgsl-$1-$pipe RINGATTN_MATRIX_PIPE=$pipe RINGATTN_MATRIX_CFG=$1 .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --seqs 1024 --head-dims $2 --causal off --reps 1 > /dev/null 2>&1
    .gpu/pipeline_stats --adapter NVIDIA $R/wgsl-$1-$pipe/*matrix*.wgsl > $R/stats-$1-$pipe.txt 2>&1
  done
done
cd $R && { cat gpu.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix" $f; done; for f in stats-*.txt; do echo "== $f"; grep -iE "register|spill|local" $f | head -8; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
