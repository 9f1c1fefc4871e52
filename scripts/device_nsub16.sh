#!/bin/bash
# Sixteenth session: the shuffle kernel staging NSUB tiles of K/V per barrier, in rounds of
# SCH vec4 units (RINGATTN_SUBGROUP_NSUB / _SCH), f32 N=16384, head_dims 64 and 128, two
# rounds, shapes as given (RINGATTN_SUBGROUP_CFG), registers and stack per build. The
# padding column (RINGATTN_SUBGROUP_KPAD; before it KSX, K/V areas a multiple of the
# staged tile) needs the diagnostic build of commit 87fdb23 (KPAD; KSX ran on 40ddf37
# with the K/V arrays sized KS * D4 * KSX, a change not committed).
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --seqs 16384 --causal off"
# runs: D cfg nsub sch [variant, default shuffle] [kpad: unused vec4s after each of the K and V areas]
RUNS=${RUNS:-"64 4,4,16 1 1|64 4,4,16 2 1|64 4,4,16 4 1|64 4,4,16 2 2|64 4,4,16 4 2|64 4,4,16 4 4|64 2,2,16 4 2|64 4,4,32 2 2|128 8,4,16 1 1|128 8,4,16 2 2|128 8,4,16 3 2|128 8,4,16 2 4"}
for round in 1 2; do
  IFS='|'; for run in $RUNS; do IFS=' '; set -- $run; n=d$1-${2//,/_}-n$3-s$4${5:+-$5}${6:+-kpad$6}
    RINGATTN_DUMP_WGSL=$R/w-$n RINGATTN_SUBGROUP_VARIANT=${5:-shuffle} RINGATTN_SUBGROUP_CFG=$2 RINGATTN_SUBGROUP_NSUB=$3 RINGATTN_SUBGROUP_SCH=$4 RINGATTN_SUBGROUP_KPAD=${6:-0} $B --head-dims $1 > $R/$n-$round.md 2>&1
  done; IFS=' '
done
[ -n "$SDPA" ] && timeout 200 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims $SDPA --causal off --reps 5 > $R/sdpa.txt 2>&1
for w in $R/w-*; do echo "== ${w##*/} $(.gpu/pipeline_stats --adapter NVIDIA $w/flash_subgroup*.wgsl $w/flash_tiled*.wgsl 2>&1 | grep -E "Register Count|Stack Size|Shared Memory Size" | tr -s ' ' | tr '\n' ' ')"; done > $R/regs.txt
cd $R && { for f in d*.md; do echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $7}' | tr -d ' ') $(grep -ciE 'error|ignored' $f)"; done | sort -V; grep -hE "efficient" sdpa.txt 2>/dev/null; cat regs.txt; } > summary.txt; cat summary.txt
rm -rf $R/w-*
