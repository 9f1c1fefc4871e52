#!/bin/bash
# Needs the build of commit 8691f30: RINGATTN_TILED_KT was reverted in the commit after it.
# Thirteenth session, fourth call: can the K^T tiled kernel (139 registers in the third
# call) get to 128, where 4 workgroups (16 warps) fit an SM? Its causal limit per row
# is now computed in the masked pass instead of held in registers; d and key loop
# unroll factors; f32, N=16384, head_dim 64, two rounds; registers per variant.
source scripts/device_run.sh
results
for round in 1 2; do
  tb base RINGATTN_TILED_CFG=64,64,4,2
  tb kt442 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2
  tb kt442-u1 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=1,16,0
  tb kt442-u1j8 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=1,8,0
  tb kt442-u2j8 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=2,8,0
  tb kt442-u1j4 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=1,4,0
  tb kt442-u4j4 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=4,4,0
done
tb_pack
