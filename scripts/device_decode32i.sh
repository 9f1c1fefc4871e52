#!/bin/bash
# Thirty-second session, ninth call: the shuffle kernel's decode tiles only where a
# launch's rows fit one of their workgroups (8 rows): five query rows (20 rows) back on
# the dense tiles; one token; f32 head_dim 128, checked against f64.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --check --splits 16"
timeout 40 $D --head-dim 128 --dtype f32 --queries 5 > $R/f32-q5-128.md 2>&1
timeout 40 $D --head-dim 128 --dtype f32 > $R/f32-gqa-128.md 2>&1
decode_pack
