#!/bin/bash
# Thirty-fourth session, third 4-GPU call: the ring's copies out of the held block read
# shared staging's landing buffer (the block that arrived at the step before; at step 0
# a device-memory copy of the shard's block) instead of the K/V buffers the step's
# compute reads, so they run while the compute does (.gpu/ringattn) against the build
# before (.gpu/ringattn-old, the deadlock fix only), same call: 64K / 128K / 256K, 2 and
# 4 GPUs (DEVICES; the 4-GPU kind was not lent when it ran: DEVICES=2 on 2 H200), causal zigzag and dense contiguous, new build first, then old, then new again.
# Then head_dim 256 decode on one GPU in 16 and 32 parts (the new rule takes 16), f16 and
# f32.
source scripts/device_run.sh
ring_results
for run in new old new2; do
  bin=.gpu/ringattn; [ $run = old ] && bin=.gpu/ringattn-old
  P="--check-rows 4 --devices ${DEVICES:-2,4} --reps 3 --transport-mib 0"
  timeout 150 $bin ring-bench $P --seqs 65536,131072,262144 --causal causal --placements zigzag --json $R/causal-$run.jsonl > $R/causal-$run.md 2>&1
  timeout 150 $bin ring-bench $P --seqs 65536,131072,262144 --causal dense --placements contiguous --json $R/dense-$run.jsonl > $R/dense-$run.md 2>&1
done
export RINGATTN_ADAPTER=NVIDIA
timeout 45 .gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --reps 30 --head-dim 256 --splits 16,32 > $R/d256-f16.md 2>&1
timeout 45 .gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --reps 30 --head-dim 256 --dtype f32 --splits 16,32 > $R/d256-f32.md 2>&1
grep -hE "^\| [0-9]|rror" $R/*.md | tee $R/summary.txt
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
