#!/bin/bash
# Seventeenth session, final build (the shuffle kernel's scores as scalar chains of
# multiply-adds on its reduce-scatter path; measured shapes (2,2,16)@32, (4,4,32)@64 with
# the mask skipped on whole tiles (UNM), (8,4,16)@128): the subgroup tier as picked (its
# kernel search runs at first use, cache in $R/tiles.json), f32/f16, N=1024/4096/16384,
# head_dims 32/64/128 (f32 causal at 16384 too); the sixteenth session's head_dim 64 shape
# (2,2,32) with this build (not with NO_2232=1: scripts/device_final18.sh); SDPA efficient f32
# in the same call; the GPU test suites.
source scripts/device_run.sh
results
.gpu/ringattn info > $R/info.txt 2>&1
export RINGATTN_TUNE_CACHE=$R/tiles.json
G="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 1024,4096,16384 --causal off"
.gpu/ringattn bench $G --dtypes f32,f16 --head-dims 32,64,128 > $R/subgroup.md 2>&1
.gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal on --dtypes f32 --head-dims 32,64,128 > $R/subgroup-causal.md 2>&1
[ -z "$NO_2232" ] && RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=2,2,32 .gpu/ringattn bench $G --dtypes f32 --head-dims 64 > $R/subgroup-2_2_32.md 2>&1
timeout 150 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 1024,4096,16384 --head-dims 32,64,128 --causal both --reps 5 > $R/sdpa-eff.txt 2>&1
RINGATTN_DUMP_WGSL=$R/wgsl .gpu/ringattn bench --no-progress --tiers subgroup --reps 1 --seqs 16384 --head-dims 32,64,128 --dtypes f32,f16 --causal off > /dev/null 2>&1
.gpu/pipeline_stats --adapter NVIDIA $R/wgsl/*.wgsl 2>&1 | grep -E "^  flash|Register Count|Shared Memory Size" > $R/kernel-stats.txt
rm -rf $R/wgsl
# NO_TESTS=1: no test suites (a later call runs them); SPARSE_LIMIT: the sparse suite's limit.
if [ -z "$NO_TESTS" ]; then
  TEST_LIMIT=${TEST_LIMIT:-320} run_tests attention
  TEST_LIMIT=${SPARSE_LIMIT:-60} run_tests sparse
fi
cd $R && {
  cat gpu.txt; grep -iE "tier:|kernels:|subgroup" info.txt | head -8
  cat tiles.json | tr ',' '\n' | grep -iE "subgroup|variant" | head -20
  test_lines; grep -h "cases" test-attention.txt
  echo "== as picked"; grep -hE "^\| subgroup" subgroup.md subgroup-causal.md; [ -z "$NO_2232" ] && { echo "== (2,2,32) at 64"; grep -hE "^\| subgroup" subgroup-2_2_32.md; }
  grep -E "Register|Shared" kernel-stats.txt | tr -s " " | paste - - | sort | uniq -c; grep -E "efficient" sdpa-eff.txt
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
