#!/bin/bash
# Thirty-second session, fourth call: the new decode rule (flash_matrix's 16-key decode
# tiles, DECODE_SHAPE, parts within 512 workgroups and of 128+ keys; the register
# kernel's 32-key tiles keep 256 / 256) with the cheaper slot merge: one token (GQA 4:1),
# five tokens, MHA, a batch of 4, head_dims 128 and 64, f16, forced part counts beside
# the automatic ones, checked against f64; f32 on the subgroup tier; SDPA flash at the
# same shapes in the same call; the decode, split and merge tests on the H200.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --check"
timeout 60 $D --head-dim 128 --splits 32,128 > $R/gqa-128.md 2>&1
timeout 40 $D --head-dim 64 --splits 64 > $R/gqa-64.md 2>&1
timeout 60 $D --head-dim 128 --queries 5 --splits 16,64 > $R/q5-128.md 2>&1
timeout 60 $D --head-dim 128 --kv-heads 32 --splits 8,32 > $R/mha-128.md 2>&1
timeout 60 $D --head-dim 128 --batch 4 --splits 8,32 > $R/b4-128.md 2>&1
timeout 60 $D --head-dim 128 --dtype f32 --splits 64 > $R/gqa-128-f32.md 2>&1
P="python3 benches/python/sdpa_baseline.py --seqs 4096,16384,65536 --causal off --reps 20 --backends flash --dtypes f16 --heads 32"
timeout 40 $P --head-dims 64,128 --kv-heads 8 > $R/sdpa-gqa.txt 2>&1
timeout 40 $P --head-dims 128 --queries 5 --kv-heads 8 > $R/sdpa-q5.txt 2>&1
timeout 40 $P --head-dims 128 > $R/sdpa-mha.txt 2>&1
timeout 40 $P --head-dims 128 --batch 4 --kv-heads 8 > $R/sdpa-b4.txt 2>&1
TEST_LIMIT=200 run_tests merge
timeout 200 .gpu/attention --test-threads 2 decode_shapes single_token key_splits_match_reference key_parts_resume_across_chunks split_calls_reuse_their_scratch > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
decode_pack
