#!/bin/bash
# The f16 matrix kernel with the rescale of O out of its hot loop (seventh session,
# 2026-11-26), one call on a 1-GPU machine: the attention and sparse tests first (f16
# and f32 against the f64 reference on the searched tiles), then the kernel at the
# searched tiles beside the ablation's figures (benchmarks/results/2026-11-26-h100-ablate7).
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16 > $R/tune.txt 2>&1
run_tests attention sparse
B="--no-progress --tiers matrix --dtypes f16 --causal both --reps 5 --max-seconds 3 --seqs 4096,16384,65536"
for round in 1 2; do
  RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/out-64-$round.md 2>&1
  RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/out-128-$round.md 2>&1
done
cd $R && { grep -E "^best" tune.txt; grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
