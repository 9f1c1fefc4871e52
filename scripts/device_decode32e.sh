#!/bin/bash
# Thirty-second session, fifth call: key parts with the rest of the keys first (all
# parts in one launch, the keys left over, if any, in a short launch recorded before
# it; the slot merge fresh where none are left), on the new decode rule: one token (GQA
# 4:1) at head_dims 128 and 64, five tokens, MHA, a batch of 4, f32 on the subgroup tier;
# forced part counts beside the automatic ones; checked against f64; SDPA flash at the
# same shapes (one or five query rows) in the same call; the decode, split and merge
# tests on the H200.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --check"
timeout 60 $D --head-dim 128 --splits 32,128 > $R/gqa-128.md 2>&1
timeout 60 $D --head-dim 128 --kv-lens 4097,16385,65537 --splits 32 > $R/gqa-128-odd.md 2>&1
timeout 40 $D --head-dim 64 --splits 64 > $R/gqa-64.md 2>&1
timeout 60 $D --head-dim 128 --queries 5 --splits 64 > $R/q5-128.md 2>&1
timeout 60 $D --head-dim 128 --kv-heads 32 --splits 32 > $R/mha-128.md 2>&1
timeout 60 $D --head-dim 128 --batch 4 --splits 32 > $R/b4-128.md 2>&1
timeout 60 $D --head-dim 128 --dtype f32 --splits 64 > $R/gqa-128-f32.md 2>&1
sdpa_decode
TEST_LIMIT=200 run_tests merge
timeout 200 .gpu/attention --test-threads 2 decode_shapes single_token key_splits_match_reference key_parts_resume_across_chunks split_calls > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
decode_pack
