#!/bin/bash
# Ninth session (2026-11-26): the f16 matrix kernel's full tiles in two phases (tiles
# no row of the workgroup sees in part run a softmax without the mask) and, for a
# positive scale, the scale folded into the exponent's FMA (SCALE_POS). One call on a
# 1-GPU machine: the attention and sparse tests, the kernel against the previous build
# (.gpu/ringattn-prev) at the H100's picks, causal both, two rounds, and the driver's
# code of the new kernel at (2,4,16) D=64.
source scripts/device_run.sh
results
run_tests attention sparse
ab_prev_picks
dump_matrix 2,4,16 64 new
pack
