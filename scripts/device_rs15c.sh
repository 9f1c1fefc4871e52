#!/bin/bash
# Fifteenth session: with RS, more lanes per row (r) and more rows per group (m) for the
# shuffle kernel (RINGATTN_SUBGROUP_CFG=r,m,bk), f32 N=16384, head_dims 64 and 128, two
# rounds; then the shuffle-variant tests (which include these shapes).
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --seqs 16384 --causal off"
for round in 1 2; do
  for cfg in 4,4,16 8,4,16 8,8,16 8,8,8 16,8,16; do
    RINGATTN_DUMP_WGSL=$R/w-d64-${cfg//,/_} RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$cfg $B --head-dims 64 > $R/d64-${cfg//,/_}-$round.md 2>&1
  done
  for cfg in 8,4,16 16,4,16 16,8,16 16,8,8; do
    RINGATTN_DUMP_WGSL=$R/w-d128-${cfg//,/_} RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$cfg $B --head-dims 128 > $R/d128-${cfg//,/_}-$round.md 2>&1
  done
done
timeout 120 .gpu/attention subgroup_rows --test-threads 2 --nocapture > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
cd $R && { for f in d*.md; do w=w-${f%-?.md}; echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $7}' | tr -d ' ') $(grep -ciE 'error|ignored' $f) | $(grep -hE '^const (R|M|BK|Q): u32' $w/flash_subgroup*.wgsl 2>/dev/null | sort -u | tr -s ' ' | tr '\n' ' ')"; done | sort; grep -E "cases|test result|rc=" test-attention.txt; } > summary.txt; cat summary.txt
rm -rf $R/w-*
