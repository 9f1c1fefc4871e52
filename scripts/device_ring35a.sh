#!/bin/bash
# Thirty-fifth session, first multi-GPU call: the ring's GPU step timeline
# (ring-bench --gpu-timeline) to locate the time a 2-GPU 128K causal zigzag step loses
# against an even split: causal zigzag 64K / 128K / 256K and dense contiguous 128K on
# ${DEVICES:-2,4} GPUs, with the single-GPU baseline; timelines in each .md and .jsonl.
source scripts/device_run.sh
ring_results
P="--check-rows 4 --devices ${DEVICES:-2,4} --reps 3 --transport-mib 0 --gpu-timeline"
timeout 200 .gpu/ringattn ring-bench $P --seqs 65536,131072,262144 --causal causal --placements zigzag --json $R/causal.jsonl > $R/causal.md 2>&1
timeout 100 .gpu/ringattn ring-bench $P --seqs 131072 --causal dense --placements contiguous --json $R/dense.jsonl > $R/dense.md 2>&1
cat $R/causal.md $R/dense.md
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
