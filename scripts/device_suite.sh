#!/bin/bash
# The benchmark suites of `ringattn bench` on the lent GPU machine, the replaced Python
# system's classes where that package is importable, and the Markdown reports; every
# file lands under $OUT. See docs/ARCHITECTURE.md, "Measuring on a real GPU": build here
# (`cargo build --release`), copy target/release/ringattn into .gpu/ and the Vulkan
# loader debs into .gl/, then run this there.
#
# Results are rewritten after every case, so a run cut short by the per-command limit
# still leaves every finished case in $OUT/<name>.json. One call runs the suites in
# $SUITES; split the run over calls of under 10 minutes, e.g. on one H100/H200
#   SUITES=compare NAME=compare bash scripts/device_suite.sh
#   SUITES=memory,sweep,sparse,ring NAME=main bash scripts/device_suite.sh
#   SUITES=extreme NAME=extreme OLD=0 bash scripts/device_suite.sh
# and report them together: ringattn report compare.json --add main.json --add extreme.json
# Environment: SUITES (default: all but extreme), NAME (results file stem, default
# suites), DEVICES (all | N | logical:N; default: the CLI's, all, where presets run), BUDGET (seconds per case,
# default 3), CHECK (1: --check, default 1), OLD (1: time the old Python classes,
# default 1), EXTRA (more ringattn bench options, e.g. "--max-seq 65536").
source scripts/device_run.sh
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
SUITES=${SUITES:-compare,memory,sweep,sparse,ring}
NAME=${NAME:-suites}
DEV_ARG=""; [ -n "${DEVICES:-}" ] && DEV_ARG="--devices $DEVICES"
BUDGET=${BUDGET:-3}
CHECK=${CHECK:-1}
OLD=${OLD:-1}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
CHECK_ARG=""; [ "$CHECK" = 1 ] && CHECK_ARG="--check"
# shellcheck disable=SC2086
.gpu/ringattn bench "$SUITES" $DEV_ARG --max-seconds "$BUDGET" $CHECK_ARG --no-progress \
    --json "$OUT/$NAME.json" $EXTRA > "$OUT/$NAME.md" 2> >(grep -v XDG > "$OUT/$NAME.err")
echo "ringattn bench exit code $?"
tail -25 "$OUT/$NAME.md"
.gpu/ringattn report "$OUT/$NAME.json" --out "$OUT/$NAME-report" 2>&1 | grep -v XDG
if [ "$OLD" = 1 ] && command -v python3 >/dev/null; then
  # The old benchmarks' settings: compare B=2, memory B=1; H=8, D=64, fp16, N 1K..16K.
  for s in compare memory; do
    case ",$SUITES," in *",$s,"*) ;; *) continue ;; esac
    python3 benches/python/old_ring_baseline.py --suite $s --seqs 1024,2048,4096,8192,16384 --causal off \
        --max-seconds "$BUDGET" --json "$OUT/old-$s.json" > "$OUT/old-$s.md" 2>&1
    tail -3 "$OUT/old-$s.md"
    .gpu/ringattn report "$OUT/$NAME.json" "$OUT/old-$s.json" --out "$OUT/$NAME-vs-old-$s" 2>&1 | grep -v XDG
  done
fi
ls -la "$OUT"
