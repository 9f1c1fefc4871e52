#!/bin/bash
# Needs the build of commit 8691f30: RINGATTN_TILED_KT was reverted in the commit after it.
# Thirteenth session, second call: the K^T tiled kernel with less unrolling (the driver
# gave 4 x 8 blocks 194 registers with K^T against 155 with KONE, and 8 x 8 blocks 255
# whatever the unrolling), f32, N=16384, head_dim 64, two rounds; the driver's statistics
# and pipeline-cache blobs (SASS, scripts/sass_from_cache.py) of the base kernel, K^T 4 x 8
# and K^T 8 x 8; the machine's nvdisasm copied back for reading them.
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --seqs 16384 --causal off --head-dims 64"
tb() {
  local name=$1; shift
  mkdir -p $R/wgsl-$name
  env RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_DUMP_WGSL=$R/wgsl-$name "$@" timeout 60 $B > $R/$name-$round.md 2>&1
}
for round in 1 2; do
  tb base RINGATTN_TILED_CFG=64,64,4,2
  tb kt442-u1 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=1,16,0
  tb kt442-u1j4 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=1,4,0
  tb kt882-u1j4 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=1,4,0
  tb kt882-u1j2 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=1,2,0
  tb kt882-u1j1 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=1,1,0
  tb kone882-u1j4 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=1,4,0
done
for d in $R/wgsl-*; do
  n=${d#$R/wgsl-}; mkdir -p $R/dump-$n
  echo "== $n"; .gpu/pipeline_stats --adapter NVIDIA --dump $R/dump-$n $d/flash_tiled*.wgsl 2>&1 | grep -vE "^adapter"
done > $R/stats.txt 2>&1
nv=$(python3 -c "import triton,os;print(os.path.dirname(triton.__file__))" 2>/dev/null)
cp $(find $nv / -name nvdisasm -type f 2>/dev/null | head -1) $R/ 2>/dev/null
cd $R && { cat gpu.txt; for f in *-1.md *-2.md; do echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $5, $7}' | tr '\n' ' ') $(grep -ci error $f)"; done; grep -E "^==|Register" stats.txt; ls -la nvdisasm; } > summary.txt; cat summary.txt
rm -rf $R/wgsl-*; cd $OUT && tar czf r.tgz r && rm -rf r
