#!/bin/bash
# Twelfth session: does the first case of a `ringattn bench` process read slow (flash_matrix,
# head_dim 128, N=4096 read 1.49-1.59 ms twice, against 0.32)? Fresh processes with that
# case first, the default preheat and none, after a search on a fresh cache.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 128 --dtypes f16 > $R/tune.txt 2>&1
B=".gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --head-dims 128 --causal off --reps 5 --max-seconds 2 --json"
for i in 1 2 3; do
  $B $R/a$i.json --seqs 4096,16384 > $R/a$i.md 2>&1
  $B $R/b$i.json --preheat 0 --seqs 4096,16384 > $R/b$i.md 2>&1
done
RINGATTN_MATRIX_MREF=0 $B $R/c.json --seqs 4096,16384 > $R/c.md 2>&1
cd $R && {
  cat gpu.txt; grep -E "^best" tune.txt
  for f in a*.md b*.md c.md; do echo "== $f"; grep -hE "^\| matrix" $f; done
  python3 -c "
import json,glob
for f in sorted(glob.glob('*.json')):
    if f=='tiles.json': continue
    for r in json.load(open(f))['results']: print(f, r['seq'], r.get('tile'), [round(x,3) for x in r['gpu_ms']])
"
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
