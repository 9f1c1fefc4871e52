#!/bin/bash
# Sixteenth session: the shuffle kernel with RS at fewer rows per group (m = 2) and
# 32-key tiles (RINGATTN_SUBGROUP_CFG=r,m,bk), f32 N=16384, head_dims 64 and 128, two
# rounds, with each shape's registers (pipeline_stats); SDPA efficient f32 in the same call.
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --seqs 16384 --causal off"
D64="4,4,16 4,2,16 4,2,32 4,4,32 2,2,16 8,2,16"
D128="8,4,16 8,2,16 8,2,32 8,4,32 4,2,16 16,2,16"
for round in 1 2; do
  for cfg in $D64; do
    RINGATTN_DUMP_WGSL=$R/w-d64-${cfg//,/_} RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$cfg $B --head-dims 64 > $R/d64-${cfg//,/_}-$round.md 2>&1
  done
  for cfg in $D128; do
    RINGATTN_DUMP_WGSL=$R/w-d128-${cfg//,/_} RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$cfg $B --head-dims 128 > $R/d128-${cfg//,/_}-$round.md 2>&1
  done
done
timeout 200 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims 64,128 --causal off --reps 5 > $R/sdpa.txt 2>&1
for w in $R/w-*; do echo "== ${w##*/}"; .gpu/pipeline_stats --adapter NVIDIA $w/flash_subgroup*.wgsl 2>&1 | grep -iE "regist|spill" | head -3; done > $R/regs.txt
cd $R && { for f in d*.md; do w=w-${f%-?.md}; echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $7}' | tr -d ' ') $(grep -ciE 'error|ignored' $f) | $(grep -hE '^const (R|M|BK|Q): u32' $w/flash_subgroup*.wgsl 2>/dev/null | sort -u | tr -s ' ' | tr '\n' ' ')"; done | sort; grep -E "efficient" sdpa.txt; cat regs.txt; } > summary.txt; cat summary.txt
rm -rf $R/w-*
