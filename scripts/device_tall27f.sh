#!/bin/bash
# Twenty-seventh session, sixth call: the ring keeps its uploaded block mask between
# calls (Workspace::mask_on; it built and uploaded the mask's GPU layouts on every call).
# The one-device ring suite at 16K, tuned (fresh search), checked, then twice more
# without the check. One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
S="bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1"
timeout 120 .gpu/ringattn $S --check --check-rows 4 > $R/ring-suite.md 2>&1
for run in b c; do timeout 90 .gpu/ringattn $S > $R/ring-suite-$run.md 2>&1; done
