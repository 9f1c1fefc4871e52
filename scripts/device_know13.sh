#!/bin/bash
# Needs the build of commit c3fa07c with benchmarks/results/2026-11-27-h100-thirteenth/know.patch applied (KNOW, not kept: BENCHMARKS.md).
# Thirteenth session, last call: the tiled subgroup kernel with V loaded after S and
# stored with P^T but K loaded at the tile's start as before (RINGATTN_TILED_LATE=3,
# KNOW: no register held across the tile boundary, half the loads' latency hidden),
# against the default and VMID (LATE=2), f32, N=16384, head_dim 64, two rounds.
source scripts/device_run.sh
results
for round in 1 2; do
  tb base RINGATTN_TILED_CFG=64,64,4,2
  tb vmid RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=4,16,1 RINGATTN_TILED_LATE=2
  tb know RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=4,16,1 RINGATTN_TILED_LATE=3
  tb know-j8 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=4,8,1 RINGATTN_TILED_LATE=3
  tb know-u2 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=2,16,1 RINGATTN_TILED_LATE=3
  tb know-641 RINGATTN_TILED_CFG=64,32,4,1 RINGATTN_TILED_OPTS=4,16,1 RINGATTN_TILED_LATE=3
done
tb_pack
