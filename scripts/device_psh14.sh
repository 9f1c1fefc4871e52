#!/bin/bash
# Fourteenth session: the tiled subgroup kernel's P·V taking P from the lanes that
# computed it by subgroup shuffles (RINGATTN_TILED_PSH=1: no P^T in workgroup memory,
# two barriers per tile instead of four) against the default, f32, N=16384, head_dim
# 64, two rounds; registers per variant; the tiled tests with PSH on the card.
source scripts/device_run.sh
results
for round in 1 2; do
  tb base RINGATTN_TILED_CFG=64,64,4,2
  tb psh RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_PSH=1
  tb psh-u2 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_PSH=1 RINGATTN_TILED_OPTS=2,16,0
  tb psh-u1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_PSH=1 RINGATTN_TILED_OPTS=1,16,0
  tb psh-641 RINGATTN_TILED_CFG=64,32,4,1 RINGATTN_TILED_PSH=1
  tb psh-882 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_PSH=1
done
RINGATTN_TILED_PSH=1 run_tests tiled-174c444a71473d8d
tail -3 $R/test-tiled-174c444a71473d8d.txt
tb_pack
