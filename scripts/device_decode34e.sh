#!/bin/bash
# Thirty-fourth session: 16 lanes per key (two or four 16-byte units each) for the other
# shapes whose key rows have 32 or more units: f32 at head_dim 128 and 256 (default: 32
# lanes), against the defaults, two rounds; then the f64 check of those shapes and of
# f16 head_dim 256 at 16 lanes (4K keys).
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --reps 30"
for round in 1 2; do
  for d in 128 256; do
    timeout 40 $D --dtype f32 --head-dim $d --splits 16,32 > $R/f32-$d-def-$round.md 2>&1
    RINGATTN_DECODE_G=16 timeout 40 $D --dtype f32 --head-dim $d --splits 16,32 > $R/f32-$d-g16-$round.md 2>&1
  done
done
C=".gpu/decode --kv-lens 4096 --preheat 1 --reps 5 --splits 1 --check"
RINGATTN_DECODE_G=16 timeout 40 $C --dtype f16 --head-dim 256 > $R/check-f16-256-g16.md 2>&1
RINGATTN_DECODE_G=16 timeout 40 $C --dtype f32 --head-dim 256 > $R/check-f32-256-g16.md 2>&1
RINGATTN_DECODE_G=16 timeout 40 $C --dtype f32 --head-dim 128 > $R/check-f32-128-g16.md 2>&1
decode_pack
