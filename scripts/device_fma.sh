source scripts/device_run.sh
mkdir -p $OUT/r
B="--no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --seqs 16384 --causal off --head-dims 32,64,128"
for bin in ringattn.old ringattn; do
  for v in shuffle tiled; do
    echo "== $bin $v"; RINGATTN_SUBGROUP_VARIANT=$v timeout 60 .gpu/$bin bench $B --preheat 1 | grep -E "^\| subgroup"
  done
done > $OUT/r/fma.txt 2>&1
.gpu/ringattn bench --no-progress --tiers portable --dtypes f32 --reps 3 --max-seconds 2 --seqs 4096 --causal off --head-dims 64 | grep -E "^\| portable" >> $OUT/r/fma.txt
.gpu/ringattn.old bench --no-progress --tiers portable --dtypes f32 --reps 3 --max-seconds 2 --seqs 4096 --causal off --head-dims 64 | grep -E "^\| portable" >> $OUT/r/fma.txt
cat $OUT/r/fma.txt
