#!/bin/bash
# Needs the build of commit 4c49100 (VG, reverted in 80676ec).
# Fifteenth session: the tiled subgroup kernel reading V from v in P·V (VG), f32
# N=16384, two rounds: head_dim 64 (scripts/tb_vg15.txt) and 128 (tb_vg15_d128.txt),
# the shuffle kernel and SDPA efficient f32 at both in the same call; the tiled tests
# with VG forced on every shape.
source scripts/device_run.sh
results
tb_rounds scripts/tb_vg15.txt
TB=${TB/--head-dims 64/--head-dims 128}
tb_rounds scripts/tb_vg15_d128.txt
G="--no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --seqs 16384 --causal off --head-dims 64,128"
RINGATTN_SUBGROUP_VARIANT=shuffle .gpu/ringattn bench $G > $R/shuffle-1.md 2>&1
timeout 100 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims 64,128 --causal off --reps 5 > $R/sdpa.txt 2>&1
RINGATTN_TILED_VG=1 TEST_LIMIT=200 run_tests tiled
tail -3 $R/test-tiled.txt
tb_pack
