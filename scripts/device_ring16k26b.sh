#!/bin/bash
# Twenty-sixth session, second call: the one-device ring suite at N=16384 with the SM
# clock sampled every 20 ms beside it (are the slow cases at low clocks?), then with a
# 1 s warm-up per case. One GPU.
source scripts/device_run.sh
results
B=".gpu/ringattn"
clocks_start ,clocks_throttle_reasons.active
for run in a b; do
  echo "suite $run start $(date +%H:%M:%S.%N)" >> $R/marks.txt
  timeout 120 $B bench ring --no-progress --max-seconds 2 --seqs 16384 --devices 1 2>&1 | stamped > $R/suite-$run.txt
  echo "suite $run end $(date +%H:%M:%S.%N)" >> $R/marks.txt
done
echo "suite w1 start $(date +%H:%M:%S.%N)" >> $R/marks.txt
timeout 150 $B bench ring --no-progress --max-seconds 4 --warmup-seconds 1 --seqs 16384 --devices 1 2>&1 | stamped > $R/suite-w1.txt
echo "suite w1 end $(date +%H:%M:%S.%N)" >> $R/marks.txt
clocks_stop
nvidia-smi -q -d PERFORMANCE,CLOCK > $R/perf.txt 2>&1
