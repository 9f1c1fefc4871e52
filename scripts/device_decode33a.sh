#!/bin/bash
# Thirty-third session, first call: flash_decode.wgsl (K/V streamed into registers, no
# workgroup memory in the key loop) against the matrix tier's decode tiles (f16) and the
# shuffle kernel's (f32, RINGATTN_DECODE_STREAM=0): one token (GQA 4:1) at head_dims
# 128 and 64, key parts 16-128, its keys per step (KB), workgroup size and lanes per
# key; MHA and a batch of 4; checked against f64; SDPA in the same call; the decode
# tests on the H200.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --check"
S="$D --tier subgroup"
timeout 50 $D --head-dim 128 --splits 16,32 > $R/gqa-128-matrix.md 2>&1
timeout 50 $S --head-dim 128 --splits 16,32,64,128 > $R/gqa-128-stream.md 2>&1
RINGATTN_DECODE_KB=2 timeout 40 $S --head-dim 128 --splits 32,64 > $R/gqa-128-kb2.md 2>&1
RINGATTN_DECODE_KB=8 timeout 40 $S --head-dim 128 --splits 32,64 > $R/gqa-128-kb8.md 2>&1
RINGATTN_DECODE_WG=256 timeout 40 $S --head-dim 128 --splits 32,64 > $R/gqa-128-wg256.md 2>&1
RINGATTN_DECODE_G=8 timeout 40 $S --head-dim 128 --splits 32,64 > $R/gqa-128-g8.md 2>&1
timeout 40 $S --head-dim 64 --splits 32,64 > $R/gqa-64-stream.md 2>&1
timeout 40 $D --head-dim 64 --splits 16 > $R/gqa-64-matrix.md 2>&1
timeout 40 $D --head-dim 128 --dtype f32 --splits 32,64 > $R/gqa-128-f32-stream.md 2>&1
RINGATTN_DECODE_STREAM=0 timeout 40 $D --head-dim 128 --dtype f32 --splits 32 > $R/gqa-128-f32-shuffle.md 2>&1
timeout 40 $S --head-dim 128 --kv-heads 32 --splits 8,16 > $R/mha-128-stream.md 2>&1
timeout 40 $S --head-dim 128 --batch 4 --splits 8,16 > $R/b4-128-stream.md 2>&1
sdpa_decode
TEST_LIMIT=120 run_tests "attention decode_stream shuffle_decode split"
decode_pack
