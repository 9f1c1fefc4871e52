#!/bin/bash
# Twenty-eighth session, second call: launches over a whole block mask run its rows
# longest first (FlashParams::mask_order). The masked tests (with the new
# whole_mask_launches_run_rows_longest_first) and the presets; sparse_bench with
# --even-rows at head_dims 64 and 128, 128- and 64-token blocks, with the order and
# with RINGATTN_LONGEST_FIRST=0 (index order: the random masks' launches before); the
# one-device ring suite at 16K, checked. Built-in tiles. One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
run_filtered sparse 240 masked_attention_matches_reference fully_masked_rows_are_zero merged_mask_rows longest_first
run_filtered suite 120 hilbert_and_block_sparse_presets
SB=".gpu/sparse_bench --seqs 16384 --dtype f16 --densities 0.25,0.1,0.05 --even-rows"
IDX=RINGATTN_LONGEST_FIRST=0
AB_A=--check ab d64-b128 index $IDX $SB --head-dim 64 --block 128
ab d64-b64 index $IDX $SB --head-dim 64 --block 64
AB_A=--check ab d128-b128 index $IDX $SB --head-dim 128 --block 128
AB_A="--check --check-rows 4" AB_LIMIT=120 ab ring-suite index $IDX .gpu/ringattn bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1
cd $R && test_lines > tests.txt
