#!/bin/bash
# (Ran on commit bb0fc5d; the row sets were removed after this and the next call.)
# Thirty-sixth session, second call: row sets with more bytes in flight per warp (call1:
# two sets of 4 rows on the same keys ran 1.4x slower than two 4-row tiles at 64K, each
# warp reading one 256-byte key row per load where the tiles' warps read two): 8 keys a
# step (RINGATTN_DECODE_KB=8), 8 lanes per key (_G=8: a warp on two keys again), PREF;
# 16 and 20 rows (four and five tokens of 4) in 4 sets on 128-invocation workgroups
# (their subgroup states fit the workgroup memory there). Defaults beside them; no f64
# check in the timed runs, one checked run each for the 16/20-row shapes.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --reps 30"
timeout 40 $D --heads 64 --splits 16 > $R/g8-def.md 2>&1
for v in "kb8:RINGATTN_DECODE_KB=8" "g8:RINGATTN_DECODE_G=8" "g8kb2:RINGATTN_DECODE_G=8 RINGATTN_DECODE_KB=2" "pref:RINGATTN_DECODE_PREF=1" "wg512:RINGATTN_DECODE_WG=512" "g8kb8:RINGATTN_DECODE_G=8 RINGATTN_DECODE_KB=8"; do
  n=${v%%:*}; e=${v#*:}
  env RINGATTN_DECODE_SETS=2 $e timeout 40 $D --heads 64 --splits 16,32 > $R/g8-s2-$n.md 2>&1
done
timeout 40 $D --heads 64 --splits 16 > $R/g8-def-b.md 2>&1
for v in "s4:RINGATTN_DECODE_SETS=4" "s4kb8:RINGATTN_DECODE_SETS=4 RINGATTN_DECODE_KB=8" "s2r8:RINGATTN_DECODE_SETS=2 RINGATTN_DECODE_ROWS=8"; do
  n=${v%%:*}; e=${v#*:}
  env RINGATTN_DECODE_MAX_ROWS=16 RINGATTN_DECODE_WG=128 $e timeout 40 $D --queries 4 --splits 16,32,64 > $R/q4-$n.md 2>&1
done
env RINGATTN_DECODE_MAX_ROWS=20 RINGATTN_DECODE_WG=128 RINGATTN_DECODE_SETS=4 RINGATTN_DECODE_ROWS=5 timeout 40 $D --queries 5 --splits 16,32,64 > $R/q5-s4r5.md 2>&1
timeout 40 $D --queries 4 --splits 32,64 > $R/q4-def.md 2>&1
C=".gpu/decode --kv-lens 4096,65536 --preheat 1 --reps 5 --check --splits 16"
env RINGATTN_DECODE_MAX_ROWS=16 RINGATTN_DECODE_WG=128 RINGATTN_DECODE_SETS=4 timeout 60 $C --queries 4 > $R/chk-q4-s4.md 2>&1
env RINGATTN_DECODE_MAX_ROWS=20 RINGATTN_DECODE_WG=128 RINGATTN_DECODE_SETS=4 RINGATTN_DECODE_ROWS=5 timeout 60 $C --queries 5 > $R/chk-q5-s4r5.md 2>&1
decode_pack > /dev/null
cd $OUT && tar xzf r.tgz && for f in r/*.md; do echo "== $f"; grep -E "^\| [0-9]" $f | awk -F'|' '{print $2,$3,$4,$7,$11}' | sed 's/decode//' | tr '\n' ';'; echo; done; rm -rf r
