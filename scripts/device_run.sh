#!/bin/bash
# Runs on the lent GPU machine (see docs/ARCHITECTURE.md, "Measuring on a real GPU"):
# unpacks the Vulkan loader carried in .gl/ and runs the binaries carried in .gpu/.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
if ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export RINGATTN_ADAPTER=${RINGATTN_ADAPTER:-NVIDIA}

# ring_results: a multi-GPU script's common start: all GPUs (no adapter filter), results
# under $R = $OUT/r with the GPUs and their topology, `ring-bench` as $RB.
ring_results() {
  unset RINGATTN_ADAPTER
  R=$OUT/r; mkdir -p $R
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > $R/gpus.txt 2>&1
  nvidia-smi topo -m > $R/topo.txt 2>&1
  RB=".gpu/ringattn ring-bench --check-rows 4"
}

# results: a 1-GPU script's common start: results under $R = $OUT/r (and the
# subdirectories named as arguments), the GPU's name and driver in $R/gpu.txt.
results() {
  R=$OUT/r; mkdir -p $R
  for d in "$@"; do mkdir -p $R/$d; done
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
}

# run_tests NAME...: runs the carried test binaries .gpu/NAME (2 threads, at most
# $TEST_LIMIT s each, default 400: the attention suite took 136-160 s on an H100 in the
# eleventh session, and 200 s cut its last test once),
# output and exit status in $R/test-NAME.txt.
run_tests() {
  for t in "$@"; do
    timeout ${TEST_LIMIT:-400} .gpu/$t --test-threads 2 > $R/test-$t.txt 2>&1; echo "rc=$?" >> $R/test-$t.txt
  done
}

# test_lines: each $R/test-*.txt's result lines (run from $R).
test_lines() {
  for f in test-*.txt; do echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=" $f; done
}

# tiers_beside_sdpa: the tiers as picked (fresh searches at first use, cache in
# $R/tiles.json): subgroup f32 N=1024/4096/16384 at head_dims 32/64/128 and matrix f16
# N=1024..65536 at 64/128, causal both ($R/subgroup.md/.json, $R/matrix.md/.json); SDPA
# efficient f32 and flash f16 at the same shapes in the same call ($R/sdpa-eff.txt,
# $R/sdpa-flash.txt).
tiers_beside_sdpa() {
  export RINGATTN_TUNE_CACHE=$R/tiles.json
  local S="--no-progress --reps 5 --max-seconds 2 --causal both"
  timeout 150 .gpu/ringattn bench $S --tiers subgroup --dtypes f32 --seqs 1024,4096,16384 --head-dims 32,64,128 --json $R/subgroup.json > $R/subgroup.md 2>&1
  timeout 150 .gpu/ringattn bench $S --tiers matrix --dtypes f16 --seqs 1024,4096,16384,65536 --head-dims 64,128 --json $R/matrix.json > $R/matrix.md 2>&1
  local P="python3 benches/python/sdpa_baseline.py --reps 5 --causal both"
  timeout 100 $P --backends efficient --dtypes f32 --seqs 1024,4096,16384 --head-dims 32,64,128 > $R/sdpa-eff.txt 2>&1
  timeout 100 $P --backends flash --dtypes f16 --seqs 1024,4096,16384,65536 --head-dims 64,128 > $R/sdpa-flash.txt 2>&1
}

# kernel_table: a fresh tile search (f16, f32; cache $R/tiles.json), then every tier's
# table (matrix f16/f32 at N = 1K..64K, D = 64/128, causal both; subgroup f32 at 4K and
# 16K, non-causal) and SDPA (flash fp16, efficient fp16/fp32) at the same shapes, in the
# same call on the same card: $R/tune.txt, bench.*, subgroup.*, sdpa.*; kernel_summary
# prints the lines that matter.
kernel_table() {
  export RINGATTN_TUNE_CACHE=$R/tiles.json
  .gpu/ringattn tune --head-dims 64,128 --dtypes f16,f32 > $R/tune.txt 2>&1
  local S="--seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both --reps 5 --max-seconds 3"
  .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16,f32 $S --json $R/bench.json > $R/bench.md 2>&1
  .gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --seqs 4096,16384 --head-dims 64,128 --causal off --reps 5 --max-seconds 3 --json $R/subgroup.json > $R/subgroup.md 2>&1
  timeout 240 python3 benches/python/sdpa_baseline.py --backends flash,efficient --dtypes f16,f32 $S --json $R/sdpa.json > $R/sdpa.txt 2>&1
}
kernel_summary() {
  grep -E "^best" $R/tune.txt; grep -hE "^\| (matrix|subgroup)" $R/bench.md $R/subgroup.md; grep -E "flash|efficient" $R/sdpa.txt
}

# ab_prev_picks: the f16 matrix kernel at the H100's picks ((2,4,16) at head_dim 64,
# (2,8,16) at 128), N=4096/16384, causal both, with this build (.gpu/ringattn) and the
# previous one (.gpu/ringattn-prev), two rounds: $R/{ringattn,ringattn-prev}-{64,128}-N.md.
ab_prev_picks() {
  local B="--no-progress --tiers matrix --causal both --reps 5 --max-seconds 3 --seqs 4096,16384"
  for round in 1 2; do
    for bin in ringattn ringattn-prev; do
      RINGATTN_MATRIX_CFG=2,4,16 .gpu/$bin bench $B --dtypes f16 --head-dims 64 > $R/$bin-64-$round.md 2>&1
      RINGATTN_MATRIX_CFG=2,8,16 .gpu/$bin bench $B --dtypes f16 --head-dims 128 > $R/$bin-128-$round.md 2>&1
    done
  done
}

# pick_tests: a subset of the attention tests with the H100's picks forced
# (RINGATTN_MATRIX_CFG) and with every workgroup of the f16 matrix kernel running its
# keys twice (MREF's PLIM patched to -1): $R/test-cfg-*.txt, $R/test-rerun-always.txt.
PLIM_ALWAYS='const PLIM: f32 = 15.0;=>const PLIM: f32 = -1.0;'
pick_tests() {
  local T="every_head_dim causal_more_queries_than_keys causal_fewer_queries_than_keys large_and_small_scale rising_scores_match_reference key_splits_match_reference batch_of_three"
  for cfg in 2,4,16 2,8,16; do
    RINGATTN_MATRIX_CFG=$cfg timeout 200 .gpu/attention --test-threads 2 $T > $R/test-cfg-$cfg.txt 2>&1; echo "rc=$?" >> $R/test-cfg-$cfg.txt
  done
  RINGATTN_MATRIX_PATCH="$PLIM_ALWAYS" timeout 200 .gpu/attention --test-threads 2 $T > $R/test-rerun-always.txt 2>&1; echo "rc=$?" >> $R/test-rerun-always.txt
}

# dump_matrix CFG D NAME: the f16 matrix kernel at tiles CFG and head_dim D as the
# library renders it ($R/wgsl-NAME), its driver statistics ($R/stats-NAME.txt) and
# pipeline cache ($R/dump-NAME, for scripts/sass_from_cache.py); other RINGATTN_*
# variables pass through.
dump_matrix() {
  RINGATTN_DUMP_WGSL=$R/wgsl-$3 RINGATTN_MATRIX_CFG=$1 .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 --causal off --reps 1 --seqs 1024 --head-dims $2 > /dev/null 2>&1
  mkdir -p $R/dump-$3; .gpu/pipeline_stats --adapter NVIDIA --dump $R/dump-$3 $R/wgsl-$3/flash_matrix*.wgsl > $R/stats-$3.txt 2>&1
}

# ab_patched_picks NAME PATCH ...: the f16 matrix kernel at the H100's picks, N=4096 and
# 16384, non-causal, two rounds, with each rendered-shader patch (RINGATTN_MATRIX_PATCH;
# '' for none): $R/NAME-{64,128}-ROUND.md.
ab_patched_picks() {
  local B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
  local args=("$@")
  for round in 1 2; do
    for ((i = 0; i < ${#args[@]}; i += 2)); do
      local v=${args[i]} P=${args[i + 1]}
      RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/$v-64-$round.md 2>&1
      RINGATTN_MATRIX_PATCH="$P" RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/$v-128-$round.md 2>&1
    done
  done
}

# pack: $R/summary.txt (GPU, test results, the matrix lines of every table, register
# counts), printed, and $R archived as $OUT/r.tgz.
pack() {
  cd $R && {
    cat gpu.txt
    for f in test-*.txt; do [ -e "$f" ] && { echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=|^FAIL" $f; }; done
    for f in *.md; do [ -e "$f" ] && { echo "== $f"; grep -E "^\| matrix|rror" $f; }; done
    grep -hE "^/|Register|Shared" stats*.txt 2>/dev/null
  } > summary.txt; cat summary.txt
  cd $OUT && tar czf r.tgz r && rm -rf r
}

# ab_env_picks NAME VAR VALUE...: the f16 matrix kernel at the H100's picks, N=4096 and
# 16384, non-causal, two rounds, with the environment variable VAR at each value:
# $R/NAME<value>-{64,128}-ROUND.md.
ab_env_picks() {
  local name=$1 var=$2; shift 2
  local B="--no-progress --tiers matrix --dtypes f16 --causal off --reps 5 --max-seconds 3 --seqs 4096,16384"
  for round in 1 2; do
    for v in "$@"; do
      env $var=$v RINGATTN_MATRIX_CFG=2,4,16 .gpu/ringattn bench $B --head-dims 64 > $R/$name$v-64-$round.md 2>&1
      env $var=$v RINGATTN_MATRIX_CFG=2,8,16 .gpu/ringattn bench $B --head-dims 128 > $R/$name$v-128-$round.md 2>&1
    done
  done
}

# Tiled subgroup kernel variants (thirteenth session's scripts): `tb NAME VAR=VALUE...`
# times the tiled kernel (forced) at f32, N=16384, head_dim 64 with those variables for
# round $round ($R/NAME-$round.md) and keeps its rendered WGSL in $R/wgsl-NAME;
# `tb_pack` writes the driver's statistics and pipeline-cache blobs of every kept kernel
# ($R/stats.txt, $R/dump-NAME, for scripts/sass_from_cache.py), prints $R/summary.txt
# (times, registers) and archives $R as $OUT/r.tgz (the WGSL left out).
TB=".gpu/ringattn bench --no-progress --tiers subgroup --dtypes f32 --reps 5 --max-seconds 2 --seqs 16384 --causal off --head-dims 64"
tb() {
  local name=$1; shift
  mkdir -p $R/wgsl-$name
  env RINGATTN_SUBGROUP_VARIANT=tiled RINGATTN_DUMP_WGSL=$R/wgsl-$name "$@" timeout 60 $TB > $R/$name-$round.md 2>&1
}
# rounds FUNC FILE: two rounds of FUNC over FILE's lines (`name VAR=value ...`; #
# comments), in file order each round ($round is 1, then 2).
rounds() {
  local fn=$1 file=$2
  for round in 1 2; do
    while read -r name vars; do
      case "$name" in ''|\#*) continue ;; esac
      $fn $name $vars
    done < "$file"
  done
}
# tb_rounds FILE: two rounds of `tb` over FILE's lines.
tb_rounds() { rounds tb "$1"; }
tb_pack() {
  for d in $R/wgsl-*; do
    local n=${d#$R/wgsl-}; mkdir -p $R/dump-$n
    echo "== $n"; .gpu/pipeline_stats --adapter NVIDIA --dump $R/dump-$n $d/flash_tiled*.wgsl 2>&1 | grep -vE "^adapter"
  done > $R/stats.txt 2>&1
  cd $R && {
    cat gpu.txt
    for f in *-1.md *-2.md; do echo "$f $(grep -E '^\| subgroup' $f | awk -F'|' '{print $5, $7}' | tr '\n' ' ') $(grep -ci error $f)"; done
    grep -E "efficient" sdpa.txt 2>/dev/null; grep -E "^==|Register" stats.txt
  } > summary.txt; cat summary.txt
  rm -rf $R/wgsl-*; cd $OUT && tar czf r.tgz r && rm -rf r
}

# final_table: the matrix f16 table (N = 1K..64K, head_dim 64 / 128, causal both) beside
# SDPA flash, and the subgroup tier at f32 N=16384 (as picked, and the tiled kernel
# forced) beside SDPA efficient, in one call: $R/bench.*, sdpa.*, subgroup*.md,
# sdpa-eff.txt (the twelfth and thirteenth sessions' final tables).
final_table() {
  local S="--seqs 1024,4096,16384,65536 --head-dims 64,128 --causal both --reps 5 --max-seconds 3"
  .gpu/ringattn bench --no-progress --tiers matrix --dtypes f16 $S --json $R/bench.json > $R/bench.md 2>&1
  timeout 200 python3 benches/python/sdpa_baseline.py --backends flash --dtypes f16 $S --json $R/sdpa.json > $R/sdpa.txt 2>&1
  local G="--no-progress --tiers subgroup --dtypes f32 --seqs 16384 --head-dims 64,128 --causal off --reps 5 --max-seconds 2"
  .gpu/ringattn bench $G > $R/subgroup.md 2>&1
  RINGATTN_SUBGROUP_VARIANT=tiled .gpu/ringattn bench $G > $R/subgroup-tiled.md 2>&1
  timeout 100 python3 benches/python/sdpa_baseline.py --backends efficient --dtypes f32 --seqs 16384 --head-dims 64,128 --causal off --reps 5 > $R/sdpa-eff.txt 2>&1
}

# dumped_regs: registers, stack and workgroup memory of each shuffle-kernel build dumped
# under $R/w-NAME (RINGATTN_DUMP_WGSL=$R/w-NAME), one line per build, into $R/regs.txt.
dumped_regs() {
  for w in $R/w-*; do echo "== ${w##*/} $(.gpu/pipeline_stats --adapter NVIDIA $w/flash_subgroup*.wgsl 2>&1 | grep -E "Register Count|Stack Size|Shared Memory Size" | tr -s ' ' | tr '\n' ' ')"; done > $R/regs.txt
}

# shuffle_runs: the shuffle kernel under $B for each entry of $RUNS ("D cfg wg pipe
# [VAR=value,...] [dtype]", entries separated by |; VAR: UNM, RSP, TAIL, PSM, EARLY... for
# RINGATTN_SUBGROUP_<VAR>), two rounds: $R/<name>-<round>.md, then the registers of each
# build ($R/regs.txt, dumped_regs).
shuffle_runs() {
  for round in 1 2; do
    IFS='|'; for run in $RUNS; do IFS=' '; set -- $run
      local extra=${5:--} dt=${6:-f32}
      local n=d$1-${2//,/_}-wg$3-pipe$4-${extra//[,=]/}-$dt
      local envs=(); [ "$extra" != - ] && for kv in ${extra//,/ }; do envs+=("RINGATTN_SUBGROUP_$kv"); done
      env "${envs[@]}" RINGATTN_DUMP_WGSL=$R/w-$n RINGATTN_SUBGROUP_VARIANT=shuffle RINGATTN_SUBGROUP_CFG=$2 RINGATTN_SUBGROUP_WG=$3 RINGATTN_SUBGROUP_PIPE=$4 \
        $B --dtypes $dt --head-dims $1 > $R/$n-$round.md 2>&1
    done; IFS=' '
  done
  dumped_regs
  rm -rf $R/w-*
}

# run_times: each $R/d*.md's subgroup GPU ms and count of error/ignored lines, sorted.
run_times() {
  for f in $R/d*.md; do echo "${f##*/} $(grep -E '^\| subgroup' $f | awk -F'|' '{print $7}' | tr -d ' ') $(grep -ciE 'error|ignored' $f)"; done | sort -V
}

# clocks_start [,FIELD...]: samples the GPUs' SM and memory clocks, utilization and power
# (and any extra nvidia-smi fields) every 20 ms into $R/clocks.csv in the background, until
# clocks_stop: clock drops after idle time show there (BENCHMARKS.md, twenty-sixth
# session). stamped: prefixes each line of its input with the time of day, to line up
# with the samples.
clocks_start() {
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,utilization.gpu,power.draw$1 --format=csv -lms 20 > $R/clocks.csv 2>&1 &
  CLOCKS_PID=$!
  sleep 1
}
clocks_stop() {
  kill $CLOCKS_PID
}
stamped() {
  while IFS= read -r l; do echo "$(date +%H:%M:%S.%N) $l"; done
}

# run_filtered NAME LIMIT FILTER...: the carried test binary .gpu/NAME with 2 threads,
# only the tests matching the filters, at most LIMIT s; output and exit status in
# $R/test-NAME.txt.
run_filtered() {
  local n=$1 lim=$2; shift 2
  timeout $lim .gpu/$n --test-threads 2 "$@" > $R/test-$n.txt 2>&1; echo "rc=$?" >> $R/test-$n.txt
}

# sparse_checks: the masked tests (every pattern, fully masked rows, merged mask rows)
# and the ring presets test, built-in tiles: $R/test-sparse.txt, $R/test-suite.txt.
sparse_checks() {
  RINGATTN_TUNE=0 run_filtered sparse 240 masked_attention_matches_reference fully_masked_rows_are_zero merged_mask_rows
  RINGATTN_TUNE=0 run_filtered suite 120 hilbert_and_block_sparse_presets
}

# sparse_start: a 1-GPU sparse script's common start: results, built-in tiles
# (RINGATTN_TUNE=0 for the whole script), sparse_checks.
sparse_start() {
  results
  export RINGATTN_TUNE=0
  sparse_checks
}

# ab NAME SUFFIX VAR=VALUE CMD...: one switch's A/B on a command: CMD (with the extra
# arguments of $AB_A, e.g. --check, on the A side only) into $R/NAME.md, then CMD with
# VAR=VALUE into $R/NAME-SUFFIX.md; each at most $AB_LIMIT s (default 90).
ab() {
  local name=$1 suffix=$2 var=$3
  shift 3
  timeout ${AB_LIMIT:-90} "$@" $AB_A > $R/$name.md 2>&1
  env "$var" timeout ${AB_LIMIT:-90} "$@" > $R/$name-$suffix.md 2>&1
}

# order_rounds S: two rounds of `ringattn bench $S` causal at N = 4K/16K/64K and
# non-causal at 16K/64K: the build before the session (.gpu/old-ringattn), per head
# (RINGATTN_HEADS_TOGETHER=0) and by the rule, one machine; $R/{old,per,rule}-{on,off}-{a,b}.md
# (twenty-eighth session's launch orders).
order_rounds() {
  local S=$1 r c seqs
  for r in a b; do
    for c in on off; do
      seqs=$([ $c = on ] && echo 4096,16384,65536 || echo 16384,65536)
      timeout 100 .gpu/old-ringattn $S --causal $c --seqs $seqs > $R/old-$c-$r.md 2>&1
      RINGATTN_HEADS_TOGETHER=0 timeout 100 .gpu/ringattn $S --causal $c --seqs $seqs > $R/per-$c-$r.md 2>&1
      timeout 100 .gpu/ringattn $S --causal $c --seqs $seqs > $R/rule-$c-$r.md 2>&1
    done
  done
}

# bench_case NAME [VAR=VALUE...]: `.gpu/ringattn $B` (a bench line without --json) with
# those variables, for round $round: $R/NAME-$round.md and .json (at most
# ${CASE_LIMIT:-60} s). The thirtieth session's A/B scripts run their variants with it.
bench_case() {
  local name=$1; shift
  env "$@" timeout ${CASE_LIMIT:-60} .gpu/ringattn $B --json $R/$name-$round.json > $R/$name-$round.md 2>&1
}
# case_rounds FILE: two rounds of `bench_case` over FILE's lines (see `rounds`).
case_rounds() { rounds bench_case "$1"; }

# decode_pack: $R/summary.txt (GPU, every decode table's rows and errors, SDPA's rows,
# test results), printed, and $R archived as $OUT/r.tgz (the thirty-first session's
# decode calls, which ran with these lines written out in each script; the helper was
# checked with stand-in files, not on a GPU).
decode_pack() {
  cd $R && {
    cat gpu.txt
    for f in *.md; do [ -e "$f" ] && { echo "== $f"; grep -E "^\| [0-9]|rror" $f; }; done
    for f in sdpa*.txt; do [ -e "$f" ] && { echo "== $f"; grep -E "^\| sdpa|rror" $f; }; done
    for f in test-*.txt; do [ -e "$f" ] && { echo "== $f"; grep -hE "test result|FAILED|panicked|^rc=" $f; }; done
  } > summary.txt; cat summary.txt
  cd $OUT && tar czf r.tgz r && rm -rf r
}

# sdpa_decode: SDPA at the decode example's shapes (H=32, K/V lengths 4K / 16K / 64K,
# non-causal, median of 20): flash f16 for one token with 8 K/V heads at head_dims 64
# and 128 ($R/sdpa-gqa.txt), five tokens ($R/sdpa-q5.txt), 32 K/V heads
# ($R/sdpa-mha.txt), a batch of 4 ($R/sdpa-b4.txt), and math f32 for one token
# ($R/sdpa-f32.txt). (The thirty-second session's fifth and sixth calls ran these lines
# written out in their scripts.)
sdpa_decode() {
  P="python3 benches/python/sdpa_baseline.py --seqs 4096,16384,65536 --causal off --reps 20 --backends flash --dtypes f16 --heads 32"
  timeout 40 $P --head-dims 64,128 --queries 1 --kv-heads 8 > $R/sdpa-gqa.txt 2>&1
  timeout 40 $P --head-dims 128 --queries 5 --kv-heads 8 > $R/sdpa-q5.txt 2>&1
  timeout 40 $P --head-dims 128 --queries 1 > $R/sdpa-mha.txt 2>&1
  timeout 40 $P --head-dims 128 --queries 1 --batch 4 --kv-heads 8 > $R/sdpa-b4.txt 2>&1
  timeout 40 python3 benches/python/sdpa_baseline.py --seqs 4096,16384,65536 --causal off --reps 20 --backends math --dtypes f32 --heads 32 --head-dims 128 --queries 1 --kv-heads 8 > $R/sdpa-f32.txt 2>&1
}
