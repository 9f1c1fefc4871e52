#!/bin/bash
# NOT YET RUN: written for the final check of 2ec25e5, when the seventeenth session had no device time left.
# Seventeenth session, last build: head_dim 64's (4,4,32) with its reduce-scatter rounds
# without selects (RSP, flash::SHUFFLE_RSP) as picked (fresh kernel search, cache in
# $R/tiles.json) and with RINGATTN_SUBGROUP_RSP=0, f32, N=16384, causal and not, beside
# SDPA efficient f32 in the same call; the compare suite (one device, and the Standard ring
# over 2 logical devices) with --check (sampled rows against the f64 reference) at N=1000 and 4000, causal and not.
source scripts/device_run.sh
results
B="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal both --dtypes f32 --head-dims 64"
# RSP=1 is the default at head_dim 64's (4,4,32) (the only shape these runs take).
for rsp in 1 0; do
  RINGATTN_TUNE_CACHE=$R/tiles.json RINGATTN_SUBGROUP_RSP=$rsp .gpu/ringattn bench $B > $R/subgroup-rsp$rsp.md 2>&1
done
timeout 60 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims 64 --causal both --reps 5 > $R/sdpa-eff.txt 2>&1
RINGATTN_TUNE_CACHE=$R/tiles.json .gpu/ringattn bench compare --presets Standard --devices logical:2 --tiers subgroup --dtypes f32 --seqs 1000,4000 --head-dims 64 --causal both --check --no-progress --out $R/compare > $R/check.md 2>&1; echo "rc=$?" >> $R/check.md
cd $R && { cat gpu.txt; cat tiles.json | tr ',' '\n' | grep -iE "variant" | sort | uniq -c; grep -hE "^\| subgroup" subgroup-rsp1.md; echo "== RSP off"; grep -hE "^\| subgroup" subgroup-rsp0.md; grep -E "efficient" sdpa-eff.txt; grep -E "^\| compare|rc=" check.md; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
