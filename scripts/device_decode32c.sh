#!/bin/bash
# Thirty-second session, third call: the slot merge with every part's loads issued at
# once (merge.wgsl: the parts unrolled, O loads unconditional), against the part counts
# it made expensive (64, 128); 16-key decode tiles (RINGATTN_MATRIX_CFG=1,1,16: half the
# workgroup memory of (1,1,32)); H=32, 8 K/V heads, f16, checked against f64; SDPA flash
# in the same call.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --preheat 1 --check"
timeout 60 $D --head-dim 128 --splits 16,32,64,128 > $R/merge-128.md 2>&1
timeout 60 $D --head-dim 64 --splits 16,32,64,128 > $R/merge-64.md 2>&1
RINGATTN_MATRIX_CFG=1,1,16 timeout 60 $D --head-dim 128 --splits 32,64,128 > $R/bk16-128.md 2>&1
RINGATTN_MATRIX_CFG=1,1,16 timeout 60 $D --head-dim 64 --splits 32,64,128 > $R/bk16-64.md 2>&1
timeout 60 $D --head-dim 128 --queries 5 --splits 16,32,64 > $R/merge-128-q5.md 2>&1
timeout 60 $D --head-dim 128 --kv-heads 32 --splits 8,16,32 > $R/merge-128-mha.md 2>&1
P="python3 benches/python/sdpa_baseline.py --seqs 4096,16384,65536 --causal off --reps 20 --backends flash --dtypes f16 --head-dims 64,128 --heads 32"
timeout 40 $P --queries 1 --kv-heads 8 > $R/sdpa.txt 2>&1
timeout 40 $P --queries 5 --kv-heads 8 > $R/sdpa-q5.txt 2>&1
timeout 40 $P --queries 1 > $R/sdpa-mha.txt 2>&1
decode_pack
