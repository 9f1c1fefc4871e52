#!/bin/bash
# Thirtieth session, ninth call: decode (one query row per sequence, H=32, f16) on the
# matrix tier's short query tiles (RINGATTN_MATRIX_CFG: 16, 32 or 64 rows per
# workgroup) with many key parts, against the tiles as picked; a reheat before each
# case. One GPU.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1"
timeout 40 $D --heads 32 --kv-heads 8 --head-dim 128 --splits 4 > $R/base-gqa-128.md 2>&1
RINGATTN_MATRIX_CFG=1,1,32 timeout 60 $D --heads 32 --kv-heads 8 --head-dim 128 --splits 8,16,32,64 --check > $R/c1132-gqa-128.md 2>&1
RINGATTN_MATRIX_CFG=1,2,32 timeout 40 $D --heads 32 --kv-heads 8 --head-dim 128 --splits 8,16,32 > $R/c1232-gqa-128.md 2>&1
RINGATTN_MATRIX_CFG=1,4,32 timeout 40 $D --heads 32 --kv-heads 8 --head-dim 128 --splits 4,8,16 > $R/c1432-gqa-128.md 2>&1
RINGATTN_MATRIX_CFG=1,1,32 timeout 40 $D --heads 32 --kv-heads 8 --head-dim 64 --splits 8,16,32,64 > $R/c1132-gqa-64.md 2>&1
RINGATTN_MATRIX_CFG=1,1,32 timeout 40 $D --heads 32 --kv-heads 32 --head-dim 128 --splits 8,16,32,64 > $R/c1132-mha-128.md 2>&1
cd $R && {
  cat gpu.txt
  for f in *.md; do echo "== $f"; grep -E "^\| [0-9]|rror" $f; done
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
