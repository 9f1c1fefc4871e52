#!/bin/bash
# Needs the build of commit 8691f30: RINGATTN_TILED_KT was reverted in the commit after it.
# Thirteenth session, second call: the K^T tiled kernel with less unrolling (the driver
# gave 4 x 8 blocks 194 registers with K^T against 155 with KONE, and 8 x 8 blocks 255
# whatever the unrolling), f32, N=16384, head_dim 64, two rounds; the driver's statistics
# and pipeline-cache blobs (SASS, scripts/sass_from_cache.py) of the base kernel, K^T 4 x 8
# and K^T 8 x 8; the machine's nvdisasm copied back for reading them.
source scripts/device_run.sh
results
for round in 1 2; do
  tb base RINGATTN_TILED_CFG=64,64,4,2
  tb kt442-u1 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=1,16,0
  tb kt442-u1j4 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=1,4,0
  tb kt882-u1j4 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=1,4,0
  tb kt882-u1j2 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=1,2,0
  tb kt882-u1j1 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=1,1,0
  tb kone882-u1j4 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=1,4,0
done
nv=$(python3 -c "import triton,os;print(os.path.dirname(triton.__file__))" 2>/dev/null)
cp $(find $nv / -name nvdisasm -type f 2>/dev/null | head -1) $R/ 2>/dev/null
tb_pack
