#!/bin/bash
# One call on a 1-GPU machine (seventh session, 2026-11-26): the attention and sparse
# tests on the final matrix kernel, then the driver's code (pipeline-cache blobs, for
# scripts/sass_from_cache.py) of the kernels a bench uses: matrix f16/f32 at the H100's
# tiles and the subgroup tier's f32 kernels (shuffle default and the tiled variant).
source scripts/device_run.sh
results
run_tests attention sparse
B="--no-progress --causal off --reps 5 --max-seconds 3 --seqs 4096,16384 --head-dims 64"
RINGATTN_DUMP_WGSL=$R/wgsl-m RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --tiers matrix --dtypes f16,f32 > $R/matrix.md 2>&1
RINGATTN_DUMP_WGSL=$R/wgsl-s .gpu/ringattn bench $B --tiers subgroup --dtypes f32 > $R/subgroup.md 2>&1
RINGATTN_DUMP_WGSL=$R/wgsl-t RINGATTN_SUBGROUP_VARIANT=tiled .gpu/ringattn bench $B --tiers subgroup --dtypes f32 > $R/tiled.md 2>&1
for d in m s t; do mkdir -p $R/dump-$d; .gpu/pipeline_stats --adapter NVIDIA --dump $R/dump-$d $R/wgsl-$d/*.wgsl > $R/stats-$d.txt 2>&1; done
cd $R && { grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; grep -hE "^\| (matrix|subgroup)" *.md; grep -h "Register\|flash_" stats-*.txt | cut -c1-200; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
