#!/bin/bash
# Tenth session: does the driver's unrolling of the f16 matrix kernel's tile loop (8
# tiles per iteration at (2,4,16) D=64: a ~29 KB loop body) cost time? The patch makes
# the loop's step opaque to the compiler (BK + p.accumulate, which is 0 in these
# single-chunk runs), so its trip count is not computable. A/B at the H100's picks, two
# rounds, and both kernels' pipeline caches for the SASS (scripts/sass_from_cache.py).
source scripts/device_run.sh
results
OPAQUE='for (; t < pend; t += BK) {=>for (; t < pend; t += BK + p.accumulate) {'
ab_patched_picks base '' opaque "$OPAQUE"
dump_matrix 2,4,16 64 base
RINGATTN_MATRIX_PATCH="$OPAQUE" dump_matrix 2,4,16 64 opaque
pack
