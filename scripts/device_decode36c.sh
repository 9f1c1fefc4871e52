#!/bin/bash
# (Ran on commit 15b5fc4; the row sets were removed again after it.)
# Thirty-sixth session, sixth call: row sets again with the set in the high bits of the
# lane group (group g: set g / NK, keys g % NK + j NK): each warp reads two key rows per
# load as in the default, and the sets' warps read the same keys in the same order (the
# later reads hit the cache), against the default two 4-row tiles; 16 and 20 rows in 4
# sets against the matrix tier. Timed without the f64 check; two checked runs at the end.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --reps 30"
for round in 1 2; do
  timeout 40 $D --heads 64 --splits 16 > $R/g8-def-$round.md 2>&1
  RINGATTN_DECODE_SETS=2 timeout 40 $D --heads 64 --splits 16,32,64 > $R/g8-s2-$round.md 2>&1
done
RINGATTN_DECODE_SETS=2 RINGATTN_DECODE_WG=512 timeout 40 $D --heads 64 --splits 16,32 > $R/g8-s2-wg512.md 2>&1
RINGATTN_DECODE_SETS=2 RINGATTN_DECODE_PREF=1 timeout 40 $D --heads 64 --splits 16,32 > $R/g8-s2-pref.md 2>&1
timeout 40 $D --queries 2 --splits 16 > $R/q2-def.md 2>&1
RINGATTN_DECODE_SETS=2 timeout 40 $D --queries 2 --splits 16,32,64 > $R/q2-s2.md 2>&1
timeout 40 $D --splits 32 > $R/gqa-def.md 2>&1
RINGATTN_DECODE_SETS=2 timeout 40 $D --splits 32,64 > $R/gqa-s2.md 2>&1
timeout 40 $D --heads 64 --dtype f32 --splits 16 > $R/g8f32-def.md 2>&1
RINGATTN_DECODE_SETS=2 timeout 40 $D --heads 64 --dtype f32 --splits 16,32,64 > $R/g8f32-s2.md 2>&1
timeout 40 $D --queries 4 --splits 32,64 > $R/q4-def.md 2>&1
RINGATTN_DECODE_MAX_ROWS=16 RINGATTN_DECODE_SETS=4 timeout 40 $D --queries 4 --splits 16,32,64 > $R/q4-s4.md 2>&1
RINGATTN_DECODE_MAX_ROWS=16 RINGATTN_DECODE_SETS=4 RINGATTN_DECODE_WG=512 timeout 40 $D --queries 4 --splits 8,16,32 > $R/q4-s4-wg512.md 2>&1
timeout 40 $D --queries 5 --splits 32 > $R/q5-def.md 2>&1
RINGATTN_DECODE_MAX_ROWS=20 RINGATTN_DECODE_SETS=4 RINGATTN_DECODE_ROWS=5 timeout 40 $D --queries 5 --splits 16,32,64 > $R/q5-s4r5.md 2>&1
C=".gpu/decode --kv-lens 4096,65536 --preheat 1 --reps 5 --check --splits 32"
RINGATTN_DECODE_SETS=2 timeout 60 $C --heads 64 > $R/chk-g8-s2.md 2>&1
RINGATTN_DECODE_MAX_ROWS=16 RINGATTN_DECODE_SETS=4 timeout 60 $C --queries 4 > $R/chk-q4-s4.md 2>&1
decode_pack > /dev/null
cd $OUT && tar xzf r.tgz && for f in r/*.md; do echo "== $f"; grep -E "^\| [0-9]" $f | awk -F'|' '{print $2,$3,$4,$7,$11}' | sed 's/subgroup/sg/;s/matrix/mx/' | tr '\n' ';'; echo; done; rm -rf r
