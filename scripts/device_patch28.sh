#!/bin/bash
# Twenty-eighth session, sixth call: why the register kernel's dense launches ran 5 %
# slower after GRID_HEADS took the transposed grid (non-causal head_dim 64: 16K 2.35
# against 2.23-2.24 ms, 64K 36.4 against 34.6-34.7 before). RINGATTN_MATRIX_PATCH puts
# back the old h = wg.y and/or qtile (index or reverse order only), against the build
# before (.gpu/old-ringattn). Built-in tiles. One GPU.
source scripts/device_run.sh
results
export RINGATTN_TUNE=0
S="bench --no-progress --reps 10 --max-seconds 4 --preheat 2 --tiers matrix --dtypes f16 --head-dims 64 --seqs 16384,65536 --causal both"
PH="let h = h_grid;=>let h = wg.y;"
PQ="let qtile = tile_grid;=>let qtile = select(wg.x, g_tiles - 1u - wg.x, p.rev_tiles != 0u);"
for r in a b; do
  timeout 100 .gpu/old-ringattn $S > $R/old-$r.md 2>&1
  timeout 100 .gpu/ringattn $S > $R/new-$r.md 2>&1
  RINGATTN_HEADS_TOGETHER=0 RINGATTN_MATRIX_PATCH="$PH;;$PQ" timeout 100 .gpu/ringattn $S > $R/both-$r.md 2>&1
  RINGATTN_HEADS_TOGETHER=0 RINGATTN_MATRIX_PATCH="$PH" timeout 100 .gpu/ringattn $S > $R/h-$r.md 2>&1
  RINGATTN_HEADS_TOGETHER=0 RINGATTN_MATRIX_PATCH="$PQ" timeout 100 .gpu/ringattn $S > $R/q-$r.md 2>&1
done
cd $R && tar czf m.tgz *-?.md && rm *-?.md
