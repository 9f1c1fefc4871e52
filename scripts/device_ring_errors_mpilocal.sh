#!/bin/bash
# One call on the lent 2-GPU machine: the ring suite with --preheat, the error-path
# tests with 4 threads (driver setup now serialized), and the MPI ring with one rank
# owning both GPUs against two ranks of one GPU (OpenMPI runtime carried in
# .gpu/mpiroot.tgz, unpacked without overwriting); all in $OUT/r.tgz.
source scripts/device_run.sh
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > $R/gpus.txt 2>&1
timeout 100 .gpu/errors-test --test-threads 4 > $R/errors-4.txt 2>&1; echo "rc $?" >> $R/errors-4.txt
OUT=$R SUITES=ring NAME=ring OLD=0 BUDGET=2 timeout 150 bash scripts/device_suite.sh > $R/ring.log 2>&1
mkdir -p /tmp/m && tar xzf .gpu/mpiroot.tgz -C /tmp/m && cp -rn /tmp/m/* / 2>/dev/null; ldconfig
M="orterun --allow-run-as-root --oversubscribe"
for n in 65536 131072 262144; do
  RINGATTN_ADAPTER= timeout 60 $M -np 2 .gpu/ring_mpi $n 8 64 > $R/mpi-2x1-$n.txt 2>&1
  RINGATTN_ADAPTER= timeout 60 $M -np 1 .gpu/ring_mpi --per-rank 2 $n 8 64 > $R/mpi-1x2-$n.txt 2>&1
done
tar czf $OUT/r.tgz -C $OUT r && rm -rf $R
