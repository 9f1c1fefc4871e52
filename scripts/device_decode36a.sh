#!/bin/bash
# (Ran on commit bb0fc5d; the row sets were removed after this and the next call.)
# Thirty-sixth session, first call: flash_decode.wgsl's row sets (RINGATTN_DECODE_SETS:
# a tile's rows split over lane groups that take the same keys, so a tile of 8 rows
# reads its K/V once with 4 rows per lane) against the default (two 4-row tiles, each
# reading the K/V), for 8 rows per K/V head (64 query heads over 8; two tokens of 4),
# 4 rows in 2 and 4 sets, f32 and head_dim 64 at 8 rows, and 16 / 20 rows (four / five
# tokens of 4) in 4 sets against the matrix tier (RINGATTN_DECODE_MAX_ROWS). No f64
# check in the timed runs; one checked run per new shape at the end; SDPA flash at the
# same shapes; the attention binary's decode tests.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --reps 30"
for round in 1 2; do
for c in "g8:--heads 64" "q2:--queries 2"; do
  n=${c%%:*}; a=${c#*:}
  timeout 40 $D $a --splits 16,32 > $R/$n-def-$round.md 2>&1
  RINGATTN_DECODE_SETS=2 timeout 40 $D $a --splits 16,32,64 > $R/$n-s2-$round.md 2>&1
done
done
timeout 40 $D --heads 64 --splits 32,64 > /dev/null 2>&1
RINGATTN_DECODE_SETS=4 timeout 40 $D --heads 64 --splits 32,64 > $R/g8-s4.md 2>&1
timeout 40 $D --splits 32 > $R/gqa-def.md 2>&1
RINGATTN_DECODE_SETS=2 timeout 40 $D --splits 32,64 > $R/gqa-s2.md 2>&1
RINGATTN_DECODE_SETS=4 timeout 40 $D --splits 32,64 > $R/gqa-s4.md 2>&1
timeout 40 $D --heads 64 --dtype f32 --splits 16,32 > $R/g8f32-def.md 2>&1
RINGATTN_DECODE_SETS=2 timeout 40 $D --heads 64 --dtype f32 --splits 16,32,64 > $R/g8f32-s2.md 2>&1
timeout 40 $D --heads 64 --head-dim 64 --splits 16,32 > $R/g8d64-def.md 2>&1
RINGATTN_DECODE_SETS=2 timeout 40 $D --heads 64 --head-dim 64 --splits 16,32,64 > $R/g8d64-s2.md 2>&1
timeout 40 $D --queries 4 --splits 16,32 > $R/q4-def.md 2>&1
RINGATTN_DECODE_MAX_ROWS=16 RINGATTN_DECODE_SETS=4 timeout 40 $D --queries 4 --splits 16,32,64 > $R/q4-s4.md 2>&1
RINGATTN_DECODE_MAX_ROWS=16 RINGATTN_DECODE_SETS=2 RINGATTN_DECODE_ROWS=8 timeout 40 $D --queries 4 --splits 16,32,64 > $R/q4-s2r8.md 2>&1
timeout 40 $D --queries 5 --splits 16,32 > $R/q5-def.md 2>&1
RINGATTN_DECODE_MAX_ROWS=20 RINGATTN_DECODE_SETS=4 RINGATTN_DECODE_ROWS=5 timeout 40 $D --queries 5 --splits 16,32,64 > $R/q5-s4r5.md 2>&1
# f64 checks of the new shapes (auto parts only).
C=".gpu/decode --kv-lens 4096,65536 --preheat 1 --reps 5 --check --splits 16"
RINGATTN_DECODE_SETS=2 timeout 60 $C --heads 64 > $R/chk-g8-s2.md 2>&1
RINGATTN_DECODE_SETS=2 timeout 60 $C --heads 64 --dtype f32 > $R/chk-g8f32-s2.md 2>&1
RINGATTN_DECODE_MAX_ROWS=16 RINGATTN_DECODE_SETS=4 timeout 60 $C --queries 4 > $R/chk-q4-s4.md 2>&1
RINGATTN_DECODE_MAX_ROWS=20 RINGATTN_DECODE_SETS=4 RINGATTN_DECODE_ROWS=5 timeout 60 $C --queries 5 > $R/chk-q5-s4r5.md 2>&1
sdpa_decode
P="python3 benches/python/sdpa_baseline.py --seqs 4096,16384,65536 --causal off --reps 20 --backends flash --dtypes f16"
timeout 40 $P --heads 32 --head-dims 128 --queries 2 --kv-heads 8 > $R/sdpa-q2.txt 2>&1
timeout 40 $P --heads 64 --head-dims 64,128 --queries 1 --kv-heads 8 > $R/sdpa-g8.txt 2>&1
timeout 40 $P --heads 32 --head-dims 128 --queries 4 --kv-heads 8 > $R/sdpa-q4.txt 2>&1
timeout 200 .gpu/attention decode --test-threads 2 > $R/test-attention-decode.txt 2>&1; echo "rc=$?" >> $R/test-attention-decode.txt
decode_pack
