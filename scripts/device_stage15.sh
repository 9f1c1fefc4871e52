#!/bin/bash
# Needs the builds of commit 4c4f0e5 (KROWS, RINGATTN_TILED_SCH; reverted in 8f35c20) as .gpu/ringattn and of 4c49100 as .gpu/ringattn-old.
# Fifteenth session: the tiled subgroup kernel's staging addresses (KROWS: a unit's key
# is lid / D4 plus a constant), RINGATTN_TILED_SCH=8 (K/V staged in one round instead of
# two) and naga's loop bounding off (RINGATTN_CHECKS= empty), f32 N=16384, head_dims 64
# and 32, two rounds; "old" is .gpu/ringattn-old, the build before KROWS (4c49100: the
# tiled kernel at these shapes renders as at a9750c7). The shuffle kernel at head_dim
# 128 with and without loop bounding.
source scripts/device_run.sh
results
NEW=".gpu/ringattn"; OLD=".gpu/ringattn-old"; TB0=$TB
for round in 1 2; do
  for d in 64 32; do
    T=${TB0/--head-dims 64/--head-dims $d}
    O=${T/$NEW/$OLD}
    TB=$O tb d$d-old RINGATTN_TILED_CFG=64,64,4,2
    TB=$T tb d$d-new RINGATTN_TILED_CFG=64,64,4,2
    TB=$O tb d$d-old-noloop RINGATTN_CHECKS= RINGATTN_TILED_CFG=64,64,4,2
    TB=$T tb d$d-new-noloop RINGATTN_CHECKS= RINGATTN_TILED_CFG=64,64,4,2
  done
  TB=$TB0 tb d64-new-sch8 RINGATTN_TILED_SCH=8 RINGATTN_TILED_CFG=64,64,4,2
  TB=$TB0 tb d64-new-sch8-noloop RINGATTN_CHECKS= RINGATTN_TILED_SCH=8 RINGATTN_TILED_CFG=64,64,4,2
  T=${TB0/--head-dims 64/--head-dims 128}
  RINGATTN_SUBGROUP_VARIANT=shuffle ${T} > $R/d128-shuffle-$round.md 2>&1
  RINGATTN_CHECKS= RINGATTN_SUBGROUP_VARIANT=shuffle ${T} > $R/d128-shuffle-noloop-$round.md 2>&1
done
timeout 100 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims 32,64,128 --causal off --reps 5 > $R/sdpa.txt 2>&1
TEST_LIMIT=200 run_tests tiled
RINGATTN_TILED_SCH=8 RINGATTN_CHECKS= TEST_LIMIT=200 run_tests tiled-174c444a71473d8d
tail -3 $R/test-tiled*.txt
tb_pack
