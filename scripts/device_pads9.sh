#!/bin/bash
# Ninth session (2026-11-26), the MREF kernel on a 1-GPU machine: workgroup-memory row
# strides patched into the rendered shader (timing only; same results): S at BK+8
# (ss24), P at BK+4 and BK+12 (ps20, ps28: rows no longer 16-byte aligned, but the P
# stores, one row per lane, spread over all banks), at the H100's picks, two rounds.
# (The first call's patterns ended in ';', which RINGATTN_MATRIX_PATCH's ';;' separator
# misread: those kernels failed to build; its tile shapes at N=4096, head_dim 128 are
# in pads-call1/shape-*.md.)
source scripts/device_run.sh
results
ab_patched_picks base '' \
  ss24 'const SS: u32 = 20u=>const SS: u32 = 24u;;const SREG: u32 = 640u=>const SREG: u32 = 768u' \
  ps20 'const PS: u32 = 24u=>const PS: u32 = 20u;;const PREG: u32 = 768u=>const PREG: u32 = 640u' \
  ps28 'const PS: u32 = 24u=>const PS: u32 = 28u;;const PREG: u32 = 768u=>const PREG: u32 = 896u'
pack
