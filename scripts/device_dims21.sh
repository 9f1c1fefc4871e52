#!/bin/bash
# Twenty-first session: head_dims 80, 96 and 256 with every option of the shuffle kernel
# (flash::SHUFFLE_FULL, f32): the subgroup tier as picked (fresh search, cache in
# $R/tiles.json) at N=4096/16384, f32 and f16, non-causal; f16 with the options forced
# against its default (two rounds, device_dbuf21.sh's format); SDPA efficient f32 in the
# same call; then the attention suite (every head_dim on the GPU) unless NO_TESTS=1.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 4096,16384 --causal off --dtypes f32,f16 --head-dims 80,96,256 > $R/subgroup.md 2>&1
unset RINGATTN_TUNE_CACHE
N="UNM=1,RSP=1,TAIL=1,PSM=1,EARLY=1,DBUF=1"
RUNS="80 4,4,16 128 0 - f16|80 4,4,16 256 1 $N f16|96 4,4,16 128 0 - f16|96 4,4,16 256 1 $N f16|256 16,4,8 128 0 - f16|256 16,4,8 256 1 $N f16"
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal off"
shuffle_runs
timeout 120 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 4096,16384 --head-dims 80,96,256 --causal off --reps 5 > $R/sdpa.txt 2>&1
[ -z "$NO_TESTS" ] && TEST_LIMIT=400 run_tests attention
cd $R && { grep -E "^\| subgroup" subgroup.md; run_times; cat regs.txt; grep -E "efficient" sdpa.txt; test_lines; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
