#!/bin/bash
# Needs the build of commit c3fa07c: RINGATTN_TILED_LATE was reverted in the commit after it.
# Thirteenth session: the tiled subgroup kernel with all of the next tile's K/V units
# prefetched into registers (RINGATTN_TILED_OPTS=du,ju,1), issued before S (PF, the old
# placement) or before P V (RINGATTN_TILED_LATE=1: their registers live while P V runs,
# not at the S loop's register peak), against the default (no prefetch at 8 units per
# lane: the loads' latency is exposed once per tile), and with only K a tile ahead and
# V loaded after S, stored with P^T (RINGATTN_TILED_LATE=2, VMID), f32, N=16384,
# head_dim 64, two rounds; registers per variant. (The first two calls of this script
# ran LATE=1 at (4,16)/(2,16)/(4,8) and (64,32,4,1) without VMID: BENCHMARKS.md.)
source scripts/device_run.sh
results
for round in 1 2; do
  tb base RINGATTN_TILED_CFG=64,64,4,2
  tb pf RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=4,16,1
  tb late RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=4,16,1 RINGATTN_TILED_LATE=1
  tb vmid RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=4,16,1 RINGATTN_TILED_LATE=2
  tb vmid-u2 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=2,16,1 RINGATTN_TILED_LATE=2
  tb vmid-j8 RINGATTN_TILED_CFG=64,64,4,2 RINGATTN_TILED_OPTS=4,8,1 RINGATTN_TILED_LATE=2
  tb vmid-641 RINGATTN_TILED_CFG=64,32,4,1 RINGATTN_TILED_OPTS=4,16,1 RINGATTN_TILED_LATE=2
done
tb_pack
