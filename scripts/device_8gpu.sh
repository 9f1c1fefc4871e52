#!/bin/bash
# Issue 8's measurements on an 8-GPU machine (nvidia-h100-x8 / nvidia-h200-x8), split
# into parts that each fit one 10-minute call: PART=1 .. 4, e.g.
#   PART=1 bash scripts/device_8gpu.sh    # 256K: 1, 2, 4, 8 GPUs, dense and causal, both placements; transport (shared staging, the default, and device staging)
#   PART=2 bash scripts/device_8gpu.sh    # 1M: 2, 4, 8 GPUs, causal zigzag and dense (1 GPU: from PART=4 or extrapolated)
#   PART=3 bash scripts/device_8gpu.sh    # 4M: 8 and 4 GPUs, causal zigzag (one call each, no warm-up)
#   PART=4 bash scripts/device_8gpu.sh    # 1M on 1 GPU (the baseline of the 6x target), and MPI ranks vs in-process at 256K
# Carry .gl (the Vulkan loader debs) and .gpu (ringattn; for PART=4 also ring_mpi built
# with --features mpi and mpiroot.tgz, the OpenMPI runtime; see BENCHMARKS.md). Every
# result is JSON lines under $OUT, packed into $OUT/r.tgz.
source scripts/device_run.sh
ring_results
case "${PART:-1}" in
  1) RINGATTN_RING_STAGING=device timeout 60 $RB --seqs '' --devices 2,4,8 --transport-mib 128 \
       --json $R/transport-device.jsonl > $R/transport-device.md 2>&1
     timeout 500 $RB --seqs 262144 --devices 1,2,4,8 --causal both --placements contiguous,zigzag --reps 3 \
       --transport-mib 128 --json $R/ring-256k.jsonl > $R/ring-256k.md 2>&1 ;;
  2) timeout 560 $RB --seqs 1048576 --devices 8,4,2 --causal both --placements zigzag --reps 1 --no-warmup \
       --no-single --transport-mib 0 --json $R/ring-1m.jsonl > $R/ring-1m.md 2>&1 ;;
  3) timeout 560 $RB --seqs 4194304 --devices 8,4 --causal causal --placements zigzag --reps 1 --no-warmup \
       --no-single --transport-mib 0 --json $R/ring-4m.jsonl > $R/ring-4m.md 2>&1 ;;
  4) timeout 200 $RB --seqs 1048576 --devices 1 --causal causal --placements zigzag --reps 1 --no-warmup \
       --transport-mib 0 --json $R/single-1m.jsonl > $R/single-1m.md 2>&1
     if [ -f .gpu/mpiroot.tgz ] && [ -x .gpu/ring_mpi ]; then
       mkdir -p /tmp/m && tar xzf .gpu/mpiroot.tgz -C /tmp/m && cp -rn /tmp/m/* / 2>/dev/null; ldconfig
       M="orterun --allow-run-as-root --oversubscribe"
       for layout in "8 1" "1 8" "2 4"; do
         set -- $layout
         timeout 100 $M -np $1 .gpu/ring_mpi --per-rank $2 262144 8 64 > $R/mpi-$1x$2-256k.txt 2>&1
       done
     fi ;;
  *) echo "PART must be 1..4" >&2; exit 2 ;;
esac
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
