#!/bin/bash
# The machine code NVIDIA's Vulkan driver makes of the matrix kernel (first read in the
# seventh session, 2026-11-26): pipeline_stats --dump writes the driver's pipeline-cache
# blob per kernel, scripts/sass_from_cache.py disassembles it with nvdisasm. CFG,
# DTYPE and D pick the tiles, dtype and head_dim
# (default 2,4,16, f16, 64).
source scripts/device_run.sh
results wgsl dump
RINGATTN_DUMP_WGSL=$R/wgsl RINGATTN_MATRIX_CFG=${CFG:-2,4,16} .gpu/ringattn bench --no-progress --tiers matrix --dtypes ${DTYPE:-f16} --causal off --reps 2 --seqs 1024 --head-dims ${D:-64} > $R/bench.md 2>&1
.gpu/pipeline_stats --adapter NVIDIA --dump $R/dump $R/wgsl/flash_matrix*.wgsl > $R/stats.txt 2>&1
# (SASS where zstd exists; the lent machines lack it: run sass_from_cache.py on the
# blobs that come back.)
ND=$(command -v nvdisasm || find / -name nvdisasm -type f 2>/dev/null | head -1)
if command -v zstd >/dev/null; then
  for b in $R/dump/*.cache.bin; do python3 scripts/sass_from_cache.py $b ${b%.cache.bin}.sass $ND; done
fi
cat $R/stats.txt
cd $OUT && tar czf r.tgz r && rm -rf r
