#!/bin/bash
# Twenty-ninth session, fifth call: the portable tier taking its keys four at a time
# (four independent dot products per pass over q, the online softmax per four keys; no
# score array) against the build before (.gpu/ringattn-old: a tile's scores in a private
# array, then its max, then P·V). f32, head_dims 64/128, N = 4096/16384, causal both,
# two rounds in alternating order. One GPU.
source scripts/device_run.sh
results
B="bench --no-progress --tiers portable --dtypes f32 --seqs 4096,16384 --head-dims 64,128 --causal both --reps 5 --max-seconds 2 --preheat 1"
for r in a b; do
  for bin in ringattn ringattn-old; do
    timeout 60 .gpu/$bin $B > $R/$bin-$r.md 2>&1
  done
done
cd $OUT && tar czf r.tgz r && rm -rf r
