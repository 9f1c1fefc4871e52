#!/bin/bash
# Eleventh session: the register kernel with the lazy rescale (default) and without
# (RINGATTN_REGS_LAZY=0), more tile shapes, the attention tests through it, and the
# driver's statistics / machine code of the kernel at (2,4,32) D=64 and (1,8,32) D=128.
source scripts/device_run.sh
results wgsl dump
export RINGATTN_MATRIX_REGS=1
RINGATTN_MATRIX_CFG=2,4,32 timeout 300 .gpu/attention --test-threads 2 > $R/test-regs.txt 2>&1; echo "rc=$?" >> $R/test-regs.txt
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
RINGATTN_MATRIX_REGS=0 RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/base-64.md 2>&1
RINGATTN_MATRIX_REGS=0 RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/base-128.md 2>&1
RINGATTN_REGS_LAZY=0 RINGATTN_MATRIX_CFG=2,4,32 .gpu/ringattn bench $B --head-dims 64 > $R/eager-64-2,4,32.md 2>&1
for cfg in 2,4,32 2,4,64 1,4,64 2,8,32 4,4,32 2,2,64 4,2,32 1,8,64; do
  RINGATTN_MATRIX_CFG=$cfg timeout 60 .gpu/ringattn bench $B --head-dims 64 > $R/regs-64-$cfg.md 2>&1
done
for cfg in 1,8,32 1,4,64 1,8,64 2,4,32 2,4,64 1,4,128; do
  RINGATTN_MATRIX_CFG=$cfg timeout 60 .gpu/ringattn bench $B --head-dims 128 > $R/regs-128-$cfg.md 2>&1
done
S="--no-progress --tiers matrix --dtypes f16 --causal off --reps 2 --seqs 1024"
RINGATTN_DUMP_WGSL=$R/wgsl RINGATTN_MATRIX_CFG=2,4,32 .gpu/ringattn bench $S --head-dims 64 > /dev/null 2>&1
RINGATTN_DUMP_WGSL=$R/wgsl RINGATTN_MATRIX_CFG=1,8,32 .gpu/ringattn bench $S --head-dims 128 > /dev/null 2>&1
.gpu/pipeline_stats --adapter NVIDIA --dump $R/dump $R/wgsl/flash_regs*.wgsl > $R/stats.txt 2>&1
cd $R && {
  cat gpu.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=|error" $f | head -30; done
  for f in base-*.md eager-*.md regs-*.md; do echo "== $f"; grep -E "^\| matrix|rror|subgroup" $f | head -5; done
  grep -E "^/|Register|Spill|Local|regs" stats.txt | head -20
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
