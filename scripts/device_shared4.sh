#!/bin/bash
# Shared host staging (the default where devices import host memory) on a 4-GPU
# machine, in two calls:
#   PART=1: the transport alone on 2 and 4 GPUs, shared vs device staging; then one
#           extreme run: 1,048,576 tokens causal zigzag on 2 and 4 GPUs.
#   PART=2: the ring suite: N = 32K..256K, dense and causal, contiguous and zigzag,
#           1, 2 and 4 GPUs; then the 1M run again (one shared set for large blocks,
#           links set up in parallel).
# Everything lands in $OUT/r.tgz.
source scripts/device_run.sh
ring_results
case "${PART:-1}" in
  1) for st in shared device; do
       RINGATTN_RING_STAGING=$st timeout 80 $RB --devices 2,4 --seqs '' --transport-mib 128 > $R/transport-$st.txt 2>&1
     done
     timeout 300 $RB --seqs 1048576 --devices 4,2 --causal causal --placements zigzag --reps 1 --no-warmup \
       --no-single --transport-mib 0 --json $R/ring-1m.jsonl > $R/ring-1m.md 2>&1 ;;
  2) timeout 400 $RB --seqs 32768,65536,131072,262144 --devices 1,2,4 --causal both --placements contiguous,zigzag --reps 3 \
       --transport-mib 0 --json $R/ring.jsonl > $R/ring.md 2>&1
     timeout 150 $RB --seqs 1048576 --devices 4,2 --causal causal --placements zigzag --reps 1 --no-warmup \
       --no-single --transport-mib 0 --json $R/ring-1m.jsonl > $R/ring-1m.md 2>&1 ;;
esac
grep -hE "^transport|^\| [0-9]" $R/*.txt $R/*.md 2>/dev/null | tee $R/summary.txt
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
