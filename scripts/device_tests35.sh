#!/bin/bash
# Thirty-fifth session, one H200: the test binaries with devices that now open a second
# (transfer-only) queue (crate::dma): the library's unit tests (.gpu/unit, transport
# and DMA family tests), the ring tests (logical devices on the one GPU: the
# DMA path), and the attention suite; then `ringattn info`.
source scripts/device_run.sh
results
unset RINGATTN_ADAPTER
.gpu/ringattn info > $R/info.txt 2>&1; grep -E "ring:" $R/info.txt | head -3
TEST_LIMIT=120 run_tests unit ring
TEST_LIMIT=330 run_tests attention
cd $R && test_lines; cd - > /dev/null
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
