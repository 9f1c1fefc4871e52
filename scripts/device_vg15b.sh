#!/bin/bash
# Needs the build of commit 4c49100 (VG, reverted in 80676ec).
# Fifteenth session: VG's unroll factors, f32 N=16384, two rounds: head_dim 128
# (scripts/tb_vg15b_d128.txt) and 64 (tb_vg15b.txt).
source scripts/device_run.sh
results
tb_rounds scripts/tb_vg15b.txt
TB=${TB/--head-dims 64/--head-dims 128}
tb_rounds scripts/tb_vg15b_d128.txt
tb_pack
