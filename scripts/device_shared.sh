#!/bin/bash
# One call on a 2-GPU machine: the ring transport with shared host staging (host memory
# imported into both devices, VK_EXT_external_memory_host; the default where available)
# against device staging (the previous default), 128 MiB blocks, 8 steps, both links at
# once; then the ring at 128K causal zigzag on 1 and 2 GPUs with each. All in $OUT/r.tgz.
source scripts/device_run.sh
unset RINGATTN_ADAPTER
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpus.txt 2>&1
.gpu/ringattn info > $R/info.txt 2>&1
for cfg in ${CFGS:-shared,16 device,16 shared,64 device,64 shared,4 shared,32}; do
  st=${cfg%,*}; mib=${cfg#*,}
  echo "== staging=$st piece=${mib}MiB" >> $R/transport.txt
  RINGATTN_RING_STAGING=$st timeout 40 .gpu/ringattn ring-bench --devices 2 --seqs '' --transport-mib 128 --piece-bytes $((mib*1048576)) >> $R/transport.txt 2>&1
done
for st in shared device; do
  RINGATTN_RING_STAGING=$st timeout 150 .gpu/ringattn ring-bench --devices 1,2 --seqs 131072 --causal causal --placements zigzag --transport-mib 0 > $R/ring128k-$st.txt 2>&1
done
grep -E "^transport|^\| 131072" $R/*.txt | tee $R/summary.txt
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
