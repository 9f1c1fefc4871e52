#!/bin/bash
# Thirtieth session, fifth call (build of 9084d7e plus RINGATTN_PORTABLE_BYTES: 16 KiB by
# default then, and no cap of 16 keys on split rows' tiles, which a rerun of the 48 KiB
# case on a later build would meet): the portable kernel (rows over two invocations at
# head_dims 64-128) at N = 1K..16K, head_dims 64/128, causal both, beside SDPA math in
# the same call; the portable tiles in 32 and 48 KiB of workgroup memory, two rounds;
# the portable tier on the H200's OpenGL driver, if wgpu finds one. One GPU. (The
# current kernel table's portable rows are device_portable30d.sh's, the final build.)
source scripts/device_run.sh
results
B="bench --no-progress --tiers portable --dtypes f32 --seqs 1024,4096,16384 --head-dims 64,128 --causal both --reps 10 --max-seconds 2 --preheat 1"
timeout 60 .gpu/ringattn $B --json $R/portable.json > $R/portable.md 2>&1
timeout 60 python3 benches/python/sdpa_baseline.py --backends math --dtypes f32 --reps 10 --seqs 1024,4096,16384 --head-dims 64,128 --causal both --json $R/sdpa-math.json > $R/sdpa-math.txt 2>&1
B="bench --no-progress --tiers portable --dtypes f32 --seqs 4096,16384 --head-dims 64,128 --causal both --reps 10 --max-seconds 2 --preheat 1"
for round in 1 2; do
  for b in 16384 32768 49152; do bench_case b$b RINGATTN_PORTABLE_BYTES=$b; done
done
RINGATTN_ADAPTER=gl timeout 30 .gpu/ringattn info > $R/gl-info.txt 2>&1
RINGATTN_ADAPTER=gl timeout 150 .gpu/ringattn bench --no-progress --tiers portable --dtypes f32 --seqs 4096,16384 --head-dims 64,128 --causal off --reps 5 --max-seconds 2 > $R/gl.md 2>&1
cd $R && {
  cat gpu.txt
  for f in portable.md b*-1.md b*-2.md gl.md; do echo "== $f"; grep -E '^\| portable' $f | awk -F'|' '{print $3, $4, $5, $6, $7}'; grep -i error $f; done
  python3 -c "
import json,glob
for f in sorted(glob.glob('b*-1.json')): print(f, sorted(set(r.get('tile') for r in json.load(open(f))['results'])))"
  grep -E "backend|^\[" gl-info.txt | head; head -3 gl.md
  grep -E "math" sdpa-math.txt | head -20
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
