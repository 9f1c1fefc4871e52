#!/bin/bash
# Nineteenth session: PIPE (a tile's P·V run in the next tile's body, V staged one tile
# behind K, RINGATTN_SUBGROUP_PIPE) on and off at the default shapes and workgroups
# (head_dims 32 / 64 / 128; 128 also with 128 invocations), f32 N=16384, two rounds;
# f16 and causal once; SDPA efficient f32 in the same call; registers per build; the
# driver's code of the PIPE builds at 64 and 128; the GPU rows test (PIPE cases in it).
# RUNS: "D cfg wg pipe|...".
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs ${SEQ:-16384}"
RUNS=${RUNS:-"128 8,4,16 256 0|128 8,4,16 256 1|64 4,4,32 128 0|64 4,4,32 128 1|32 2,2,16 128 0|32 2,2,16 128 1|128 8,4,16 128 0|128 8,4,16 128 1"}
one() { # D cfg wg pipe dtype causal round
  local n=d$1-${2//,/_}-wg$3-pipe$4-$5-c$6
  RINGATTN_DUMP_WGSL=$R/w-$n RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$2 RINGATTN_SUBGROUP_WG=$3 RINGATTN_SUBGROUP_PIPE=$4 \
    $B --dtypes $5 --causal $6 --head-dims $1 > $R/$n-$7.md 2>&1
}
for round in 1 2; do
  IFS='|'; for run in $RUNS; do IFS=' '; set -- $run; one $1 $2 $3 $4 f32 off $round; done; IFS=' '
done
for pipe in 0 1; do
  one 128 8,4,16 256 $pipe f16 off 1; one 64 4,4,32 128 $pipe f16 off 1
  one 128 8,4,16 256 $pipe f32 on 1; one 64 4,4,32 128 $pipe f32 on 1
done
timeout 200 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims 32,64,128 --causal both > $R/sdpa-eff.txt 2>&1
dumped_regs
for d in 64 128; do w=$(ls -d $R/w-d$d-*wg*-pipe1-f32-coff | head -1); mkdir -p $R/dump$d
  .gpu/pipeline_stats --adapter NVIDIA --dump $R/dump$d $w/flash_subgroup*.wgsl > $R/stats$d.txt 2>&1; cp $w/flash_subgroup*.wgsl $R/dump$d/
done
ND=$(command -v nvdisasm || find / -name nvdisasm -type f 2>/dev/null | head -1); [ -n "$ND" ] && cp $ND $OUT/nvdisasm
rm -rf $R/w-*
timeout 300 .gpu/attention subgroup_rows_per_group_match_reference shuffle_long_keys --test-threads 2 --nocapture > $R/test-rows.txt 2>&1; echo "rc=$?" >> $R/test-rows.txt
cd $R && { run_times; cat regs.txt; grep -E "efficient" sdpa-eff.txt; grep -hE "cases|test result|FAILED|panicked|^rc=" test-rows.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
