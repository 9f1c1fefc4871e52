#!/bin/bash
# Twenty-fourth session, first call: the current build on the card the call gets (an
# H200 where lent): the tiers as picked (fresh searches at first use, cache in
# $R/tiles.json): subgroup f32 N=1024/4096/16384 at head_dims 32/64/128, causal both;
# matrix f16 N=1024..65536 at 64/128, causal both; SDPA (efficient f32, flash f16) at the
# same shapes in the same call; RSP at head_dim 128 (RINGATTN_SUBGROUP_RSP=1, two rounds
# against the default; this call's build, b68e1ad, still permuted keys too, the RSP that
# scripts/device_rsp24.sh replaces); the LongNet mixture merge
# per row (.gpu/dilated, this build) against per element (.gpu/dilated-elem, commit
# e1fcbed on this build), two rounds each.
source scripts/device_run.sh
results
tiers_beside_sdpa
B="--no-progress --reps 5 --max-seconds 2 --causal off --tiers subgroup --dtypes f32 --seqs 16384 --head-dims 128"
for round in 1 2; do
  timeout 60 .gpu/ringattn bench $B > $R/rsp0-$round.md 2>&1
  RINGATTN_SUBGROUP_RSP=1 timeout 60 .gpu/ringattn bench $B > $R/rsp1-$round.md 2>&1
done
for round in 1 2; do
  for bin in dilated dilated-elem; do
    DILATED_N=16384 DILATED_PAIRS=2048,4096,8192:1,2,4 DILATED_REPS=5 timeout 60 .gpu/$bin > $R/$bin-f32-$round.txt 2>&1
    DILATED_N=65536 DILATED_PAIRS=2048,4096,8192,16384:1,2,4,8 DILATED_DTYPE=f16 DILATED_REPS=5 timeout 60 .gpu/$bin > $R/$bin-f16-$round.txt 2>&1
  done
done
cd $R && {
  cat gpu.txt
  grep -hE "^\| (subgroup|matrix)" subgroup.md matrix.md
  grep -hE "efficient|flash" sdpa-*.txt
  for f in rsp*.md; do echo "== $f"; grep -E "^\| subgroup" $f; done
  for f in dilated*.txt; do echo "== $f"; grep -E "^\| (dense|dilated)" $f; done
} > summary.txt; cat summary.txt
