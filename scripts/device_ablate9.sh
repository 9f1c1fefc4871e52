#!/bin/bash
# Ninth session (2026-11-26): what the f16 matrix kernel's barriers cost (timing only:
# the patched kernels give wrong results). Patches of the rendered shader
# (RINGATTN_MATRIX_PATCH): noC drops the end-of-tile barrier, noflag replaces the
# workgroupUniformLoad of the rescale flag (two barriers) by a uniform false, both does
# both; with four partial max/sum chains (TREE), two rounds at the H100's picks.
source scripts/device_run.sh
results
# (Run with the build where TREE was the switch RINGATTN_MATRIX_TREE=1; it now goes
# with the pipelined loop.)
export RINGATTN_MATRIX_TREE=1
NOC=$'// @PV1\n        workgroupBarrier();=>// @PV1'
NOFLAG='if workgroupUniformLoad(&rescale_flag)[0] != 0u {=>if p.causal == 7u {'
ab_patched_picks base '' noC "$NOC" noflag "$NOFLAG" both "$NOC;;$NOFLAG"
pack
