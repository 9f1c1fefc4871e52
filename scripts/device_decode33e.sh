#!/bin/bash
# Thirty-third session, fifth call: flash_decode.wgsl with each step's K/V loads issued
# a step ahead (RINGATTN_DECODE_PREF=1), at 4 and 2 keys per group and step, against
# the build's default (loads at the top of their own step): one token with 8 K/V heads
# at head_dims 128 and 64, MHA, two tokens (two 4-row tiles), f32; no f64 check (its
# idle GPU before the first case).
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --splits 16 --reps 30"
for c in "gqa-128:--head-dim 128" "gqa-64:--head-dim 64" "mha-128:--head-dim 128 --kv-heads 32" "q2-128:--head-dim 128 --queries 2" "f32-128:--head-dim 128 --dtype f32"; do
  n=${c%%:*}; a=${c#*:}
  timeout 30 $D $a > $R/$n.md 2>&1
  RINGATTN_DECODE_PREF=1 timeout 30 $D $a > $R/$n-pref.md 2>&1
  RINGATTN_DECODE_PREF=1 RINGATTN_DECODE_KB=2 timeout 30 $D $a > $R/$n-pref-kb2.md 2>&1
done
decode_pack
