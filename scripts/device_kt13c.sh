#!/bin/bash
# Needs the build of commit 8691f30: RINGATTN_TILED_KT was reverted in the commit after it.
# Thirteenth session, third call: the K^T tiled kernel with its staging addresses
# written as a lane base plus a constant (the second call's SASS: the driver kept 64
# separately computed store addresses live, 175-191 registers), f32, N=16384,
# head_dim 64, two rounds; registers and pipeline-cache blobs.
source scripts/device_run.sh
results
for round in 1 2; do
  tb base RINGATTN_TILED_CFG=64,64,4,2
  tb kt442 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2
  tb kt442-u2 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=2,16,0
  tb kt442-j8 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=4,8,0
  tb kt882 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2
  tb kt882-u1j4 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=1,4,0
  tb kt641 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,32,4,1
done
tb_pack
