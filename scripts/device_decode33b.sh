#!/bin/bash
# Thirty-third session, second call: flash_decode.wgsl as decode calls now get it (f16
# and f32 on the subgroup tier, 8 subgroups per workgroup, parts within 65536
# invocations) beside forced part counts, 4 and 16 subgroups per workgroup, 2 keys per
# step; one token at head_dims 128 / 64, five tokens (20 rows over three query tiles)
# against the previous kernels (RINGATTN_DECODE_STREAM=0), MHA, a batch of 4, f32;
# checked against f64; SDPA in the same call; the decode, split and merge tests.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --check"
timeout 50 $D --head-dim 128 --splits 16,32,64 > $R/gqa-128.md 2>&1
RINGATTN_DECODE_WG=128 timeout 40 $D --head-dim 128 --splits 32,64 > $R/gqa-128-wg128.md 2>&1
RINGATTN_DECODE_WG=512 timeout 40 $D --head-dim 128 --splits 16,32 > $R/gqa-128-wg512.md 2>&1
RINGATTN_DECODE_KB=2 timeout 40 $D --head-dim 128 --splits 32,64 > $R/gqa-128-kb2.md 2>&1
timeout 40 $D --head-dim 64 --splits 16,32,64 > $R/gqa-64.md 2>&1
RINGATTN_DECODE_WG=128 timeout 40 $D --head-dim 64 --splits 32,64 > $R/gqa-64-wg128.md 2>&1
timeout 40 $D --head-dim 128 --queries 5 --splits 8,16,32 > $R/q5-128.md 2>&1
RINGATTN_DECODE_STREAM=0 timeout 40 $D --head-dim 128 --queries 5 --splits 16 > $R/q5-128-old.md 2>&1
timeout 40 $D --head-dim 128 --kv-heads 32 --splits 4,8,16 > $R/mha-128.md 2>&1
RINGATTN_DECODE_WG=128 timeout 40 $D --head-dim 128 --kv-heads 32 --splits 8,16 > $R/mha-128-wg128.md 2>&1
timeout 40 $D --head-dim 128 --batch 4 --splits 4,8,16 > $R/b4-128.md 2>&1
timeout 40 $D --head-dim 128 --dtype f32 --splits 16,32,64 > $R/gqa-128-f32.md 2>&1
sdpa_decode
timeout 200 .gpu/attention decode split overwrite --test-threads 2 > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
decode_pack
