#!/bin/bash
# Thirty-second session, second call: decode on the subgroup tier's shuffle kernel with
# workgroups of one row group (RINGATTN_SUBGROUP_CFG=r,m,bk, RINGATTN_SUBGROUP_WG): one
# subgroup of r = 32 lanes holding one token's 4 packed query heads, against the tier's
# dense tiles (bq=32 r=8 m=2, 28 of 32 rows idle). f16 and f32, head_dims 128 and 64,
# H=32, 8 K/V heads, checked against f64.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --tier subgroup --splits 64 --check"
for dt in f16 f32; do
  timeout 40 $D --dtype $dt > $R/sg-default-$dt.md 2>&1
  for c in 32,4,16:32 32,4,8:32 16,4,16:32 8,4,16:32 32,4,16:64; do
    RINGATTN_SUBGROUP_CFG=${c%:*} RINGATTN_SUBGROUP_WG=${c#*:} timeout 40 $D --dtype $dt > $R/sg-$dt-${c/:/-}.md 2>&1
  done
done
timeout 40 $D --head-dim 64 > $R/sg-default-d64.md 2>&1
RINGATTN_SUBGROUP_CFG=16,4,16 RINGATTN_SUBGROUP_WG=32 timeout 40 $D --head-dim 64 > $R/sg-d64-16,4,16-32.md 2>&1
timeout 40 .gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --splits 64 > $R/matrix-f16.md 2>&1
decode_pack
