#!/bin/bash
# Eighteenth session, final build: head_dim 128's (8,4,16) with 256 invocations per
# workgroup (flash::SHUFFLE_WG); RSP generalized to r > m (on by default only at (4,4,32)
# at head_dim 64); measured shapes (2,2,16)@32, (4,4,32)@64 with UNM and RSP, (8,4,16)@128.
# The subgroup tier as picked (its kernel search runs at first use, cache in
# $R/tiles.json), f32/f16, N=1024/4096/16384, head_dims 32/64/128 (f32 causal at 16384
# too); SDPA efficient f32 in the same call; the GPU test suites.
# The runs of scripts/device_final17.sh without its (2,2,32) comparison.
NO_2232=1 exec bash scripts/device_final17.sh
