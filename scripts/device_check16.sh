#!/bin/bash
# Sixteenth session, after the final call (whose 240 s test limit cut the shuffle-variant
# test): that test alone; the f16 shuffle kernel's registers and workgroup memory at
# head_dims 64/128 beside f32 (pipeline_stats); (2,1,32) against the default (2,2,32) on
# small grids (N=1024/4096, head_dim 64, f32).
source scripts/device_run.sh
results
timeout 420 .gpu/attention subgroup_rows --test-threads 2 --nocapture > $R/test-attention-subgroup-rows.txt 2>&1; echo "rc=$?" >> $R/test-attention-subgroup-rows.txt
RINGATTN_DUMP_WGSL=$R/wgsl RINGATTN_SUBGROUP_VARIANT=shuffle .gpu/ringattn bench --no-progress --tiers subgroup --reps 1 --seqs 1024 --head-dims 64,128 --dtypes f16,f32 --causal off > /dev/null 2>&1
.gpu/pipeline_stats --adapter NVIDIA $R/wgsl/flash_subgroup*.wgsl 2>&1 | grep -E "^  flash|Register Count|Shared Memory Size|Stack" > $R/kernel-stats.txt; rm -rf $R/wgsl
B=".gpu/ringattn bench --no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 1024,4096 --head-dims 64 --dtypes f32 --causal off"
for cfg in 2,2,32 2,1,32 2,1,16; do RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$cfg $B > $R/small-${cfg//,/_}.md 2>&1; done
cd $R && { grep -E "cases|test result|rc=|FAILED|panicked" test-attention-subgroup-rows.txt; sed -E 's/\[\("BK", "([0-9]+)"\).*\("HEAD_DIM", "([0-9]+)"\), \("IN", "([a-z0-9]+)"\).*/ bk=\1 d=\2 \3/' kernel-stats.txt | tr -s ' ' | paste - - - - ; for f in small-*.md; do echo "$f"; grep -E "^\| subgroup" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
