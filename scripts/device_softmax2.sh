#!/bin/bash
# Fewer instructions per score and per staged K/V element in the matrix kernel (seventh
# session, 2026-11-26, after reading its SASS), one call on a 1-GPU machine.
# RINGATTN_MATRIX_EXP variants (measurement only): fast = the mask applied only on
# tiles that cut a row's keys; pzero = no select after exp2 (masked scores are NEG_BIG);
# sload = f16 K/V tiles loaded with plain 2-byte loads (8 contiguous per invocation) and
# element stores instead of coopLoad/coopStore fragments.
source scripts/device_run.sh
results
B="--no-progress --tiers matrix --causal off --reps 10 --max-seconds 3 --seqs 4096,16384"
one() { # name, env...
  local n=$1; shift
  env "$@" RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --dtypes f16,f32 --head-dims 64 > $R/$n-64.md 2>&1
  env "$@" RINGATTN_MATRIX_CFG=1,8,32 .gpu/ringattn bench $B --dtypes f16 --head-dims 128 > $R/$n-128.md 2>&1
  env "$@" RINGATTN_MATRIX_CFG=1,8,16 .gpu/ringattn bench $B --dtypes f32 --head-dims 128 > $R/$n-128f32.md 2>&1
}
for round in 1 2; do
  one base-$round RINGATTN_MATRIX_EXP=none
  one fast-$round RINGATTN_MATRIX_EXP=fast
  one pzero-$round RINGATTN_MATRIX_EXP=pzero
  one fastpzero-$round RINGATTN_MATRIX_EXP=fast,pzero
  one sload-$round RINGATTN_MATRIX_EXP=sload
  one all-$round RINGATTN_MATRIX_EXP=fast,pzero,sload
done
export RINGATTN_MATRIX_EXP=fast,pzero,sload
run_tests attention sparse
cd $R && for f in *.md; do echo "== $f"; grep -E "^\| matrix" $f; done > summary.txt
grep -hE "test result|FAILED|panicked|^rc=" test-*.txt >> summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
