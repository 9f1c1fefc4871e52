#!/bin/bash
# Twenty-seventh session, fifth call: block masks run the register kernel at every
# head_dim (regs_wanted_sparse). The masked tests and the presets test (head_dim 128 on
# the register kernel now); sparse_bench at N=16384, f16, head_dim 128, 64/128-token
# blocks, tuned (fresh search), checked; then dense head_dim 128 on the register kernel
# (RINGATTN_MATRIX_REGS=1, its own fresh search) against flash_matrix (tuned) and SDPA
# flash in the same call, N=4096/16384/65536, causal both. One GPU.
source scripts/device_run.sh
results
sparse_checks
export RINGATTN_TUNE_CACHE=$R/tiles.json
SB=".gpu/sparse_bench --seqs 16384 --dtype f16 --densities 0.25,0.1"
for b in 64 128; do
  timeout 120 $SB --head-dim 128 --block $b --check > $R/d128-b$b.md 2>&1
done
S="bench --no-progress --tiers matrix --dtypes f16 --head-dims 128 --seqs 4096,16384,65536 --causal both --reps 5 --max-seconds 3"
timeout 150 .gpu/ringattn $S > $R/fm.md 2>&1
RINGATTN_MATRIX_REGS=1 RINGATTN_TUNE_CACHE=$R/tiles-regs.json timeout 150 .gpu/ringattn $S > $R/regs.md 2>&1
timeout 100 python3 benches/python/sdpa_baseline.py --reps 5 --causal both --backends flash --dtypes f16 --seqs 4096,16384,65536 --head-dims 128 > $R/sdpa.txt 2>&1
cd $R && test_lines > tests.txt && tar czf all.tgz *.md *.txt *.json
