#!/bin/bash
# Needs the build of commit 8691f30: RINGATTN_TILED_KT was reverted in the commit after it.
# Thirteenth session, second call: the K^T tiled kernel with less unrolling (the driver
# gave 4 x 8 blocks 194 registers with K^T against 155 with KONE, and 8 x 8 blocks 255
# whatever the unrolling), f32, N=16384, head_dim 64, two rounds; the driver's statistics
# and pipeline-cache blobs (SASS, scripts/sass_from_cache.py) of the base kernel, K^T 4 x 8
# and K^T 8 x 8; the machine's nvdisasm copied back for reading them.
source scripts/device_run.sh
results
tb_rounds scripts/tb_kt13b.txt
nv=$(python3 -c "import triton,os;print(os.path.dirname(triton.__file__))" 2>/dev/null)
cp $(find $nv / -name nvdisasm -type f 2>/dev/null | head -1) $R/ 2>/dev/null
tb_pack
