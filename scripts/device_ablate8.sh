#!/bin/bash
# Ablation of the f16 matrix kernel's K/V streaming (eighth session, 2026-11-26), one
# call on a 1-GPU machine: the rendered shader patched (RINGATTN_MATRIX_PATCH; results
# wrong by design) without the loop's global loads of K/V fragments, without their stores
# into workgroup memory, and without both, at the H100's picks: (2,4,16) head_dim 64
# (pipelined loop) and (2,8,16) head_dim 128.
source scripts/device_run.sh
results
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 16384"
L64='kpf0 = coopLoad<coop_mat16x16<f16, B>>(&k[p.k_off + kbk + fo], kv_stride);=>;;vpf0 = coopLoadT<coop_mat16x16<f16, B>>(&v[p.v_off + kbv + fo], kv_stride);=>'
L128='kpf0 = coopLoad<coop_mat16x16<f16, B>>(&k[p.k_off + kbn + fo], kv_stride);=>;;vpf0 = coopLoadT<coop_mat16x16<f16, B>>(&v[p.v_off + kbn + fo], kv_stride);=>'
ST='coopStore(kpf0, &kst[so], KSTR);=>;;coopStoreT(vpf0, &vst[so], KSTR);=>'
for round in 1 2; do
  for v in base load store both; do
    case $v in base) P64=; P128=;; load) P64=$L64; P128=$L128;; store) P64=$ST; P128=$ST;; both) P64="$L64;;$ST"; P128="$L128;;$ST";; esac
    RINGATTN_MATRIX_PATCH="$P64" RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/$v-64-$round.md 2>&1
    RINGATTN_MATRIX_PATCH="$P128" RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/$v-128-$round.md 2>&1
  done
done
cd $R && { cat gpu.txt; for f in *.md; do echo "== $f"; grep -E "^\| matrix|rror" $f; done; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
