#!/bin/bash
# How much do the matrix tier's barriers cost? Times variants of the rendered shader
# (RINGATTN_MATRIX_PATCH) at N=16384, f16, D=64/128, default tiles (RINGATTN_TUNE=0).
# Variants marked (wrong) give wrong results by design: they bound the possible gain.
source scripts/device_run.sh
export RINGATTN_TUNE=0
NL=$'\n'
B="        workgroupBarrier();"
run() { echo "== $1"; RINGATTN_MATRIX_PATCH="$2" .gpu/main/ringattn bench --tiers matrix --dtypes f16 --seqs 16384 --head-dims 64,128 --reps 10 2>&1 | grep -E "^\| matrix" ; }
run "baseline" ""
run "S barrier removed (wrong)" "// @S1${NL}${B}=>// @S1"
run "rescale check skipped (wrong)" "workgroupUniformLoad(&rescale_flag)[0] != 0u=>false"
run "end-of-tile barrier removed (wrong)" "// @PV1${NL}${B}=>// @PV1"
run "all three (wrong)" "// @S1${NL}${B}=>// @S1;;workgroupUniformLoad(&rescale_flag)[0] != 0u=>false;;// @PV1${NL}${B}=>// @PV1"
