#!/bin/bash
# Thirty-fourth session, first call: flash_decode.wgsl's DRS (each step's scores
# reduce-scattered over the lane group and gathered back, RINGATTN_DECODE_RS=1) against
# the build's butterflies, at every decode shape of the thirty-third session's table;
# one 8-row tile with DRS (RINGATTN_DECODE_ROWS=8) for the 8-row cases; head_dim 256
# in 8 / 16 / 32 parts. No f64 check (it idles the GPU before the first case); SDPA
# flash (math for f32) at the same shapes in the same call.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --reps 30"
for round in 1 2; do
for c in "gqa-128:--head-dim 128 --splits 16" "gqa-64:--head-dim 64 --splits 16" "mha-128:--head-dim 128 --kv-heads 32 --splits 8" \
         "b4-128:--head-dim 128 --batch 4 --splits 16" "f32-128:--head-dim 128 --dtype f32 --splits 16" \
         "q2-128:--head-dim 128 --queries 2 --splits 16" "g8-128:--head-dim 128 --heads 64 --splits 16" \
         "gqa-256:--head-dim 256 --splits 8,16,32"; do
  n=${c%%:*}; a=${c#*:}
  timeout 40 $D $a > $R/$n-$round.md 2>&1
  RINGATTN_DECODE_RS=1 timeout 40 $D $a > $R/$n-rs-$round.md 2>&1
done
for c in "q2-128:--head-dim 128 --queries 2 --splits 8,16" "g8-128:--head-dim 128 --heads 64 --splits 8,16"; do
  n=${c%%:*}; a=${c#*:}
  RINGATTN_DECODE_ROWS=8 RINGATTN_DECODE_RS=1 timeout 40 $D $a > $R/$n-rows8-rs-$round.md 2>&1
done
done
sdpa_decode
P="python3 benches/python/sdpa_baseline.py --seqs 4096,16384,65536 --causal off --reps 20 --backends flash --dtypes f16"
timeout 40 $P --heads 32 --head-dims 128 --queries 2 --kv-heads 8 > $R/sdpa-q2.txt 2>&1
timeout 40 $P --heads 64 --head-dims 128 --queries 1 --kv-heads 8 > $R/sdpa-g8.txt 2>&1
timeout 40 $P --heads 32 --head-dims 256 --queries 1 --kv-heads 8 > $R/sdpa-256.txt 2>&1
decode_pack
