#!/bin/bash
# Thirteenth session: the current build (unchanged kernels since the twelfth session's
# final commit) on an H200, which was not re-measured after the twelfth session's
# small-causal-grid rule: the GPU test suites, a fresh tile search, the matrix f16 table
# (N = 1K..64K, head_dim 64 / 128, causal both) beside SDPA flash, the subgroup tier at
# f32 N=16384 (as picked and tiled forced) beside SDPA efficient, all in one call.
source scripts/device_run.sh
results
.gpu/ringattn info > $R/info.txt 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16,f32 > $R/tune.txt 2>&1
final_table
TEST_LIMIT=300 run_tests attention sparse tiled
cd $R && {
  cat gpu.txt; grep -iE "tier:|kernels:|matrix:" info.txt | head -6
  grep -E "^best|head_dim" tune.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=" $f; done
  grep -hE "^\| matrix" bench.md; grep -E "flash" sdpa.txt
  grep -hE "^\| subgroup" subgroup.md subgroup-tiled.md; grep -E "efficient" sdpa-eff.txt
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
