#!/bin/bash
# Where does the matrix tier spend its time? Time variants with one stage commented out
# (RINGATTN_MATRIX_PATCH edits the rendered shader; results are wrong by design).
source scripts/device_run.sh
run() { echo "== $1"; shift; env "$@" .gpu/quickstart 2>&1 | grep -E "gpu time" ; }
for d in 64 128; do
  B="QUICKSTART_N=16384 QUICKSTART_DTYPE=f16 QUICKSTART_D=$d"
  run "d=$d baseline" $B
  run "d=$d no staging" $B 'RINGATTN_MATRIX_PATCH=// @ST0=>/*;;// @ST1=>*/'
  run "d=$d no S mma" $B 'RINGATTN_MATRIX_PATCH=// @S0=>/*;;// @S1=>*/'
  run "d=$d no softmax" $B 'RINGATTN_MATRIX_PATCH=// @SM0=>/*;;// @SM1=>*/'
  run "d=$d no PV" $B 'RINGATTN_MATRIX_PATCH=// @PV0=>/*;;// @PV1=>*/'
  run "d=$d only staging" $B 'RINGATTN_MATRIX_PATCH=// @S0=>/*;;// @PV1=>*/'
  run "d=$d nothing" $B 'RINGATTN_MATRIX_PATCH=// @ST0=>/*;;// @PV1=>*/'
done
