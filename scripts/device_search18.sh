#!/bin/bash
# Eighteenth session: the subgroup tier's search over shuffle-kernel shapes
# (flash::shuffle_candidates) on the GPU: the search test, `ringattn tune` for f32 at
# head_dims 32 / 64 / 128 (cache in $R/tiles.json), then the tier with that cache at
# N=16384 (the tuned shapes as users get them).
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
timeout 120 .gpu/attention subgroup_search_times_kernels_and_shapes shuffle_search_candidates_match_reference --nocapture --test-threads 1 > $R/test-search.txt 2>&1; echo "rc=$?" >> $R/test-search.txt
.gpu/ringattn tune --head-dims 32,64,128 --dtypes f32 > $R/tune.txt 2>&1
.gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --causal off --dtypes f32 --head-dims 32,64,128 > $R/bench.md 2>&1
cd $R && { grep -hE "test result|panicked|candidates checked|F32|F16|rc=" test-search.txt | cut -c1-600; grep -vE "^$" tune.txt | grep -E "^\||best|head_dim"; grep -hE "^\| subgroup" bench.md; cat tiles.json | tr -d '\n ' | head -c 1500; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
