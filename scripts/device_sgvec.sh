#!/bin/bash
# Tenth session: the subgroup tier's shuffle kernel (the default) reading q/k/v as vec4
# units (this build, .gpu/ringattn) against scalar loads (.gpu/ringattn-prev), f32 and
# f16, N=4096/16384, D=64/128, non-causal, two rounds; the attention tests on this build.
source scripts/device_run.sh
results
run_tests attention
B="--no-progress --tiers subgroup --dtypes f32,f16 --seqs 4096,16384 --head-dims 64,128 --causal off --reps 5 --max-seconds 3"
for round in 1 2; do
  for bin in ringattn ringattn-prev; do
    .gpu/$bin bench $B > $R/$bin-$round.md 2>&1
  done
done
cd $R && {
  cat gpu.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=" $f; done
  for f in ringattn-*.md; do echo "== $f"; grep -E "^\| subgroup" $f; done
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
