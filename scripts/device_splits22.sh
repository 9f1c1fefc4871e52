#!/bin/bash
# Twenty-second session: the subgroup tier's automatic key splits on small grids
# (flash::small_grid_key_splits; "auto" = no RINGATTN_KEY_SPLITS) against forced splits
# (RINGATTN_KEY_SPLITS=1: none), f32 unless said, B=1, two rounds; built-in tiles
# (RINGATTN_TUNE=0). Runs "name D H seqs causal dtype splits" (splits: auto or a number);
# SDPA efficient f32 at the same shapes in the same call.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
RUNS=""
for d in 64 128; do for c in off on; do for ks in auto 1 2 4; do RUNS+="h8-$d-c$c-ks$ks $d 8 512,1024,2048,4096 $c f32 $ks|"; done; done; done
for d in 64 128; do for ks in auto 1 2 4 8; do RUNS+="h1-$d-ks$ks $d 1 1024,2048,4096,8192 off f32 $ks|"; done; done
for ks in auto 1 2; do RUNS+="h8-32-ks$ks 32 8 512,1024,2048,4096 off f32 $ks|"; done
for d in 64 128; do for ks in auto 1; do RUNS+="f16-h8-$d-ks$ks $d 8 1024,2048,4096 off f16 $ks|"; done; done
RUNS=${ONLY:-$RUNS}
# warm the GPU to its clocks first
.gpu/ringattn bench --no-progress --tiers subgroup --reps 20 --max-seconds 3 --seqs 16384 --head-dims 64 --dtypes f32 > /dev/null 2>&1
for round in 1 2; do
  IFS='|'; for run in $RUNS; do IFS=' '; [ -z "$run" ] && continue; set -- $run
    e=(); [ "$7" != auto ] && e=(RINGATTN_KEY_SPLITS=$7)
    env "${e[@]}" timeout 60 .gpu/ringattn bench --no-progress --tiers subgroup --reps 10 --max-seconds 2 --head-dims $2 --heads $3 --seqs $4 --causal $5 --dtypes $6 > $R/$1-$round.md 2>&1
  done; IFS=' '
done
if [ -z "$NO_SDPA" ]; then
  P="python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --reps 10"
  timeout 120 $P --heads 8 --seqs 512,1024,2048,4096 --head-dims 32,64,128 --causal both > $R/sdpa-h8.txt 2>&1
  timeout 60 $P --heads 1 --seqs 1024,2048,4096,8192 --head-dims 64,128 --causal off > $R/sdpa-h1.txt 2>&1
fi
cd $R && {
  cat gpu.txt
  for f in *-1.md *-2.md; do echo "${f%.md} $(grep -E '^\| subgroup' $f | awk -F'|' '{print $4"="$7}' | tr -d ' ' | tr '\n' ' ') $(grep -ciE 'error' $f)"; done | sort
  grep -hE "efficient" sdpa-*.txt
} > summary.txt; cat summary.txt
cd $OUT && tar czf r${TAG}.tgz r && rm -rf r
