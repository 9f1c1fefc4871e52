#!/bin/bash
# Twenty-sixth session, fourth call: the one-device ring suite at N=16384 with the reheat
# after each case's first call (which builds the pipelines), from empty caches (tile
# cache and the driver's shader cache in new directories: the first use on a fresh
# machine), then again with the caches; SM clock sampled every 20 ms. One GPU.
source scripts/device_run.sh
results
B=".gpu/ringattn"
clocks_start
export RINGATTN_TUNE_CACHE=$R/tiles-a.json __GL_SHADER_DISK_CACHE_PATH=$R/shader-a
mkdir -p $R/shader-a
for run in a b; do
  timeout 150 $B bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1 --json $R/suite-$run.json 2>&1 | stamped > $R/suite-$run.txt
done
clocks_stop
rm -rf $R/shader-a
