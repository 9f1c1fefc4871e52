#!/bin/bash
# Thirty-fourth session: flash_decode.wgsl's shape at head_dim 256 (f16, one token, 8 K/V
# heads: 2.25 TB/s of K/V at 64K against 2.7 at head_dim 128) and for 64 query heads over
# 8 K/V heads (two 4-row tiles): lanes per key (RINGATTN_DECODE_G), keys per group and
# step (_KB) and invocations per workgroup (_WG) against the defaults, in 8 / 16 / 32
# parts; no f64 check; two rounds.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --reps 30"
for round in 1 2; do
  for v in "def:" "g16:RINGATTN_DECODE_G=16" "kb8:RINGATTN_DECODE_KB=8" "kb2:RINGATTN_DECODE_KB=2" "wg512:RINGATTN_DECODE_WG=512" "g16kb2:RINGATTN_DECODE_G=16 RINGATTN_DECODE_KB=2"; do
    n=${v%%:*}; e=${v#*:}
    env $e timeout 40 $D --head-dim 256 --splits 8,16,32 > $R/d256-$n-$round.md 2>&1
  done
  for v in "def:" "g8:RINGATTN_DECODE_G=8" "kb8:RINGATTN_DECODE_KB=8" "wg512:RINGATTN_DECODE_WG=512"; do
    n=${v%%:*}; e=${v#*:}
    env $e timeout 40 $D --head-dim 128 --heads 64 --splits 8,16,32 > $R/g8-$n-$round.md 2>&1
  done
done
decode_pack
