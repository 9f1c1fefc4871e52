#!/bin/bash
# Twenty-second session: the subgroup tier on small grids (B=1, H=8, N=1024..4096, f32):
# key splits merged by LSE (RINGATTN_KEY_SPLITS) against and beside the small-grid
# shapes, head_dims 64 and 128, two rounds; SDPA efficient f32 at the same shapes in the
# same call. Runs "name D [VAR=value ...]" (VARs passed as given; CFG/WG set the shuffle
# shape and invocations); the built-in tiles (RINGATTN_TUNE=0: the search picked them).
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps ${REPS:-10} --max-seconds 2 --heads 8 --seqs ${SEQS:-1024,2048,4096} --causal off"
RUNS=${RUNS:-"def128 128|ks2-128 128 RINGATTN_KEY_SPLITS=2|ks4-128 128 RINGATTN_KEY_SPLITS=4|w256ks2-128 128 RINGATTN_SUBGROUP_CFG=8,4,16 RINGATTN_SUBGROUP_WG=256 RINGATTN_KEY_SPLITS=2|w256ks4-128 128 RINGATTN_SUBGROUP_CFG=8,4,16 RINGATTN_SUBGROUP_WG=256 RINGATTN_KEY_SPLITS=4|w128ks2-128 128 RINGATTN_SUBGROUP_CFG=8,4,16 RINGATTN_SUBGROUP_WG=128 RINGATTN_KEY_SPLITS=2|m2-128 128 RINGATTN_SUBGROUP_CFG=8,2,16 RINGATTN_SUBGROUP_WG=128|m2ks2-128 128 RINGATTN_SUBGROUP_CFG=8,2,16 RINGATTN_SUBGROUP_WG=128 RINGATTN_KEY_SPLITS=2|def64 64|ks2-64 64 RINGATTN_KEY_SPLITS=2|ks4-64 64 RINGATTN_KEY_SPLITS=4|w256ks2-64 64 RINGATTN_SUBGROUP_CFG=4,4,16 RINGATTN_SUBGROUP_WG=256 RINGATTN_KEY_SPLITS=2|w256ks4-64 64 RINGATTN_SUBGROUP_CFG=4,4,16 RINGATTN_SUBGROUP_WG=256 RINGATTN_KEY_SPLITS=4|w128ks2-64 64 RINGATTN_SUBGROUP_CFG=4,4,16 RINGATTN_SUBGROUP_WG=128 RINGATTN_KEY_SPLITS=2|w128ks4-64 64 RINGATTN_SUBGROUP_CFG=4,4,16 RINGATTN_SUBGROUP_WG=128 RINGATTN_KEY_SPLITS=4|m2ks2-64 64 RINGATTN_SUBGROUP_CFG=4,2,16 RINGATTN_SUBGROUP_WG=128 RINGATTN_KEY_SPLITS=2"}
for round in 1 2; do
  IFS='|'; for run in $RUNS; do IFS=' '; set -- $run
    name=$1 d=$2; shift 2
    env "$@" timeout 60 $B --dtypes ${DT:-f32} --head-dims $d > $R/$name-$round.md 2>&1
  done; IFS=' '
done
[ -z "$NO_SDPA" ] && timeout 150 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --heads 8 --seqs ${SEQS:-1024,2048,4096} --head-dims 64,128 --causal off --reps 10 > $R/sdpa.txt 2>&1
cd $R && {
  cat gpu.txt
  for f in *-1.md *-2.md; do echo "${f%.md} $(grep -E '^\| subgroup' $f | awk -F'|' '{print $4"="$7}' | tr -d ' ' | tr '\n' ' ') $(grep -ciE 'error' $f)"; done
  grep -E "efficient" sdpa.txt
} > summary.txt; cat summary.txt
cd $OUT && tar czf r${TAG}.tgz r && rm -rf r
