#!/bin/bash
# Twelfth session: the register kernel's rescale rule on an H100 (the H200 ran 4-5 %
# faster with RINGATTN_REGS_LAZY=0 in device_h200_12.sh): LAZY on / off at head_dim 64,
# N = 4K..64K, causal both, two rounds, after a fresh tile search; the register-kernel
# test with LAZY off.
source scripts/device_run.sh
results
RINGATTN_REGS_LAZY=0 timeout 200 .gpu/attention --test-threads 1 register_kernel > $R/test-nolazy.txt 2>&1; echo "rc=$?" >> $R/test-nolazy.txt
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64 --dtypes f16 > $R/tune.txt 2>&1
B="--no-progress --tiers matrix --dtypes f16 --causal both --reps 5 --max-seconds 3 --seqs 4096,16384,65536 --head-dims 64"
for round in 1 2; do
  .gpu/ringattn bench $B > $R/lazy-$round.md 2>&1
  RINGATTN_REGS_LAZY=0 .gpu/ringattn bench $B > $R/nolazy-$round.md 2>&1
done
cd $R && {
  cat gpu.txt; grep -hE "test result|^rc=" test-*.txt; grep -E "^best" tune.txt
  for f in lazy-* nolazy-*; do echo "== $f"; grep -hE "^\| matrix" $f; done
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
