#!/bin/bash
# Twelfth session, final build on one GPU: the tile searches twice on fresh caches (is
# the pick stable with the second timing?), the matrix f16 table (N = 1K..64K, head_dim
# 64 / 128, causal both) with the first search's picks and SDPA flash in the same call;
# the subgroup tier at f32 N=16384 (as picked, tiled forced) against SDPA efficient;
# the register-kernel and subgroup-search tests.
source scripts/device_run.sh
results
.gpu/ringattn info > $R/info.txt 2>&1
RINGATTN_TUNE_CACHE=$R/tiles-b.json .gpu/ringattn tune --head-dims 64,128 --dtypes f16,f32 > $R/tune-b.txt 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16,f32 > $R/tune.txt 2>&1
timeout 200 .gpu/attention --test-threads 1 register_kernel subgroup_search --nocapture > $R/test-regs-search.txt 2>&1; echo "rc=$?" >> $R/test-regs-search.txt
final_table
cd $R && {
  cat gpu.txt; grep -iE "matrix|subgroup" info.txt | head -8
  for f in tune-b.txt tune.txt; do echo "== $f"; grep -E "^best|head_dim" $f; done
  grep -hE "test result|FAILED|panicked|^rc=|cases|->" test-regs-search.txt
  grep -hE "^\| matrix" bench.md; grep -E "flash" sdpa.txt
  grep -hE "^\| subgroup" subgroup.md subgroup-tiled.md; grep -E "efficient" sdpa-eff.txt
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
