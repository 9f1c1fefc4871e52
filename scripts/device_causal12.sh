#!/bin/bash
# Twelfth session: small causal grids on the register kernel (half the subgroups per
# workgroup below 256 workgroups, flash::regs_causal_tiles): the attention and sparse
# suites; matrix f16 at head_dim 64, N = 2K..16K, causal both, this build against the
# previous one (.gpu/ringattn-prev), two rounds; SDPA flash at the same shapes; the
# register kernel forced at head_dim 128 with its own search (O rescaled every tile).
source scripts/device_run.sh
results
export RINGATTN_TUNE_CACHE=$R/tiles.json
.gpu/ringattn tune --head-dims 64 --dtypes f16 > $R/tune.txt 2>&1
run_tests attention sparse
S="--no-progress --tiers matrix --dtypes f16 --seqs 2048,4096,8192,16384 --head-dims 64 --causal both --reps 5 --max-seconds 3"
for round in 1 2; do
  .gpu/ringattn bench $S > $R/new-$round.md 2>&1
  .gpu/ringattn-prev bench $S > $R/prev-$round.md 2>&1
done
timeout 120 python3 benches/python/sdpa_baseline.py --backends flash --dtypes f16 --seqs 2048,4096,8192,16384 --head-dims 64 --causal both --reps 5 > $R/sdpa.txt 2>&1
RINGATTN_MATRIX_REGS=1 RINGATTN_TUNE_CACHE=$R/tiles-regs128.json .gpu/ringattn tune --head-dims 128 --dtypes f16 > $R/tune-regs128.txt 2>&1
RINGATTN_MATRIX_REGS=1 RINGATTN_TUNE_CACHE=$R/tiles-regs128.json .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --seqs 4096,16384 --head-dims 128 --causal off --reps 5 > $R/regs128.md 2>&1
.gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --seqs 4096,16384 --head-dims 128 --causal off --reps 5 > $R/flash128.md 2>&1
cd $R && {
  cat gpu.txt; grep -E "^best" tune.txt tune-regs128.txt
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=" $f | head; done
  for f in new-* prev-* regs128.md flash128.md; do echo "== $f"; grep -hE "^\| matrix" $f; done
  grep -E "flash" sdpa.txt
} > summary.txt; cat summary.txt; cd $OUT && tar czf r.tgz r && rm -rf r
