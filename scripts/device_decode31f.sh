#!/bin/bash
# Thirty-first session, seventh call: the portable tier's decode tiles
# (flash::portable_decode_rows: 16 rows for one token of 4 packed query heads, against
# the dense launches' 64 and 8, RINGATTN_PORTABLE_BQ), f16 and f32 at head_dim 128 and
# f16 at 64, H=32 with 8 K/V heads, automatic key parts, checked against f64. The
# shorter tiles ran slower and the rule was dropped (BENCHMARKS.md, thirty-first
# session): the build it ran had flash::portable_decode_rows, which is not in main.
source scripts/device_run.sh
results
D=".gpu/decode --tier portable --kv-lens 4096,16384,65536 --preheat 0.5 --splits 32 --reps 10"
for bq in rule 64 8; do
  if [ $bq = rule ]; then E=""; else E="RINGATTN_PORTABLE_BQ=$bq"; fi
  env $E timeout 40 $D --head-dim 128 --check > $R/f16-128-$bq.md 2>&1
  env $E timeout 40 $D --head-dim 128 --dtype f32 > $R/f32-128-$bq.md 2>&1
  env $E timeout 30 $D --head-dim 64 > $R/f16-64-$bq.md 2>&1
done
decode_pack
