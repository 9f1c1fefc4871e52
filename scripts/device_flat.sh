#!/bin/bash
# The matrix kernel with contiguous softmax columns and no workgroup index clamping
# (seventh session, 2026-11-26), one call on a 1-GPU machine: the attention and sparse
# tests (every tier against the f64 reference), the kernel at the H100's tiles (f16
# and f32), a fresh tile search, then the table at the searched tiles beside SDPA
# (flash fp16, efficient fp32) in the same call; the driver's code of the f16 kernel
# (pipeline_stats --dump; SASS offline with scripts/sass_from_cache.py).
source scripts/device_run.sh
results wgsl dump
run_tests attention sparse
B="--no-progress --tiers matrix --causal off --reps 10 --max-seconds 3 --seqs 4096,16384"
RINGATTN_MATRIX_CFG=2,4,16 RINGATTN_DUMP_WGSL=$R/wgsl .gpu/ringattn bench $B --dtypes f16,f32 --head-dims 64 > $R/fixed-64.md 2>&1
RINGATTN_MATRIX_CFG=1,8,32 .gpu/ringattn bench $B --dtypes f16 --head-dims 128 > $R/fixed-128.md 2>&1
RINGATTN_MATRIX_CFG=1,8,16 .gpu/ringattn bench $B --dtypes f32 --head-dims 128 > $R/fixed-128f32.md 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16,f32 > $R/tune.txt 2>&1
.gpu/ringattn bench --no-progress --tiers matrix --dtypes f16,f32 --causal both --reps 5 --max-seconds 3 --seqs 1024,4096,16384,65536 --head-dims 64,128 --json $R/bench.json > $R/bench.md 2>&1
timeout 240 python3 benches/python/sdpa_baseline.py --backends flash,efficient --dtypes f16,f32 --seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both --reps 5 --max-seconds 3 --json $R/sdpa.json > $R/sdpa.txt 2>&1
.gpu/pipeline_stats --adapter NVIDIA --dump $R/dump $R/wgsl/flash_matrix*.wgsl > $R/stats.txt 2>&1
cd $R && { grep -hE "test result|FAILED|panicked|^rc=" test-*.txt; for f in fixed-*.md; do echo "== $f"; grep -E "^\| matrix" $f; done; grep -E "^best|^\| [0-9]" tune.txt; grep -E "^\| matrix" bench.md; grep -E "flash|efficient" sdpa.txt; grep -h "Register\|Binary" stats.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
