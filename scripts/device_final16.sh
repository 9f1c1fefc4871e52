#!/bin/bash
# Sixteenth session, final build (the shuffle kernel stages 16 KiB of K/V per barrier
# with its loads batched; measured shapes (2,2,16)@32, (2,2,32)@64, (8,4,16)@128): the
# subgroup tier as picked (its kernel search runs at first use, cache in $R/tiles.json),
# the fifteenth session's defaults (old shapes, one tile and one unit per staging round),
# and the tiled kernel (those two f32 only), f32/f16, N=1024/4096/16384, head_dims 32/64/128 (f32 causal at
# 16384 too), beside SDPA efficient in the same call; the GPU test suites.
source scripts/device_run.sh
results
.gpu/ringattn info > $R/info.txt 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
G="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 1024,4096,16384 --causal off --dtypes f32,f16"
.gpu/ringattn bench $G --head-dims 32,64,128 > $R/subgroup.md 2>&1
.gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal on --dtypes f32 --head-dims 32,64,128 > $R/subgroup-causal.md 2>&1
G32=${G/f32,f16/f32}
for dc in 32:2,4,8 64:4,4,16 128:8,4,16; do
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=${dc#*:} RINGATTN_SUBGROUP_NSUB=1 RINGATTN_SUBGROUP_SCH=1 .gpu/ringattn bench $G32 --head-dims ${dc%%:*} > $R/subgroup-old-${dc%%:*}.md 2>&1
done
RINGATTN_SUBGROUP_VARIANT=tiled .gpu/ringattn bench $G32 --head-dims 32,64,128 > $R/subgroup-tiled.md 2>&1
timeout 200 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32,f16 --seqs 1024,4096,16384 --head-dims 32,64,128 --causal both --reps 5 > $R/sdpa-eff.txt 2>&1
# Workgroup memory and occupancy: the tiled kernel capped at 24 and 20 KiB
# (RINGATTN_TILED_BYTES), and the registers and workgroup memory of the kernels each
# tier runs here (pipeline_stats on the rendered WGSL).
for by in 24576 20480; do
  RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_TILED_BYTES=$by .gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal off --dtypes f32 --head-dims 32,64 > $R/tiled-$by.md 2>&1
done
RINGATTN_DUMP_WGSL=$R/wgsl .gpu/ringattn bench --no-progress --tiers matrix,subgroup --reps 1 --seqs 4096 --head-dims 64,128 --dtypes f16,f32 --causal off > /dev/null 2>&1
.gpu/pipeline_stats --adapter NVIDIA $R/wgsl/*.wgsl 2>&1 | grep -E "^  flash|Register Count|Shared Memory Size" > $R/kernel-stats.txt
rm -rf $R/wgsl
TEST_LIMIT=240 run_tests attention sparse tiled
cd $R && {
  cat gpu.txt; grep -iE "tier:|kernels:|subgroup" info.txt | head -8
  cat tiles.json | tr ',' '\n' | grep -iE "subgroup|variant" | head -20
  test_lines; grep -h "cases" test-attention.txt
  echo "== as picked"; grep -hE "^\| subgroup" subgroup.md subgroup-causal.md; echo "== old defaults"; grep -hE "^\| subgroup" subgroup-old-*.md; echo "== tiled"; grep -hE "^\| subgroup" subgroup-tiled.md; echo "== tiled 24/20 KiB"; grep -hE "^\| subgroup" tiled-*.md; grep -E "Register|Shared" kernel-stats.txt | tr -s " " | paste - - | sort | uniq -c; grep -E "efficient" sdpa-eff.txt
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
