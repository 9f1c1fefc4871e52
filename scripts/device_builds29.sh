#!/bin/bash
# Twenty-ninth session, fourth call: the tile searches with their candidates built on
# one thread against up to 8 (RINGATTN_BUILD_THREADS), each from empty caches (the
# driver's shader cache in a new directory, no tile cache): `ringattn tune` for f16/f32
# at head_dims 64/128, wall seconds, two rounds in alternating order. Then the
# pipeline-thread test on the GPU. One GPU.
source scripts/device_run.sh
results
tune() { # NAME THREADS
  local d=$(mktemp -d)
  local t0=$(date +%s%N)
  __GL_SHADER_DISK_CACHE_PATH=$d RINGATTN_TUNE_CACHE=$d/tiles.json RINGATTN_BUILD_THREADS=$2 timeout 150 .gpu/ringattn tune --head-dims 64,128 --dtypes f16,f32 > $R/tune-$1.txt 2>&1
  local rc=$?
  echo "$1 threads=$2 rc=$rc ms=$(( ($(date +%s%N) - t0) / 1000000 ))" >> $R/times.txt
}
tune a1 1; tune a8 8; tune b8 8; tune b1 1
timeout 60 .gpu/attention --test-threads 2 threads_build_each_pipeline_once > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
(cd $R && test_lines) > $R/tests.txt
cd $OUT && tar czf r.tgz r && rm -rf r
