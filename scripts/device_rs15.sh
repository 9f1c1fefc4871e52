#!/bin/bash
# Fifteenth session: the shuffle kernel of the subgroup tier with its scores
# reduce-scattered over the row group (RS, RINGATTN_SUBGROUP_RS=1) against the
# all-reduce (RS=0), f32 and f16, N=4096/16384, head_dims 64/128, two rounds; causal
# f32 at 16384; SDPA efficient f32 in the same call; registers of both builds; the
# shuffle-variant and subgroup tests on the GPU.
source scripts/device_run.sh
results
G="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 4096,16384 --head-dims 64,128 --causal off --dtypes f32,f16"
C="--no-progress --tiers subgroup --reps 5 --max-seconds 2 --seqs 16384 --head-dims 64,128 --causal on --dtypes f32"
for round in 1 2; do
  for rs in 0 1; do
    RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_RS=$rs RINGATTN_DUMP_WGSL=$R/wgsl-rs$rs .gpu/ringattn bench $G > $R/rs$rs-$round.md 2>&1
    RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_RS=$rs .gpu/ringattn bench $C > $R/rs$rs-causal-$round.md 2>&1
  done
done
timeout 100 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims 64,128 --causal off --reps 5 > $R/sdpa.txt 2>&1
timeout 300 .gpu/attention subgroup --test-threads 2 > $R/test-attention.txt 2>&1; echo "rc=$?" >> $R/test-attention.txt
for rs in 0 1; do
  mkdir -p $R/dump-rs$rs
  echo "== rs$rs"; .gpu/pipeline_stats --adapter NVIDIA --dump $R/dump-rs$rs $R/wgsl-rs$rs/flash_subgroup*.wgsl 2>&1 | grep -vE "^adapter"
done > $R/stats.txt 2>&1
cd $R && {
  cat gpu.txt
  for f in rs*.md; do echo "== $f"; grep -E '^\| subgroup' $f | awk -F'|' '{print $3, $4, $5, $6, $7}'; done
  grep -E "efficient" sdpa.txt; grep -E "^==|Register|flash_subgroup" stats.txt | head -40
  grep -hE "test result|FAILED|panicked|^rc=" test-*.txt
} > summary.txt; cat summary.txt
rm -rf $R/wgsl-*; cd $OUT && tar czf r.tgz r && rm -rf r
