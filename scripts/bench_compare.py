#!/usr/bin/env python3
"""Joins `ringattn bench --json` files and `benches/python/sdpa_baseline.py --json`
files from the same card into Markdown comparison tables (stdlib only). Any number of
files, in any order: results whose tier starts with "sdpa" are the baseline's; where
two files hold the same case, the later one counts.

    python3 scripts/bench_compare.py RINGATTN.json SDPA.json [MORE.json ...]
"""
import json
import sys


def load(path):
    with open(path) as f:
        return {(r["tier"], r["dtype"], r["seq"], r["head_dim"], r["causal"]): r
                for r in json.load(f)["results"] if r.get("status", "ok") == "ok"}


def fmt_ms(r):
    return "%.3g" % r["gpu_ms_median"] if r else "-"


def fmt_tf(r):
    return "%.1f" % r["tflops"] if r and r.get("tflops") else "-"


def table(ours, theirs, our_tier, their_tier, dtype, title):
    keys = sorted({(k[2], k[3], k[4]) for k in ours if k[0] == our_tier and k[1] == dtype},
                  key=lambda x: (x[1], x[2], x[0]))
    print("\n### %s\n" % title)
    print("| N | D | causal | %s ms | %s TFLOP/s | %s ms | %s TFLOP/s | ratio |" % (our_tier, our_tier, their_tier, their_tier))
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for n, d, c in keys:
        a = ours.get((our_tier, dtype, n, d, c))
        b = theirs.get((their_tier, dtype, n, d, c))
        ratio = "%.2f" % (b["gpu_ms_median"] / a["gpu_ms_median"]) if a and b else "-"
        print("| %d | %d | %s | %s | %s | %s | %s | %s |" % (n, d, "yes" if c else "no", fmt_ms(a), fmt_tf(a), fmt_ms(b), fmt_tf(b), ratio))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ours, theirs = {}, {}
    for path in sys.argv[1:]:
        for k, r in load(path).items():
            (theirs if k[0].startswith("sdpa") else ours)[k] = r
    table(ours, theirs, "matrix", "sdpa-flash", "f16", "Matrix tier (f16) vs SDPA flash (f16); ratio = SDPA time / ours (1.0 = parity)")
    table(ours, theirs, "subgroup", "sdpa-efficient", "f32", "Subgroup tier (f32) vs SDPA memory-efficient (f32)")
    table(ours, theirs, "matrix", "sdpa-efficient", "f32", "Matrix tier's split kernel (f32, as f32 users of a matrix-tier GPU get it) vs SDPA memory-efficient (f32)")
    table(ours, theirs, "portable", "sdpa-math", "f32", "Portable tier (f32) vs SDPA math (f32)")


if __name__ == "__main__":
    main()
