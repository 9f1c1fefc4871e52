#!/bin/bash
# Thirty-fifth session, last multi-GPU call: the ring table again with the ring's copies
# on the DMA queue (crate::dma; commit 07b5770's build): 32K-256K on 1, 2 and 4 GPUs
# (${DEVICES:-1,2,4}), both masks and placements, checked against f64, with the
# transport alone; then 1M causal zigzag on 4 and 2 GPUs (the thirty-fourth session's
# table's commands).
source scripts/device_run.sh
ring_results
.gpu/ringattn info > $R/info.txt 2>&1; grep -E "ring:" $R/info.txt | head -2
timeout 330 .gpu/ringattn ring-bench --check-rows 4 --seqs 32768,65536,131072,262144 --devices ${DEVICES:-1,2,4} \
    --causal both --placements contiguous,zigzag --reps 3 --transport-mib 128 --json $R/ring.jsonl > $R/ring.md 2>&1
echo "ring rc=$?"; grep -E "^\| [0-9]|rror|GB/s per" $R/ring.md
D1M=$(echo ${DEVICES:-1,2,4} | tr ',' '\n' | grep -v '^1$' | sort -rn | paste -sd,)
timeout 100 .gpu/ringattn ring-bench --check-rows 4 --seqs 1048576 --devices $D1M --placements zigzag \
    --causal causal --reps 1 --no-warmup --no-single --transport-mib 0 --json $R/ring1m.jsonl > $R/ring1m.md 2>&1
echo "1m rc=$?"; grep -E "^\| [0-9]|rror" $R/ring1m.md
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
