#!/bin/bash
# The matrix kernel after reading its SASS (seventh session, 2026-11-26; the driver's
# binary comes out of its pipeline cache: scripts/elf_extract.py, nvdisasm -b SM90):
# the f16 K/V staging was 16 scalar 2-byte global loads (LDG.U16.STRONG) and 16 scalar
# workgroup stores per lane per tile, the softmax ~18 instructions per score. Variants
# (RINGATTN_MATRIX_EXP): vkv = K/V read as 16-byte units, flat = each lane's scores as
# one contiguous run of columns; RINGATTN_CHECKS=loops drops workgroup index clamping.
# The RINGATTN_MATRIX_EXP variants existed only for this measurement: flat columns and
# the unclamped build are now the kernel itself, vkv was dropped (BENCHMARKS.md).
source scripts/device_run.sh
results
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 10 --max-seconds 3 --seqs 4096,16384"
one() { # name, env...
  local n=$1; shift
  env "$@" RINGATTN_MATRIX_CFG=2,4,16 RINGATTN_DUMP_WGSL=$R/wgsl-$n .gpu/ringattn bench $B --head-dims 64 > $R/$n-64.md 2>&1
  env "$@" RINGATTN_MATRIX_CFG=1,8,32 .gpu/ringattn bench $B --head-dims 128 > $R/$n-128.md 2>&1
}
for round in 1 2; do
  one base-$round RINGATTN_MATRIX_EXP=none
  one vkv-$round RINGATTN_MATRIX_EXP=vkv
  one flat-$round RINGATTN_MATRIX_EXP=flat
  one nochk-$round RINGATTN_MATRIX_EXP=none RINGATTN_CHECKS=loops
  one nochkflat-$round RINGATTN_MATRIX_EXP=flat RINGATTN_CHECKS=loops
  one nochkvkvflat-$round RINGATTN_MATRIX_EXP=vkv,flat RINGATTN_CHECKS=loops
done
for n in base vkv flat; do .gpu/pipeline_stats --adapter NVIDIA --dump $R/wgsl-$n-1 $R/wgsl-$n-1/*.wgsl > $R/stats-$n.txt 2>&1; done
for n in nochk nochkflat nochkvkvflat; do RINGATTN_CHECKS=loops .gpu/pipeline_stats --adapter NVIDIA --dump $R/wgsl-$n-1 $R/wgsl-$n-1/*.wgsl > $R/stats-$n.txt 2>&1; done
RINGATTN_MATRIX_EXP=vkv,flat RINGATTN_CHECKS=loops timeout 150 .gpu/attention --test-threads 2 > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
cd $R && for f in *.md; do echo "== $f"; grep -E "^\| matrix" $f; done > summary.txt
grep -hE "test result|FAILED|panicked|^rc=" test-attention.txt >> summary.txt; grep -h "Register\|Binary" stats-*.txt >> summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
