#!/bin/bash
# Would a compile-time K/V row stride help the matrix kernel's K/V staging (seventh
# session, 2026-11-26)? Its coopLoads from storage become scalar 2-byte loads, each with
# its own 64-bit address computed from the runtime stride kv_heads * head_dim. The
# rendered shader is patched (RINGATTN_MATRIX_PATCH) to the bench's stride 8 * head_dim;
# one call on a 1-GPU machine, f16, tuned-like tiles forced, two rounds.
source scripts/device_run.sh
results
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
P='let kv_stride = p.kv_heads * D;=>let kv_stride = 8u * D;'
for round in 1 2; do
  RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/base-64-$round.md 2>&1
  RINGATTN_MATRIX_CFG=2,4,16 RINGATTN_MATRIX_PATCH="$P" .gpu/ringattn bench $B --head-dims 64 > $R/const-64-$round.md 2>&1
  RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/base-128-$round.md 2>&1
  RINGATTN_MATRIX_CFG=2,8,16 RINGATTN_MATRIX_PATCH="$P" .gpu/ringattn bench $B --head-dims 128 > $R/const-128-$round.md 2>&1
done
cd $R && for f in *.md; do echo "$f $(grep -E '^\| matrix' $f | awk -F'|' '{print $4, $7}' | tr '\n' ' ') $(grep -i -m1 error $f)"; done | sort > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
