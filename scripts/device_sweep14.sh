#!/bin/bash
# Fourteenth session: the tiled kernel with PSH, f32 N=16384: UNM / KONE off at head_dim
# 64, tile shapes at head_dim 32 (the shuffle kernel at 32 in the same call), two rounds.
source scripts/device_run.sh
results
tb_rounds scripts/tb_sweep14.txt
TB=${TB/--head-dims 64/--head-dims 32}
tb_rounds scripts/tb_sweep14_d32.txt
for round in 1 2; do RINGATTN_SUBGROUP_VARIANT=shuffle $TB > $R/d32-shuffle-$round.md 2>&1; done
tb_pack
