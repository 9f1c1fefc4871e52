#!/bin/bash
# Twenty-sixth session: block masks on the register kernel (flash_regs.wgsl SPARSE).
# Correctness first (the masked tests, the register kernel's dense tests, the presets on
# rings), then sparse_bench at N=16384 (64- and 128-token blocks) with the register
# kernel and with RINGATTN_MATRIX_REGS=0 (flash_matrix.wgsl, the path block masks took
# before), then the one-device ring suite's presets. One GPU.
source scripts/device_run.sh
results
t() { local n=$1; shift; timeout $1 .gpu/$n --test-threads 2 ${@:2} > $R/test-$n.txt 2>&1; echo "rc=$?" >> $R/test-$n.txt; }
t sparse 240 masked_attention_matches_reference fully_masked_rows_are_zero
t attention 200 register_kernel every_head_dim causal_ rising_scores large_and_small batch_of single_token
t suite 120 hilbert_and_block_sparse_presets
SB=".gpu/sparse_bench --seqs 16384 --dtype f16 --head-dim 64 --densities 0.25,0.1 --check"
for b in 64 128; do
  timeout 60 $SB --block $b > $R/sparse-b$b.md 2>&1
  RINGATTN_MATRIX_REGS=0 timeout 60 $SB --block $b > $R/sparse-b$b-noregs.md 2>&1
done
timeout 60 .gpu/ringattn bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1 --check --check-rows 4 > $R/ring-suite.md 2>&1
