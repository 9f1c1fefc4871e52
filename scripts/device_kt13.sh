#!/bin/bash
# Needs the build of commit 8691f30: RINGATTN_TILED_KT was reverted in the commit after it.
# Thirteenth session: the tiled subgroup kernel with K kept transposed in workgroup
# memory (KT: S reads quads of Q^T and K^T per d) against the row-major K (KONE), at
# 4 x 8 and 8 x 8 score blocks per lane, f32, N=16384, head_dim 64; the shuffle kernel
# and SDPA's memory-efficient f32 kernel in the same call; registers from the driver
# (pipeline_stats) of each rendered kernel; two rounds.
source scripts/device_run.sh
results
tb_rounds scripts/tb_kt13.txt
for round in 1 2; do
  RINGATTN_SUBGROUP_VARIANT=shuffle timeout 60 $TB --preheat 2 > $R/shuffle-$round.md 2>&1
done
timeout 120 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims 64 --causal off > $R/sdpa.txt 2>&1
tb_pack
