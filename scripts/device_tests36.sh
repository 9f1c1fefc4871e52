#!/bin/bash
# Thirty-sixth session: the test binaries on one H200 against the f64 reference (the
# matrix tier's tests run there; lavapipe has no cooperative matrices): attention and
# shaders side by side, then merge and the library's unit tests.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
(TEST_LIMIT=500 run_tests attention) &
(TEST_LIMIT=500 run_tests shaders) &
wait
TEST_LIMIT=200 run_tests merge unit
(cd $R && test_lines) | tee $R/tests.txt
grep -h "matrix\|skipp" $R/test-attention.txt | head -20
cd $OUT && tar czf r.tgz r && rm -rf r
