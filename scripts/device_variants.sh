#!/bin/bash
# Tiled subgroup kernel variants, f32, N=16384 (head_dim 64 unless the list's TB line
# says otherwise), two rounds of every line of a variant list, registers and
# pipeline-cache blobs per variant (tb_pack):
#   bash scripts/device_variants.sh scripts/tb_NAME.txt [VAR=value ...]
# With VAR=value arguments the tiled tests run once more with them set. Each list's
# header says what it compares and which build it needs (experiments that were
# reverted need the commit named there).
source scripts/device_run.sh
results
tb_rounds "${1:?variant list}"
shift
if [ $# -gt 0 ]; then
  export "$@"
  run_tests tiled-174c444a71473d8d
  tail -3 $R/test-tiled-174c444a71473d8d.txt
fi
tb_pack
