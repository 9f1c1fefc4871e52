#!/bin/bash
# Workgroup-memory row paddings of the f16 matrix kernel re-checked after WIDE (eighth
# session, 2026-11-26), one call on a 1-GPU machine: the rendered shader's layout
# constants patched together (RINGATTN_MATRIX_PATCH; K/V row stride KSTR with KREG, S row
# stride SS with SREG, P row stride PS with PREG; results stay right), N=16384, two rounds.
source scripts/device_run.sh
results
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 16384"
c() { echo "const $1: u32 = $2u=>const $1: u32 = $3u"; }
for round in 1 2; do
  for v in base k64 k80 k88 s24 p16 p32; do
    case $v in
      base) P=;;
      k64) P="$(c KSTR 72 64);;$(c KREG 1152 1024)";;
      k80) P="$(c KSTR 72 80);;$(c KREG 1152 1280)";;
      k88) P="$(c KSTR 72 88);;$(c KREG 1152 1408)";;
      s24) P="$(c SS 20 24);;$(c SREG 640 768)";;
      p16) P="$(c PS 24 16);;$(c PREG 768 512)";;
      p32) P="$(c PS 24 32);;$(c PREG 768 1024)";;
    esac
    RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/$v-64-$round.md 2>&1
  done
  for v in base k128 k144 s24 p32; do
    case $v in
      base) P=;;
      k128) P="$(c KSTR 136 128);;$(c KREG 2176 2048)";;
      k144) P="$(c KSTR 136 144);;$(c KREG 2176 2304)";;
      s24) P="$(c SS 20 24);;$(c SREG 640 768)";;
      p32) P="$(c PS 24 32);;$(c PREG 768 1024)";;
    esac
    RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/$v-128-$round.md 2>&1
  done
done
cd $R && { cat gpu.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
