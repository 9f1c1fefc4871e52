#!/bin/bash
# Twenty-sixth session, third call: the one-device ring suite at N=16384 with the new
# per-case reheat (--reheat 0.5, the default), on a fresh machine (no tile cache, no
# driver shader cache: the first process searches tiles and compiles mid-suite, as in
# the second call's slow run) and again; SM clock sampled every 20 ms. One GPU.
source scripts/device_run.sh
results
B=".gpu/ringattn"
clocks_start
# Runs "a" and "noreheat" start from empty caches (tile cache and the driver's shader
# cache in new directories), "b" reuses a's.
for run in a b; do
  [ $run = a ] && export RINGATTN_TUNE_CACHE=$R/tiles-a.json __GL_SHADER_DISK_CACHE_PATH=$R/shader-a && mkdir -p $R/shader-a
  timeout 150 $B bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1 2>&1 | stamped > $R/suite-$run.txt
done
export RINGATTN_TUNE_CACHE=$R/tiles-c.json __GL_SHADER_DISK_CACHE_PATH=$R/shader-c && mkdir -p $R/shader-c
timeout 150 $B bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1 --reheat 0 2>&1 | stamped > $R/suite-noreheat.txt
clocks_stop
du -sh $R/shader-a $R/shader-c > $R/shader-sizes.txt; rm -rf $R/shader-a $R/shader-c
