#!/bin/bash
# Ninth session (2026-11-26): the softmax's row sums on the tensor cores (LMMA with
# MREF: P times a fragment of ones; RINGATTN_MATRIX_LMMA=1, a switch of this build)
# against the same build without, at the H100's picks, two rounds; the test subset
# with LMMA on.
source scripts/device_run.sh
results
RINGATTN_MATRIX_LMMA=1 pick_tests
ab_env_picks lmma RINGATTN_MATRIX_LMMA 0 1
pack
