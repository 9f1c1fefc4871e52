#!/bin/bash
# Twenty-fifth session: the measured cores (TileEntry::cores) on this GPU: the wave,
# search and small-grid tests; `ringattn tune` at head_dims 64/128 f32 and `ringattn
# info`; then small grids (H=8 N=1024/2048, H=1/2 N=4096, f32, head_dims 64/128) with the
# tuned entry (the small-grid rule on the measured cores) and with RINGATTN_TUNE=0 (on
# SMALL_GRID_WORKGROUPS), to show the tiles each picks.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
timeout 120 .gpu/attention --test-threads 2 wave_ search small_grids > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
timeout 120 .gpu/ringattn tune --head-dims 64,128 --dtypes f32 > $R/tune.txt 2>&1
.gpu/ringattn info > $R/info.txt 2>&1
for t in 1 0; do
  for hs in "8 1024" "8 2048" "1 4096" "2 4096"; do set -- $hs
    RINGATTN_TUNE=$t timeout 60 .gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --causal off --reps 10 --max-seconds 2 \
      --head-dims 64,128 --heads $1 --seqs $2 --json $R/sg-t$t-h$1-n$2.json > $R/sg-t$t-h$1-n$2.md 2>&1
  done
done
cd $R && {
  cat gpu.txt; test_lines; grep -h "cores\|wave" test-attention.txt | head; grep -h "best" tune.txt; grep -h "subgroup" info.txt
  for f in sg-*.json; do python3 -c "
import json,sys;d=json.load(open('$f'));rs=d['results'] if isinstance(d,dict) else d
for r in rs: print('$f',r['head_dim'],r.get('tile'),r.get('gpu_ms_median'))"; done
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r
