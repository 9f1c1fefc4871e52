#!/bin/bash
# Thirty-fifth session, one H200: the ring tests (logical devices on the one GPU, each
# with its own DMA queues) with two DMA queues per device (one per direction, the new
# default) and with one (RINGATTN_DMA_QUEUES=1); `ringattn info` first.
source scripts/device_run.sh
results
unset RINGATTN_ADAPTER
.gpu/ringattn info > $R/info.txt 2>&1; grep -E "ring:" $R/info.txt | head -3
TEST_LIMIT=120 run_tests ring
mv $R/test-ring.txt $R/test-ring-two.txt
RINGATTN_DMA_QUEUES=1 TEST_LIMIT=120 run_tests ring
mv $R/test-ring.txt $R/test-ring-one.txt
cd $R && test_lines; cd - > /dev/null
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
