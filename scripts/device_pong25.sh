#!/bin/bash
# Twenty-fifth session: PONG (the upper half of the workgroup runs its tile body in the
# other order: the previous tile's softmax, its P·V, then this tile's Q·K^T) on the
# subgroup tier's head_dim 128 default, (8,4,16) with 256 invocations and every PIPE
# option, and with PSM off; f16 at 128 and f32 at 64's (4,4,16)/256; each against the
# same build without PONG, f32 at 128 in three rounds, SDPA efficient f32 in the same
# call; the registers of both builds; the quickstart's f64 check with PONG at N=16384.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
B=".gpu/ringattn bench --no-progress --reps 5 --max-seconds 2 --tiers subgroup"
for round in 1 2 3; do
  for pong in 0 1; do
    RINGATTN_SUBGROUP_PONG=$pong timeout 60 $B --dtypes f32 --head-dims 128 --seqs 4096,16384 --causal both > $R/d128-pong$pong-$round.md 2>&1
    RINGATTN_SUBGROUP_PSM=0 RINGATTN_SUBGROUP_PONG=$pong timeout 60 $B --dtypes f32 --head-dims 128 --seqs 16384 --causal off > $R/d128-nopsm-pong$pong-$round.md 2>&1
  done
done
for pong in 0 1; do
  RINGATTN_SUBGROUP_PONG=$pong timeout 60 $B --dtypes f16 --head-dims 128 --seqs 16384 --causal off > $R/f16-128-pong$pong.md 2>&1
  RINGATTN_SUBGROUP_PONG=$pong timeout 60 $B --dtypes f32 --head-dims 64 --seqs 16384 --causal both > $R/d64-pong$pong.md 2>&1
  RINGATTN_DUMP_WGSL=$R/w-pong$pong RINGATTN_SUBGROUP_PONG=$pong timeout 60 $B --dtypes f32 --head-dims 128 --seqs 1024 --causal off --reps 1 > /dev/null 2>&1
done
dumped_regs; rm -rf $R/w-*
timeout 100 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 4096,16384 --head-dims 64,128 --causal both --reps 5 > $R/sdpa-eff.txt 2>&1
for c in "f32 0" "f32 1" "f16 0"; do set -- $c
  QUICKSTART_N=16384 QUICKSTART_D=128 QUICKSTART_DTYPE=$1 QUICKSTART_CAUSAL=$2 RINGATTN_SUBGROUP_PONG=1 RINGATTN_TIER=subgroup \
    timeout 60 .gpu/quickstart > $R/quick-$1-c$2.txt 2>&1; echo "rc=$?" >> $R/quick-$1-c$2.txt
done
cd $R && {
  cat gpu.txt regs.txt
  for f in quick-*.txt; do echo "== $f $(grep -hE '^(tiles|check)|rc=' $f | tr '\n' ' ')"; done
  for f in d128-*.md f16-*.md d64-*.md; do echo "== $f"; grep -E "^\| subgroup|rror" $f; done
  grep -E "efficient" sdpa-eff.txt
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r
