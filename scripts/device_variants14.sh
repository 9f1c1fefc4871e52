#!/bin/bash
# Fourteenth session: tiled subgroup kernel variants against the default, f32, N=16384,
# head_dim 64, two rounds, registers per variant, and the tiled tests with the variant
# on the card. `bash scripts/device_variants14.sh kdb` (needs the build of commit
# 12e847c: K double-buffered in workgroup memory, q read in the S loop; reverted) or
# `... psh` (P·V by subgroup shuffles; RINGATTN_TILED_PSH=1 was an opt-in then, the
# default at head_dim <= 64 since). Variant lists: scripts/tb_kdb14.txt, tb_psh14.txt.
source scripts/device_run.sh
results
V=${1:?kdb or psh}
tb_rounds scripts/tb_${V}14.txt
export RINGATTN_TILED_${V^^}=1
run_tests tiled-174c444a71473d8d
tail -3 $R/test-tiled-174c444a71473d8d.txt
tb_pack
