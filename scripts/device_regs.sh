#!/bin/bash
# Eleventh session: the matrix tier's register kernel (flash_regs.wgsl,
# RINGATTN_MATRIX_REGS=1): layout probe, attention tests through it, and a tile sweep
# at N=4096/16384 (f16, non-causal) against the workgroup-memory kernel at the H100's
# picks, in the same call.
source scripts/device_run.sh
results
export RINGATTN_DEBUG=1
RINGATTN_MATRIX_REGS=1 RINGATTN_MATRIX_CFG=2,4,32 timeout 300 .gpu/attention --test-threads 2 > $R/test-regs.txt 2>&1; echo "rc=$?" >> $R/test-regs.txt
unset RINGATTN_DEBUG
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/base-64.md 2>&1
RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/base-128.md 2>&1
for cfg in ${CFG64:-2,4,32 2,4,16 1,4,32 2,4,64 1,8,32 4,4,32}; do
  RINGATTN_MATRIX_REGS=1 RINGATTN_MATRIX_CFG=$cfg timeout 60 .gpu/ringattn bench $B --head-dims 64 > $R/regs-64-$cfg.md 2>&1
done
for cfg in ${CFG128:-1,4,32 1,8,32 2,4,32 1,4,64 2,4,16}; do
  RINGATTN_MATRIX_REGS=1 RINGATTN_MATRIX_CFG=$cfg timeout 60 .gpu/ringattn bench $B --head-dims 128 > $R/regs-128-$cfg.md 2>&1
done
cd $R && {
  cat gpu.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "probe|test result|FAILED|panicked|^rc=|error" $f | head -30; done
  for f in base-*.md regs-*.md; do echo "== $f"; grep -E "^\| matrix|rror" $f | head -5; done
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
