#!/bin/bash
# Eighteenth session, first call (H100): (1) the RSP check written as device_rsp17.sh
# (fresh kernel search, (4,4,32) at head_dim 64 with RSP on and off, SDPA efficient f32
# in the same call, the compare suite with --check on the GPU); (2) the shuffle kernel
# with 128 / 256 / 384 invocations per workgroup (RINGATTN_SUBGROUP_WG: a larger
# workgroup bounds the driver's registers per invocation, 65536 / WG), registers per
# build; (3) the driver's code (pipeline-cache blobs, for scripts/sass_from_cache.py) of
# the default kernels at head_dims 64 and 128, and nvdisasm itself; (4) the GPU suites.
source scripts/device_run.sh
results
bash scripts/device_rsp17.sh >/dev/null 2>&1   # writes $OUT/r.tgz with its own r/
mkdir -p $OUT/rsp && mv $OUT/r.tgz $OUT/rsp/ ; results
B=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --seqs 16384 --causal off"
for run in "64 4,4,32" "64 2,2,16" "128 8,4,16"; do set -- $run
  for wg in 128 256 384; do n=d$1-${2//,/_}-wg$wg
    RINGATTN_DUMP_WGSL=$R/w-$n RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$2 RINGATTN_SUBGROUP_WG=$wg $B --head-dims $1 > $R/$n.md 2>&1
  done
done
dumped_regs
mkdir -p $R/dump64 $R/dump128
.gpu/pipeline_stats --adapter NVIDIA --dump $R/dump64 $R/w-d64-4_4_32-wg128/flash_subgroup*.wgsl > $R/stats64.txt 2>&1
.gpu/pipeline_stats --adapter NVIDIA --dump $R/dump128 $R/w-d128-8_4_16-wg128/flash_subgroup*.wgsl > $R/stats128.txt 2>&1
cp $R/w-d64-4_4_32-wg128/flash_subgroup*.wgsl $R/dump64/ ; cp $R/w-d128-8_4_16-wg128/flash_subgroup*.wgsl $R/dump128/
ND=$(command -v nvdisasm || find / -name nvdisasm -type f 2>/dev/null | head -1); [ -n "$ND" ] && cp $ND $OUT/nvdisasm
rm -rf $R/w-*
TEST_LIMIT=330 run_tests attention sparse
cd $R && { run_times; cat regs.txt; test_lines; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
