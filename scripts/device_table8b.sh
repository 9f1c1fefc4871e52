#!/bin/bash
# Eighth session (2026-11-26), one call on a 1-GPU machine, after the wide K/V loads:
# first an A/B of the K/V store offset written with its factor 4 outermost (rendered
# shader patched, RINGATTN_MATRIX_PATCH: whether the driver then merges the four 2-byte
# stores), then a fresh tile search and every tier's table beside SDPA in the same call.
source scripts/device_run.sh
results
P='let so = (i / D4) * KSTR + 4u * (i % D4);=>let so = 4u * ((i / D4) * (KSTR / 4u) + i % D4);'
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 16384"
for round in 1 2; do
  RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/so0-64-$round.md 2>&1
  RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/so1-64-$round.md 2>&1
  RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/so0-128-$round.md 2>&1
  RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/so1-128-$round.md 2>&1
done
kernel_table
cd $R && { cat gpu.txt; for f in so*.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; kernel_summary; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
