#!/bin/bash
# Thirtieth session, eighth call: decode-shaped attention (one query row per sequence
# against a long K/V cache) with the automatic key split and forced key-split counts,
# checked against f64: f16 (matrix tier) and f32 (subgroup tier), H=32, GQA (8 K/V
# heads) and MHA, head_dims 128 and 64; SDPA flash / efficient at the same shapes in the
# same call. One GPU.
source scripts/device_run.sh
results
D=".gpu/decode --kv-lens 4096,16384,65536 --splits 1,4,16,32,64,128 --check"
timeout 90 $D --heads 32 --kv-heads 8 --head-dim 128 > $R/f16-gqa-128.md 2>&1
timeout 60 $D --heads 32 --kv-heads 32 --head-dim 128 --preheat 0.5 > $R/f16-mha-128.md 2>&1
timeout 60 $D --heads 32 --kv-heads 8 --head-dim 64 --preheat 0.5 > $R/f16-gqa-64.md 2>&1
timeout 90 $D --heads 32 --kv-heads 8 --head-dim 128 --dtype f32 --preheat 0.5 > $R/f32-gqa-128.md 2>&1
P="python3 benches/python/sdpa_baseline.py --queries 1 --heads 32 --seqs 4096,16384,65536 --causal off --reps 20"
timeout 60 $P --backends flash,efficient --dtypes f16 --kv-heads 8 --head-dims 64,128 --json $R/sdpa-gqa.json > $R/sdpa-gqa.txt 2>&1
timeout 60 $P --backends flash,efficient --dtypes f16 --head-dims 128 --json $R/sdpa-mha.json > $R/sdpa-mha.txt 2>&1
timeout 60 $P --backends efficient --dtypes f32 --kv-heads 8 --head-dims 128 --json $R/sdpa-f32.json > $R/sdpa-f32.txt 2>&1
cd $R && {
  cat gpu.txt
  for f in f*.md; do echo "== $f"; grep -E "^\| [0-9]|rror" $f; done
  for f in sdpa*.txt; do echo "== $f"; grep -E "^\| sdpa|rror" $f; done
} > summary.txt; cat summary.txt
cd $OUT && tar czf r.tgz r && rm -rf r
