#!/bin/bash
# Sixteenth session: the small-grid rule taking two-lane shapes down to one row per group
# (flash::small_grid_subgroup_config): the subgroup tier as picked at N=1024/4096,
# head_dims 32/64/128, f32, beside the tiled kernel and SDPA efficient; the
# shuffle-variant test with the (2,1,16) case.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
G="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 1024,4096 --head-dims 32,64,128 --dtypes f32 --causal off"
.gpu/ringattn bench $G > $R/subgroup.md 2>&1
RINGATTN_SMALL_GRID=0 .gpu/ringattn bench $G > $R/subgroup-nosmall.md 2>&1
timeout 420 .gpu/attention subgroup_rows --test-threads 2 --nocapture > $R/test-attention-subgroup-rows.txt 2>&1; echo "rc=$?" >> $R/test-attention-subgroup-rows.txt
cd $R && { grep -E "cases|test result|rc=|FAILED|panicked" test-attention-subgroup-rows.txt; echo "== as picked"; grep -E "^\| subgroup" subgroup.md; echo "== small-grid rule off"; grep -E "^\| subgroup" subgroup-nosmall.md; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
