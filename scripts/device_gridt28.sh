#!/bin/bash
# Twenty-eighth session, seventh call: the transposed grid as its own build (GRID_T;
# h = wg.y or wg.x itself in each). Against the build before the session
# (.gpu/old-ringattn) on one machine: matrix f16 head_dims 64/128, causal 4K/16K/64K and
# non-causal 16K/64K: old / new per head (RINGATTN_HEADS_TOGETHER=0) / new by the rule,
# two rounds; subgroup f32 causal 4K/16K by the rule and per head; sparse_bench 16K
# head_dim 64, 128-token blocks. The masked and launch-order tests, the attention tests'
# causal cases. Built-in tiles. One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
run_filtered sparse 240 masked_attention_matches_reference merged_mask_rows longest_first launch_orders
mv $R/test-sparse.txt $R/test-sparse.log
run_filtered attention 120 causal
S="bench --no-progress --reps 10 --max-seconds 4 --preheat 2 --tiers matrix --dtypes f16 --head-dims 64,128"
order_rounds "$S"
G="bench --no-progress --reps 10 --max-seconds 4 --preheat 2 --tiers subgroup --dtypes f32 --seqs 4096,16384 --head-dims 64,128 --causal on"
timeout 100 .gpu/ringattn $G > $R/g-rule.md 2>&1
RINGATTN_HEADS_TOGETHER=0 timeout 100 .gpu/ringattn $G > $R/g-per.md 2>&1
timeout 90 .gpu/sparse_bench --seqs 16384 --dtype f16 --densities 0.1,0.05 --head-dim 64 --block 128 --check > $R/s16k.md 2>&1
cd $R && mv test-sparse.log test-sparse.txt && test_lines > tests.txt && tar czf m.tgz old-*.md per-*.md rule-*.md g-*.md test-*.txt && rm old-*.md per-*.md rule-*.md g-*.md test-*.txt
