#!/bin/bash
# Twenty-fifth session: the GPU test suites with this session's build (shared uniform
# parameter buffers in every kernel): attention (at most 470 s), then sparse, merge,
# dilated and errors; results in $OUT/r.tgz.
source scripts/device_run.sh
results
TEST_LIMIT=470 run_tests attention
TEST_LIMIT=60 run_tests sparse merge dilated errors
cd $R && { cat gpu.txt; test_lines; } > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r
