#!/usr/bin/env python3
"""Write random Q/K/V .npy inputs for `ringattn run`, and a NumPy reference O/LSE.

Shapes follow ringattn: Q is (batch, seq_q, heads, head_dim); K and V are
(batch, seq_k, kv_heads, head_dim); O is like Q; LSE is float32 (batch, heads, seq_q)
in natural log. The causal mask is bottom-right aligned when seq_q != seq_k (query i
sees keys j <= i + seq_k - seq_q), and a fully masked row gives O = 0, LSE = -inf.

Examples:

    # inputs + reference, then run ringattn and compare
    python3 scripts/make_npy.py --out-dir /tmp/attn --seq 37 --heads 2 --head-dim 32 --reference
    ringattn run --q /tmp/attn/q.npy --k /tmp/attn/k.npy --v /tmp/attn/v.npy \\
        --out /tmp/attn/o.npy --lse /tmp/attn/lse.npy --check
    python3 scripts/make_npy.py --out-dir /tmp/attn --compare /tmp/attn/o.npy

    # float16, grouped-query attention, causal with seq_q != seq_k
    python3 scripts/make_npy.py --out-dir /tmp/gqa --dtype float16 --seq 6 --seq-k 10 \\
        --heads 4 --kv-heads 1 --head-dim 64 --causal --reference

The reference is computed in float64 from the values as stored (so float16 inputs
are compared after their rounding, as `ringattn run --check` does) and saved as
float32, a dtype ringattn can read.

Needs numpy (pip install numpy).
"""

import argparse
import json
import os
import shlex
import sys

try:
    import numpy as np
except ImportError:  # pragma: no cover
    sys.exit("make_npy.py needs numpy: pip install numpy")


def reference(q, k, v, causal=False, scale=None):
    """float64 attention: returns O (b, n, h, d) and LSE (b, h, n)."""
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    b, n, h, d = q.shape
    kb, m, kvh, kd = k.shape
    if (kb, kd) != (b, d) or v.shape != k.shape:
        raise ValueError(f"shapes do not fit: q {q.shape}, k {k.shape}, v {v.shape}")
    if h % kvh:
        raise ValueError(f"heads ({h}) must be a multiple of kv_heads ({kvh})")
    g = h // kvh
    # Query head i uses key/value head i // g.
    k = np.repeat(k, g, axis=2)
    v = np.repeat(v, g, axis=2)
    scale = 1.0 / np.sqrt(d) if scale is None else float(scale)
    s = np.einsum("bnhd,bmhd->bhnm", q, k) * scale
    if causal:
        i = np.arange(n)[:, None]
        j = np.arange(m)[None, :]
        s = np.where(j <= i + (m - n), s, -np.inf)
    mx = s.max(axis=-1, keepdims=True)
    empty = ~np.isfinite(mx)
    mx = np.where(empty, 0.0, mx)
    p = np.exp(s - mx)
    l = p.sum(axis=-1, keepdims=True)
    o = np.einsum("bhnm,bmhd->bnhd", p / np.where(l == 0, 1.0, l), v)
    with np.errstate(divide="ignore"):
        lse = np.where(l[..., 0] == 0, -np.inf, mx[..., 0] + np.log(l[..., 0]))
    return o, lse


def rel_error(out, ref):
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        return float("inf")
    den = np.linalg.norm(ref)
    num = np.linalg.norm(out - ref)
    return float(num if den == 0 else num / den)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=".", help="directory for q.npy, k.npy, v.npy (default: .)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=37, help="seq_q (default 37)")
    ap.add_argument("--seq-k", type=int, default=None, help="seq_k (default: --seq)")
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--kv-heads", type=int, default=None, help="key/value heads (default: --heads)")
    ap.add_argument("--head-dim", type=int, default=32, help="32, 64, 80, 96, 128 or 256 for ringattn")
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--amplitude", type=float, default=1.0, help="values are uniform in [-a, a) (default 1)")
    ap.add_argument("--causal", action="store_true", help="causal mask for --reference / --compare")
    ap.add_argument("--scale", type=float, default=None, help="softmax scale (default 1/sqrt(head_dim))")
    ap.add_argument("--reference", action="store_true",
                    help="also write o_ref.npy and lse_ref.npy (float32) computed in float64")
    ap.add_argument("--compare", metavar="O.npy", default=None,
                    help="do not generate: load q/k/v from --out-dir and compare O.npy to the reference")
    return ap.parse_args(argv)


def compare(args):
    load = lambda name: np.load(os.path.join(args.out_dir, name))
    q, k, v = load("q.npy"), load("k.npy"), load("v.npy")
    o = np.load(args.compare)
    ref_o, _ = reference(q, k, v, causal=args.causal, scale=args.scale)
    if o.shape != ref_o.shape:
        print(f"shape mismatch: {args.compare} is {o.shape}, reference is {ref_o.shape}", file=sys.stderr)
        return 2
    err = rel_error(o, ref_o)
    tol = 5e-3 if (q.dtype == np.float16 or o.dtype == np.float16) else 1e-4
    print(f"rel error {err:.3e} (tolerance {tol:.0e})")
    return 0 if err <= tol else 1


def generate(args):
    m = args.seq if args.seq_k is None else args.seq_k
    kvh = args.heads if args.kv_heads is None else args.kv_heads
    b, n, h, d = args.batch, args.seq, args.heads, args.head_dim
    rng = np.random.default_rng(args.seed)
    dt = np.dtype(args.dtype)
    a = args.amplitude
    q = rng.uniform(-a, a, size=(b, n, h, d)).astype(dt)
    k = rng.uniform(-a, a, size=(b, m, kvh, d)).astype(dt)
    v = rng.uniform(-a, a, size=(b, m, kvh, d)).astype(dt)
    os.makedirs(args.out_dir, exist_ok=True)
    path = lambda name: os.path.join(args.out_dir, name)
    for name, x in (("q.npy", q), ("k.npy", k), ("v.npy", v)):
        np.save(path(name), np.ascontiguousarray(x))
    written = ["q.npy", "k.npy", "v.npy"]
    if args.reference:
        o, lse = reference(q, k, v, causal=args.causal, scale=args.scale)
        # einsum results may be laid out in Fortran order; ringattn reads C order only.
        np.save(path("o_ref.npy"), np.ascontiguousarray(o, dtype=np.float32))
        np.save(path("lse_ref.npy"), np.ascontiguousarray(lse, dtype=np.float32))
        written += ["o_ref.npy", "lse_ref.npy"]
    meta = {
        "batch": b, "seq_q": n, "seq_k": m, "heads": h, "kv_heads": kvh, "head_dim": d,
        "dtype": args.dtype, "seed": args.seed, "amplitude": a, "causal": args.causal,
        "scale": args.scale, "numpy": np.__version__, "files": written,
    }
    with open(path("meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"wrote {', '.join(written)} and meta.json to {args.out_dir}: "
          f"q {q.shape} k {k.shape} v {v.shape} {args.dtype}")
    cmd = ["ringattn", "run", "--q", path("q.npy"), "--k", path("k.npy"), "--v", path("v.npy"),
           "--out", path("o.npy"), "--lse", path("lse.npy"), "--check"]
    if args.causal:
        cmd.append("--causal")
    if args.scale is not None:
        cmd += ["--scale", repr(args.scale)]
    print("run:     " + " ".join(shlex.quote(c) for c in cmd))
    cmp = [sys.argv[0], "--out-dir", args.out_dir, "--compare", path("o.npy")]
    if args.causal:
        cmp.append("--causal")
    if args.scale is not None:
        cmp += ["--scale", repr(args.scale)]
    print("compare: python3 " + " ".join(shlex.quote(c) for c in cmp))
    return 0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.compare:
        return compare(args)
    return generate(args)


if __name__ == "__main__":
    sys.exit(main())
