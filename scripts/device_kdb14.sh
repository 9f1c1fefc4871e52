#!/bin/bash
# Needs the build of commit 12e847c: RINGATTN_TILED_KDB was reverted in the commit after it.
# Fourteenth session: the tiled subgroup kernel with K double-buffered in workgroup
# memory (RINGATTN_TILED_KDB=1: Q read from q in the S loop, which frees Q^T's 16 KiB
# for a second K area; the next tile's K loaded in rounds during S and stored into the
# other area, V loaded after S and stored with P^T; 3 barriers per tile instead of 4)
# against the default, f32, N=16384, head_dim 64, two rounds; registers per variant; the
# tiled tests with KDB on the card.
source scripts/device_run.sh
results
for round in 1 2; do
  tb base RINGATTN_TILED_CFG=64,64,4,2
  tb kdb RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_KDB=1
  tb kdb-u2 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_KDB=1 RINGATTN_TILED_OPTS=2,16,0
  tb kdb-u1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_KDB=1 RINGATTN_TILED_OPTS=1,16,0
  tb kdb-j8 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_KDB=1 RINGATTN_TILED_OPTS=4,8,0
  tb kdb-641 RINGATTN_TILED_CFG=64,32,4,1 RINGATTN_TILED_KDB=1
done
RINGATTN_TILED_KDB=1 run_tests tiled-174c444a71473d8d
tail -3 $R/test-tiled-174c444a71473d8d.txt
tb_pack
