#!/bin/bash
# Thirty-fifth session, last multi-GPU call. First two A/Bs on ${DEVICES:-1,2,4} GPUs
# (1 dropped), causal zigzag 64K / 128K / 256K with --gpu-timeline and the transport
# alone: the default (two DMA queues, one per direction; step 0's block out of slot 0
# on the DMA queue), RINGATTN_DMA_QUEUES=1 (one DMA queue for both directions), and
# RINGATTN_RING_STEP0_DMA=0 (step 0's block out on wgpu's queue). Then the ring table
# with the default: 32K-256K on ${DEVICES:-1,2,4} GPUs, both masks and placements,
# checked against f64, with the transport alone; then 1M causal zigzag (the
# thirty-fourth session's table's commands).
source scripts/device_run.sh
ring_results
.gpu/ringattn info > $R/info.txt 2>&1; grep -E "ring:" $R/info.txt | head -2
DV=$(echo ${DEVICES:-1,2,4} | sed 's/^1,//')
P="--check-rows 4 --devices $DV --reps 3 --gpu-timeline --transport-mib 128 --seqs 65536,131072,262144 --causal causal --placements zigzag --no-single"
for v in two one step0wgpu; do
  case $v in one) E="RINGATTN_DMA_QUEUES=1";; step0wgpu) E="RINGATTN_RING_STEP0_DMA=0";; *) E="RINGATTN_X=1";; esac
  env $E timeout 70 .gpu/ringattn ring-bench $P --json $R/ab-$v.jsonl > $R/ab-$v.md 2>&1
  echo "== $v rc=$?"; grep -E "^\| [0-9]|rror|GB/s per link" $R/ab-$v.md | cut -c1-150
done
timeout 250 .gpu/ringattn ring-bench --check-rows 4 --seqs 32768,65536,131072,262144 --devices ${DEVICES:-1,2,4} \
    --causal both --placements contiguous,zigzag --reps 3 --transport-mib 128 --json $R/ring.jsonl > $R/ring.md 2>&1
echo "ring rc=$?"; grep -E "^\| [0-9]|rror|GB/s per" $R/ring.md | cut -c1-150
D1M=$(echo $DV | tr ',' '\n' | sort -rn | paste -sd,)
timeout 80 .gpu/ringattn ring-bench --check-rows 4 --seqs 1048576 --devices $D1M --placements zigzag \
    --causal causal --reps 1 --no-warmup --no-single --transport-mib 0 --json $R/ring1m.jsonl > $R/ring1m.md 2>&1
echo "1m rc=$?"; grep -E "^\| [0-9]|rror" $R/ring1m.md
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
