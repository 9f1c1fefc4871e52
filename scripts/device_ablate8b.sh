#!/bin/bash
# Ablation of the f16 matrix kernel's softmax after the wide K/V loads (eighth session,
# 2026-11-26), one call on a 1-GPU machine, rendered shader patched
# (RINGATTN_MATRIX_PATCH): without the mask's compare and select per score (results stay
# right for non-causal N=16384, whose tiles are all full), and also without the scale
# multiply (results wrong by design), at (2,4,16) head_dim 64 and (2,8,16) head_dim 128.
source scripts/device_run.sh
results
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 16384"
NM='select(NEG_BIG, ss[srow + c] * p.scale_log2, c < nv && tile_bit(tb, c))=>ss[srow + c] * p.scale_log2'
NS='select(NEG_BIG, ss[srow + c] * p.scale_log2, c < nv && tile_bit(tb, c))=>ss[srow + c]'
for round in 1 2; do
  for v in base nomask noscale; do
    case $v in base) P=;; nomask) P=$NM;; noscale) P=$NS;; esac
    RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/$v-64-$round.md 2>&1
    RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/$v-128-$round.md 2>&1
  done
done
cd $R && { cat gpu.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
