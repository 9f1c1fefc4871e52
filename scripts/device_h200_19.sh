#!/bin/bash
# Nineteenth session on an H200: head_dim 128's new default ((8,4,16) with PIPE and UNM,
# 128 invocations in f32) against the eighteenth session's (256 invocations, no PIPE, no
# UNM) in the same call, two rounds; the subgroup tier as picked by a fresh search (f32,
# N=4096/16384, head_dims 32/64/128, causal at 16384); SDPA efficient f32 at the same
# shapes; the GPU sparse suite and the rows test.
source scripts/device_run.sh
results
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal off --head-dims 128 --dtypes f32"
for round in 1 2; do
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=8,4,16 $B > $R/ab-new-$round.md 2>&1
  RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=8,4,16 RINGATTN_SUBGROUP_WG=256 RINGATTN_SUBGROUP_PIPE=0 RINGATTN_SUBGROUP_UNM=0 $B > $R/ab-old-$round.md 2>&1
done
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 4096,16384 --causal off --dtypes f32 --head-dims 32,64,128 > $R/subgroup.md 2>&1
.gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal on --dtypes f32 --head-dims 32,64,128 > $R/subgroup-causal.md 2>&1
timeout 150 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 4096,16384 --head-dims 32,64,128 --causal both --reps 5 > $R/sdpa-eff.txt 2>&1
TEST_LIMIT=80 run_tests sparse
timeout 200 .gpu/attention subgroup_rows_per_group_match_reference --test-threads 2 --nocapture > $R/test-rows.txt 2>&1; echo "rc=$?" >> $R/test-rows.txt
cd $R && { cat gpu.txt; for f in ab-*.md; do echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $7}' | tr -d ' ')"; done
  grep -hE "^\| subgroup" subgroup.md subgroup-causal.md; grep -E "efficient" sdpa-eff.txt; test_lines; grep -h "cases" test-rows.txt; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
