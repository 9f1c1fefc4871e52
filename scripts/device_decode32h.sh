#!/bin/bash
# Thirty-second session, eighth call: the shuffle kernel's decode tiles split within 512
# workgroups (flash::decode_split): f32 head_dim 128, five query rows (24 workgroups a
# part: 16 parts, 8 before), one token, MHA; checked against f64.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --check --splits 8"
timeout 40 $D --head-dim 128 --dtype f32 --queries 5 > $R/f32-q5-128.md 2>&1
timeout 40 $D --head-dim 128 --dtype f32 > $R/f32-gqa-128.md 2>&1
timeout 40 $D --head-dim 128 --dtype f32 --kv-heads 32 > $R/f32-mha-128.md 2>&1
decode_pack
