#!/bin/bash
# Thirtieth session, seventh call: the portable tier's tiles in 16 KiB (8-key tiles at
# head_dims 80-128) against 24 KiB (16-key tiles, the default where the adapter allows),
# head_dims 80 / 96 / 128, f32, N=16384 (and 4096 at 128), non-causal, two rounds in
# alternating order. One GPU.
source scripts/device_run.sh
results
B="bench --no-progress --tiers portable --dtypes f32 --reps 10 --max-seconds 2 --preheat 1 --causal off"
for round in 1 2; do
  for b in 16384 24576; do
    RINGATTN_PORTABLE_BYTES=$b timeout 60 .gpu/ringattn $B --seqs 16384 --head-dims 80,96,128 --json $R/b$b-$round.json > $R/b$b-$round.md 2>&1
    RINGATTN_PORTABLE_BYTES=$b timeout 30 .gpu/ringattn $B --seqs 4096 --head-dims 80,96,128 > $R/b$b-4k-$round.md 2>&1
  done
done
cd $R && {
  cat gpu.txt
  for f in b*.md; do echo "== $f"; grep -E '^\| portable' $f | awk -F'|' '{print $3, $4, $5, $6, $7}'; grep -i error $f; done
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
