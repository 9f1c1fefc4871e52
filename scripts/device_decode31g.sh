#!/bin/bash
# Thirty-first session, eighth call: the host's time to record one decode call
# (examples/decode.rs's encode column) with key parts in one launch and with one launch
# per part (RINGATTN_PARTS_LAUNCH=0), beside GPU and wall time; H=32 with 8 K/V heads,
# head_dims 64 and 128, f16.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 0.5 --splits 32 --reps 50"
for hd in 64 128; do
  timeout 40 $D --head-dim $hd > $R/one-launch-$hd.md 2>&1
  RINGATTN_PARTS_LAUNCH=0 timeout 40 $D --head-dim $hd > $R/per-part-$hd.md 2>&1
done
decode_pack
