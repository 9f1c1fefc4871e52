#!/bin/bash
# Needs the build of commit 8691f30: RINGATTN_TILED_KT was reverted in the commit after it.
# Thirteenth session: the tiled subgroup kernel with K kept transposed in workgroup
# memory (KT: S reads quads of Q^T and K^T per d) against the row-major K (KONE), at
# 4 x 8 and 8 x 8 score blocks per lane, f32, N=16384, head_dim 64; the shuffle kernel
# and SDPA's memory-efficient f32 kernel in the same call; registers from the driver
# (pipeline_stats) of each rendered kernel; two rounds.
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --seqs 16384 --causal off --head-dims 64"
tb() {
  local name=$1; shift
  mkdir -p $R/wgsl-$name
  env RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_DUMP_WGSL=$R/wgsl-$name "$@" timeout 60 $B > $R/$name-$round.md 2>&1
}
for round in 1 2; do
  RINGATTN_SUBGROUP_VARIANT=shuffle timeout 60 $B --preheat 2 > $R/shuffle-$round.md 2>&1
  tb base RINGATTN_TILED_CFG=64,64,4,2
  tb kt442 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2
  tb kt442-u2 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=2,16,0
  tb kone882 RINGATTN_TILED_CFG=64,64,8,2
  tb kt882 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2
  tb kt882-u2 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=2,16,0
  tb kt882-u1 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=1,16,0
  tb kt882-j8 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=4,8,0
  tb kt882-j4 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,64,8,2 RINGATTN_TILED_OPTS=2,4,0
  tb kt641 RINGATTN_TILED_KT=1 RINGATTN_TILED_CFG=64,32,4,1
done
timeout 120 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims 64 --causal off > $R/sdpa.txt 2>&1
for d in $R/wgsl-*; do echo "== $d"; .gpu/pipeline_stats --adapter NVIDIA $d/flash_tiled*.wgsl 2>&1 | grep -E "^/|Register|Shared|Spill|Local|Private"; done > $R/stats.txt 2>&1
cd $R && { cat gpu.txt; for f in *-1.md *-2.md; do echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $5, $7}' | tr '\n' ' ') $(grep -ci error $f)"; done; grep -E "efficient" sdpa.txt; cat stats.txt; } > summary.txt; cat summary.txt
rm -rf $R/wgsl-*; cd $OUT && tar czf r.tgz r && rm -rf r
