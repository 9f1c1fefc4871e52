#!/bin/bash
# Ninth session (2026-11-26): the pipelined f16 loop with MREF at two barriers per tile
# (V staged after the softmax, no end-of-tile barrier) against the build before
# (.gpu/ringattn-prev: three barriers), at the H100's picks, causal both, two rounds;
# the attention and sparse tests and the subset with the picks forced and with every
# workgroup running its keys twice (PLIM patched to -1).
source scripts/device_run.sh
results
run_tests attention sparse
pick_tests
ab_prev_picks
pack
