#!/bin/bash
# Twenty-third session, check of the wave model in flash::key_splits_to_fill on shapes
# neither fit saw (subgroup tier f32, built-in tiles): H=8 at N=9000/12000 and H=2 at
# N=2500/5000, head_dims 64/128, causal both: the rule (auto) against
# RINGATTN_KEY_SPLITS = 1, 2, 4, 8 and the build before the session (.gpu/ringattn-base);
# then the small shapes (H=8, N=512..4096) with SDPA efficient f32 and flash f16 in the
# same call.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
A="--no-progress --tiers subgroup --dtypes f32 --reps 10 --max-seconds 2 --head-dims 64,128 --causal both"
G1="--heads 8 --seqs 9000,12000"; G2="--heads 2 --seqs 2500,5000"
.gpu/ringattn bench $A $G2 > /dev/null 2>&1
for g in 1 2; do
  eval G=\$G$g
  timeout 150 .gpu/ringattn bench $A $G > $R/auto-g$g.md 2>&1
  timeout 150 .gpu/ringattn-base bench $A $G > $R/base-g$g.md 2>&1
  for ks in 1 2 4 8; do RINGATTN_KEY_SPLITS=$ks timeout 150 .gpu/ringattn bench $A $G > $R/ks$ks-g$g.md 2>&1; done
  timeout 150 .gpu/ringattn bench $A $G --json $R/auto2-g$g.json > $R/auto2-g$g.md 2>&1
done
S="--heads 8 --seqs 512,1024,2048,4096 --head-dims 64,128 --causal both"
timeout 150 .gpu/ringattn bench --no-progress --tiers subgroup,matrix --dtypes f32,f16 --reps 10 --max-seconds 2 $S --json $R/small.json > $R/small.md 2>&1
timeout 200 python3 benches/python/sdpa_baseline.py --backends flash,efficient --dtypes f16,f32 $S --reps 10 --json $R/sdpa-small.json > $R/sdpa-small.txt 2>&1
cd $R && {
  cat gpu.txt
  for f in *.md; do echo "${f%.md} $(grep -E '^\| (subgroup|matrix)' $f | awk -F'|' '{print $2"/"$3"/"$5"/"$4"/"$6"="$7}' | tr -d ' ' | tr '\n' ' ')"; done
  grep -ho '"tile": "[^"]*"' auto2-g1.json auto2-g2.json | tr '\n' ' '; echo
  grep -E "flash|efficient" sdpa-small.txt
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r/*.json r/*.md
