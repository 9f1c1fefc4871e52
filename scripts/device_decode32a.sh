#!/bin/bash
# Thirty-second session, first call: is decode's K/V read rate limited by the layout?
# ringattn holds K/V as (B, N, H_kv, D): one K/V head's rows are 256-byte pieces 2 KiB
# apart at 8 K/V heads, head_dim 128. The same bytes and workgroups with B=8, H=4, one
# K/V head (each sequence's K/V contiguous) against B=1, H=32, 8 K/V heads; SDPA flash at
# both shapes, (B, H, N, D) contiguous and (B, N, H, D) transposed views (--bnhd); our
# key-split counts 32 / 64 / 128 beside the automatic pick.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1"
timeout 60 $D --head-dim 128 --splits 32,64,128 > $R/b1-h32-kv8.md 2>&1
timeout 60 $D --head-dim 128 --batch 8 --heads 4 --kv-heads 1 --splits 32,64,128 > $R/b8-h4-kv1.md 2>&1
timeout 40 $D --head-dim 64 --splits 32,64 > $R/b1-h32-kv8-d64.md 2>&1
timeout 40 $D --head-dim 64 --batch 8 --heads 4 --kv-heads 1 --splits 32,64 > $R/b8-h4-kv1-d64.md 2>&1
P="python3 benches/python/sdpa_baseline.py --seqs 4096,16384,65536 --causal off --reps 20 --queries 1 --backends flash --dtypes f16 --head-dims 64,128"
timeout 40 $P --heads 32 --kv-heads 8 > $R/sdpa-b1-h32-kv8.txt 2>&1
timeout 40 $P --heads 32 --kv-heads 8 --bnhd > $R/sdpa-b1-h32-kv8-bnhd.txt 2>&1
timeout 40 $P --batch 8 --heads 4 --kv-heads 1 > $R/sdpa-b8-h4-kv1.txt 2>&1
timeout 40 $P --batch 8 --heads 4 --kv-heads 1 --bnhd > $R/sdpa-b8-h4-kv1-bnhd.txt 2>&1
decode_pack
