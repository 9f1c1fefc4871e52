#!/bin/bash
# Eleventh session: the register kernel with unmasked / masked tile loops and staging
# without per-unit checks on full tiles; tile sweep (N=4096/16384, f16, non-causal and
# causal at 16K for the picks), loops kept rolled (RINGATTN_ROLLED_LOOPS=flash_regs) at
# one shape, the attention tests, driver statistics.
source scripts/device_run.sh
results wgsl dump
export RINGATTN_MATRIX_REGS=1
timeout 300 .gpu/attention --test-threads 2 > $R/test-regs.txt 2>&1; echo "rc=$?" >> $R/test-regs.txt
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
RINGATTN_MATRIX_REGS=0 RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/base-64.md 2>&1
RINGATTN_MATRIX_REGS=0 RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/base-128.md 2>&1
RINGATTN_ROLLED_LOOPS=flash_regs RINGATTN_MATRIX_CFG=2,4,32 .gpu/ringattn bench $B --head-dims 64 > $R/rolled-64-2,4,32.md 2>&1
for cfg in 2,4,32 2,4,64 2,8,32 1,8,64 2,2,64 4,2,32 4,4,16; do
  RINGATTN_MATRIX_CFG=$cfg timeout 60 .gpu/ringattn bench $B --head-dims 64 > $R/regs-64-$cfg.md 2>&1
done
for cfg in 1,8,32 1,4,64 1,8,64 2,4,32 2,4,64 2,4,16; do
  RINGATTN_MATRIX_CFG=$cfg timeout 60 .gpu/ringattn bench $B --head-dims 128 > $R/regs-128-$cfg.md 2>&1
done
S="--no-progress --tiers matrix --dtypes f16 --causal off --reps 2 --seqs 1024"
for cfg in 2,4,32 2,4,64; do RINGATTN_DUMP_WGSL=$R/wgsl RINGATTN_MATRIX_CFG=$cfg .gpu/ringattn bench $S --head-dims 64 > /dev/null 2>&1; done
for cfg in 1,8,32 2,4,32; do RINGATTN_DUMP_WGSL=$R/wgsl RINGATTN_MATRIX_CFG=$cfg .gpu/ringattn bench $S --head-dims 128 > /dev/null 2>&1; done
.gpu/pipeline_stats --adapter NVIDIA --dump $R/dump $R/wgsl/flash_regs*.wgsl > $R/stats.txt 2>&1
cd $R && {
  cat gpu.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=|error" $f | head -30; done
  for f in base-*.md rolled-*.md regs-*.md; do echo "== $f"; grep -E "^\| (matrix|subgroup)|rror" $f | head -5; done
  grep -E "flash_regs\[|Register" stats.txt | sed -E 's/\("(COFF|PERM|ROFF)", "[^"]*"\), //g' | head -20
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
