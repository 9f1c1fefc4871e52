#!/bin/bash
# Twelfth session, second call on the H200 (after device_regs6.sh there): the register
# kernel's switches A/B at N=16384/65536 head_dim 64 (LAZY off, DBUF off, flash_matrix),
# the register kernel forced at head_dim 128, two rounds each; subgroup f32 and SDPA
# efficient f32 at N=4096/16384 in the same call.
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64,128 --dtypes f16 > $R/tune.txt 2>&1
B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3"
for round in 1 2; do
  .gpu/ringattn bench $B --seqs 16384,65536 --head-dims 64 > $R/regs-$round.md 2>&1
  RINGATTN_REGS_LAZY=0 .gpu/ringattn bench $B --seqs 16384,65536 --head-dims 64 > $R/nolazy-$round.md 2>&1
  RINGATTN_REGS_DBUF=0 .gpu/ringattn bench $B --seqs 16384 --head-dims 64 > $R/nodbuf-$round.md 2>&1
  RINGATTN_MATRIX_REGS=0 .gpu/ringattn bench $B --seqs 16384,65536 --head-dims 64 > $R/flash-$round.md 2>&1
  RINGATTN_MATRIX_REGS=1 .gpu/ringattn bench $B --seqs 16384 --head-dims 128 > $R/regs128-$round.md 2>&1
done
S="--seqs 4096,16384 --head-dims 64,128 --causal off --reps 5 --max-seconds 3"
.gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 $S --json $R/subgroup.json > $R/subgroup.md 2>&1
timeout 150 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 $S --json $R/sdpa.json > $R/sdpa.txt 2>&1
cd $R && {
  cat gpu.txt; grep -E "^best|regs" tune.txt
  for f in regs-* nolazy-* nodbuf-* flash-* regs128-*; do echo "== $f"; grep -hE "^\| matrix" $f; done
  grep -hE "^\| subgroup" subgroup.md; grep -E "efficient" sdpa.txt
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
