#!/bin/bash
# Needs the build of commit 8691f30: RINGATTN_TILED_KT was reverted in the commit after it.
# Thirteenth session, third call: the K^T tiled kernel with its staging addresses
# written as a lane base plus a constant (the second call's SASS: the driver kept 64
# separately computed store addresses live, 175-191 registers), f32, N=16384,
# head_dim 64, two rounds; registers and pipeline-cache blobs.
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
  tb kt442 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2
  tb kt442-u2 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=2,16,0
  tb kt442-j8 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=4,8,0
  tb kt882 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2
  tb kt882-u1j4 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=1,4,0
  tb kt641 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,32,4,1
done
for d in $R/wgsl-*; do
  n=${d#$R/wgsl-}; mkdir -p $R/dump-$n
  echo "== $n"; .gpu/pipeline_stats --adapter NVIDIA --dump $R/dump-$n $d/flash_tiled*.wgsl 2>&1 | grep -vE "^adapter"
done > $R/stats.txt 2>&1
cd $R && { cat gpu.txt; for f in *-1.md *-2.md; do echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $5, $7}' | tr '\n' ' ') $(grep -ci error $f)"; done; grep -E "^==|Register" stats.txt; } > summary.txt; cat summary.txt
rm -rf $R/wgsl-*; cd $OUT && tar czf r.tgz r && rm -rf r
