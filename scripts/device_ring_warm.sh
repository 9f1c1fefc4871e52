#!/bin/bash
# One call on a 4-GPU machine: the small ring-suite sizes again now that ring-bench
# preheats every GPU and warms each configuration for 0.25 s (the 32K cases of the
# previous suite read 2-4x slow where a GPU had idled), plus the 256K causal zigzag case
# on 4 GPUs that the previous call ran out of time for. All in $OUT/r.tgz.
source scripts/device_run.sh
ring_results
timeout 300 $RB --seqs 32768,65536 --devices 1,2,4 --causal both --placements contiguous,zigzag --reps 3 \
  --transport-mib 0 --json $R/ring-small.jsonl > $R/ring-small.md 2>&1
timeout 200 $RB --seqs 262144 --devices 4 --causal causal --placements zigzag --reps 3 \
  --transport-mib 0 --json $R/ring-256k.jsonl > $R/ring-256k.md 2>&1
grep -hE "^\| [0-9]" $R/*.md | tee $R/summary.txt
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
