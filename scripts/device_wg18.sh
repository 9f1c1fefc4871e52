#!/bin/bash
# Eighteenth session: head_dim 128's (8,4,16) with 256 invocations per workgroup (the
# new default, flash::SHUFFLE_WG) against 128 (RINGATTN_SUBGROUP_WG=128), shuffle kernel
# forced, f32 and f16, N = 1024 / 4096 / 16384, causal and not, two rounds; head_dim 32's
# (2,2,16) with 256 once; SDPA efficient at the same shapes in the same call.
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --causal both"
for round in 1 2; do
  for wg in 256 128; do
    RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_WG=$wg $B --dtypes f32,f16 --seqs 1024,4096,16384 --head-dims 128 > $R/d128-wg$wg-$round.md 2>&1
  done
done
for wg in 256 128; do
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_WG=$wg $B --dtypes f32 --seqs 16384 --head-dims 32 > $R/d32-wg$wg.md 2>&1
done
timeout 200 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32,f16 --seqs 1024,4096,16384 --head-dims 32,128 --causal both --reps 5 > $R/sdpa.txt 2>&1
cd $R && { for f in d*.md; do echo "== $f"; grep -hE '^\| subgroup' $f | awk -F'|' '{print $3,$4,$5,$6,$7}'; grep -ciE 'error|ignored' $f; done; grep -hE "efficient" sdpa.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
