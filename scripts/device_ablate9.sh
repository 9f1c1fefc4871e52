#!/bin/bash
# Ninth session (2026-11-26): what the f16 matrix kernel's barriers cost (timing only:
# the patched kernels give wrong results). Patches of the rendered shader
# (RINGATTN_MATRIX_PATCH): noC drops the end-of-tile barrier, noflag replaces the
# workgroupUniformLoad of the rescale flag (two barriers) by a uniform false, both does
# both; with four partial max/sum chains (TREE), two rounds at the H100's picks.
source scripts/device_run.sh
results
export RINGATTN_MATRIX_TREE=1
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
NOC=$'// @PV1\n        workgroupBarrier();=>// @PV1'
NOFLAG='if workgroupUniformLoad(&rescale_flag)[0] != 0u {=>if p.causal == 7u {'
for round in 1 2; do
  for v in base noC noflag both; do
    case $v in base) P='';; noC) P="$NOC";; noflag) P="$NOFLAG";; both) P="$NOC;;$NOFLAG";; esac
    RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/$v-64-$round.md 2>&1
    RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/$v-128-$round.md 2>&1
  done
done
cd $R && { cat gpu.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
