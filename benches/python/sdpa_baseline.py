#!/usr/bin/env python3
"""PyTorch SDPA baseline for `ringattn bench`.

Times torch.nn.functional.scaled_dot_product_attention on CUDA with each backend
forced (flash, efficient, math) over the same grid and flags as `ringattn bench`,
prints the same Markdown table and writes JSON in the same schema
("ringattn-bench/1"), so the two result files can be joined on
(dtype, batch, seq, heads, head_dim, causal).

Layout: ringattn uses (B, N, H, D); PyTorch SDPA takes (B, H, N, D). By default the
inputs are allocated contiguous in (B, H, N, D). With --bnhd they are allocated as
(B, N, H, D), ringattn's memory layout, and passed as transposed views.

Times: GPU time from CUDA events around the one SDPA call; wall time is host
launch + synchronize. FLOPs are 4*B*H*N*N*D (halved when causal), as in ringattn.

Needs only torch (2.x) and the standard library:

    python3 benches/python/sdpa_baseline.py --seqs 1024,4096 --json sdpa.json
"""

import argparse
import datetime
import json
import math
import re
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

SCHEMA = "ringattn-bench/1"
ROTATE_BELOW_BYTES = 64 << 20
BACKENDS = ("flash", "efficient", "math")
DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
DTYPE_ALIASES = {"fp32": "f32", "float32": "f32", "fp16": "f16", "float16": "f16", "half": "f16", "bfloat16": "bf16"}


def backend_context(name):
    """A context manager that allows only the named SDPA backend."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel  # torch >= 2.3

        enum = {
            "flash": SDPBackend.FLASH_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "math": SDPBackend.MATH,
        }[name]
        return sdpa_kernel([enum])
    except ImportError:  # torch 2.0 - 2.2
        return torch.backends.cuda.sdp_kernel(
            enable_flash=name == "flash",
            enable_mem_efficient=name == "efficient",
            enable_math=name == "math",
        )


def int_list(s):
    out = [int(x) for x in s.split(",") if x.strip()]
    if not out or any(x <= 0 for x in out):
        raise argparse.ArgumentTypeError("need positive integers, got %r" % s)
    return out


def name_list(allowed, aliases=None):
    def parse(s):
        out = []
        for x in s.split(","):
            x = x.strip().lower()
            if not x:
                continue
            x = (aliases or {}).get(x, x)
            if x not in allowed:
                raise argparse.ArgumentTypeError("unknown %r (choose from %s)" % (x, ", ".join(allowed)))
            if x not in out:
                out.append(x)
        if not out:
            raise argparse.ArgumentTypeError("empty list")
        return out

    return parse


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", type=name_list(BACKENDS), default=list(BACKENDS), help="flash,efficient,math (default: all)")
    p.add_argument("--dtypes", type=name_list(tuple(DTYPES), DTYPE_ALIASES), default=["f32", "f16"], help="f32,f16[,bf16] (default: f32,f16)")
    p.add_argument("--seqs", type=int_list, default=[1024, 4096, 16384, 65536], help="sequence lengths N (default: 1024,4096,16384,65536)")
    p.add_argument("--head-dims", type=int_list, default=[64, 128], help="head dims D (default: 64,128)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=None, help="K/V heads (fewer than --heads: grouped-query attention, enable_gqa; default: --heads)")
    p.add_argument(
        "--queries",
        type=int,
        default=None,
        help="query rows per sequence against N keys (decode: 1; default: N). SDPA's is_causal aligns the mask top-left, "
        "ringattn's bottom-right: compare such shapes non-causal",
    )
    p.add_argument("--causal", choices=("both", "on", "off"), default="both")
    p.add_argument("--reps", type=int, default=10, help="timed iterations per case (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs per case (at least 1)")
    p.add_argument("--max-seconds", type=float, default=None, help="per-case budget; remaining reps are skipped once spent")
    p.add_argument("--bnhd", action="store_true", help="allocate (B, N, H, D) like ringattn and pass transposed views")
    p.add_argument("--device", default="cuda", help="torch device (default: cuda)")
    p.add_argument("--json", default=None, metavar="OUT.json", help="write all results as JSON")
    a = p.parse_args()
    if a.reps < 1:
        p.error("--reps must be at least 1")
    if a.batch < 1 or a.heads < 1:
        p.error("--batch and --heads must be at least 1")
    if a.max_seconds is not None and not a.max_seconds > 0:
        p.error("--max-seconds must be positive")
    return a


def driver_version():
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=False,
        ).stdout.strip()
        return out.splitlines()[0].strip() if out else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def adapter_report(device):
    props = torch.cuda.get_device_properties(device)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "name": props.name,
        "backend": "cuda",
        "device_type": "DiscreteGpu",
        "driver": driver_version(),
        "driver_info": "torch %s, CUDA %s, cuDNN %s, sm_%d%d, %d SMs, %.1f GiB"
        % (torch.__version__, torch.version.cuda, cudnn, props.major, props.minor, props.multi_processor_count, props.total_memory / 2**30),
        "vendor": 0x10DE,
        "device": 0,
        "timestamp_query": True,
        "shader_f16": True,
        "subgroup": True,
        "tiers": ["sdpa-" + b for b in BACKENDS],
    }


def sig3(x):
    """3 significant digits, plain for 1e-3 <= |x| < 1e6 (like ringattn's table)."""
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    a = abs(x)
    if 1e-3 <= a < 1e6:
        digits = max(0, 2 - int(math.floor(math.log10(a))))
        return "%.*f" % (digits, x)
    return "%.2e" % x


def si(x):
    if x is None:
        return "n/a"
    for scale, unit in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= scale:
            return sig3(x / scale) + unit
    return sig3(x)


def queries(args, seq):
    """Query rows per sequence: --queries, else N."""
    return args.queries or seq


def kv_heads(args):
    return args.kv_heads or args.heads


def new_result(backend, dtype, seq, head_dim, causal, args):
    b, h = args.batch, args.heads
    flops = 4.0 * b * h * queries(args, seq) * seq * head_dim
    if causal:
        flops /= 2.0
    return {
        "implementation": "torch-sdpa",
        "tier": "sdpa-" + backend,
        "tier_requested": "sdpa-" + backend,
        "dtype": dtype,
        "batch": b,
        "seq": seq,
        "seq_q": queries(args, seq),
        "heads": h,
        "kv_heads": kv_heads(args),
        "head_dim": head_dim,
        "causal": causal,
        "status": "skipped",
        "note": None,
        "warmup_runs": 0,
        "reps_requested": args.reps,
        "reps": 0,
        "input_sets": 0,
        "gpu_ms_median": None,
        "gpu_ms_min": None,
        "gpu_ms_max": None,
        "wall_ms_median": None,
        "wall_ms_min": None,
        "wall_ms_max": None,
        "flops": flops,
        "tflops": None,
        "tokens_per_s": None,
        "time_source": None,
        "gpu_ms": [],
        "wall_ms": [],
    }


def make_inputs(args, dtype, seq, head_dim, device):
    b, h, kvh, nq = args.batch, args.heads, kv_heads(args), queries(args, seq)
    elem = torch.tensor([], dtype=dtype).element_size()
    sets = 2 if b * (nq * h + 2 * seq * kvh) * head_dim * elem < ROTATE_BELOW_BYTES else 1
    out = []
    for _ in range(sets):
        qkv = []
        for n, heads in ((nq, h), (seq, kvh), (seq, kvh)):
            if args.bnhd:
                t = torch.randn(b, n, heads, head_dim, device=device, dtype=dtype).transpose(1, 2)
            else:
                t = torch.randn(b, heads, n, head_dim, device=device, dtype=dtype)
            qkv.append(t)
        out.append(qkv)
    return out


def sdpa(args, q, k, v, causal):
    """One SDPA call (enable_gqa where K/V have fewer heads than Q: torch >= 2.5)."""
    if kv_heads(args) < args.heads:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def unsupported_reason(backend, dtype):
    """Why a backend cannot run a dtype at all (None when it can)."""
    if backend == "flash" and dtype == "f32":
        return "the flash backend supports only f16/bf16"
    return None


def run_case(args, backend, dtype, seq, head_dim, causal, device):
    r = new_result(backend, dtype, seq, head_dim, causal, args)
    reason = unsupported_reason(backend, dtype)
    if reason:
        r["note"] = reason
        return r
    inputs = None
    try:
        inputs = make_inputs(args, DTYPES[dtype], seq, head_dim, device)
        r["input_sets"] = len(inputs)
        with backend_context(backend):
            budget = args.max_seconds
            start = time.perf_counter()

            def over():
                return budget is not None and time.perf_counter() - start >= budget

            warm = 0
            while warm < max(1, args.warmup) and not (warm > 0 and over()):
                q, k, v = inputs[warm % len(inputs)]
                sdpa(args, q, k, v, causal)
                torch.cuda.synchronize(device)
                warm += 1
            r["warmup_runs"] = warm
            gpu, wall = [], []
            ev0 = torch.cuda.Event(enable_timing=True)
            ev1 = torch.cuda.Event(enable_timing=True)
            for i in range(args.reps):
                if i > 0 and over():
                    break
                q, k, v = inputs[i % len(inputs)]
                torch.cuda.synchronize(device)
                t0 = time.perf_counter()
                ev0.record()
                o = sdpa(args, q, k, v, causal)
                ev1.record()
                ev1.synchronize()
                wall.append((time.perf_counter() - t0) * 1e3)
                gpu.append(ev0.elapsed_time(ev1))
                del o
    except RuntimeError as e:  # torch.cuda.OutOfMemoryError is a RuntimeError
        msg = str(e).splitlines()[0] if str(e) else repr(e)
        if isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in msg.lower():
            m = re.search(r"Tried to allocate ([0-9.]+ [KMGT]?i?B)", msg)
            r["note"] = "out of memory" + (" (tried to allocate %s)" % m.group(1) if m else "")
        elif "no available kernel" in msg.lower() or "not supported" in msg.lower():
            r["note"] = "backend cannot run this case: %s" % msg
        else:
            r["status"] = "error"
            r["note"] = msg
        return r
    finally:
        del inputs
        torch.cuda.empty_cache()

    r["status"] = "ok"
    r["reps"] = len(gpu)
    r["gpu_ms"], r["wall_ms"] = gpu, wall
    r["gpu_ms_median"], r["gpu_ms_min"], r["gpu_ms_max"] = statistics.median(gpu), min(gpu), max(gpu)
    r["wall_ms_median"], r["wall_ms_min"], r["wall_ms_max"] = statistics.median(wall), min(wall), max(wall)
    t = r["gpu_ms_median"] * 1e-3
    r["time_source"] = "gpu"
    if t > 0:
        r["tflops"] = r["flops"] / t / 1e12
        r["tokens_per_s"] = args.batch * queries(args, seq) / t
    notes = []
    if r["reps"] < args.reps:
        notes.append("%d of %d reps ran (--max-seconds budget spent)" % (r["reps"], args.reps))
    if notes:
        r["note"] = "; ".join(notes)
    return r


def row(r, mark):
    tier = r["tier"] + (" " + mark if mark else "")
    causal = "yes" if r["causal"] else "no"
    head = "| %s | %s | %d | %d | %s |" % (tier, r["dtype"], r["seq"], r["head_dim"], causal)
    if r["status"] != "ok":
        return head + " %s | - | - | - |" % r["status"]
    return head + " %s | %s | %s | %s |" % (sig3(r["gpu_ms_median"]), sig3(r["wall_ms_median"]), sig3(r["tflops"]), si(r["tokens_per_s"]))


def write_json(path, report):
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")


def main():
    args = parse_args()
    if not torch.cuda.is_available():
        print("error: CUDA is not available to torch %s" % torch.__version__, file=sys.stderr)
        return 2
    device = torch.device(args.device)
    if device.type != "cuda":
        print("error: --device must be a CUDA device, got %s" % device, file=sys.stderr)
        return 2
    if device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    torch.cuda.set_device(device)
    now = int(time.time())
    report = {
        "schema": SCHEMA,
        "implementation": "torch-sdpa",
        "version": "torch %s" % torch.__version__,
        "unix_time": now,
        "date": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "adapter": adapter_report(device),
        "warmup": args.warmup,
        "reps": args.reps,
        "max_seconds": args.max_seconds,
        "results": [],
    }
    a = report["adapter"]
    print("adapter: %s | backend: cuda | driver: %s | torch %s | CUDA %s | date: %s UTC"
          % (a["name"], a["driver"], torch.__version__, torch.version.cuda, report["date"]))
    shape = ""
    if args.kv_heads:
        shape += " (K/V heads %d)" % args.kv_heads
    if args.queries:
        shape += ", %d query row(s) against N keys" % args.queries
    print("batch %d, heads %d%s, warmup %d, reps %d (median)%s | GPU time: CUDA events | layout: %s"
          % (args.batch, args.heads, shape, max(1, args.warmup), args.reps,
             ", budget %g s per case" % args.max_seconds if args.max_seconds else "",
             "(B, N, H, D) transposed views" if args.bnhd else "(B, H, N, D) contiguous"))
    print()
    print("| tier | dtype | N | D | causal | GPU ms (median) | wall ms | TFLOP/s | tokens/s |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|")
    sys.stdout.flush()

    causal_values = {"both": [False, True], "on": [True], "off": [False]}[args.causal]
    notes = []
    unsupported = {}
    for backend in args.backends:
        for dtype in args.dtypes:
            for head_dim in args.head_dims:
                for seq in args.seqs:
                    for causal in causal_values:
                        r = run_case(args, backend, dtype, seq, head_dim, causal, device)
                        report["results"].append(r)
                        if args.json:
                            write_json(args.json, report)
                        if unsupported_reason(backend, dtype):
                            # Listed once after the table, not as one row per shape.
                            unsupported[r["note"]] = unsupported.get(r["note"], 0) + 1
                            continue
                        mark = ""
                        if r["note"]:
                            if r["note"] not in notes:
                                notes.append(r["note"])
                            mark = "[%d]" % (notes.index(r["note"]) + 1)
                        print(row(r, mark))
                        sys.stdout.flush()
    if notes or unsupported:
        print()
    for i, n in enumerate(notes):
        print("[%d] %s" % (i + 1, n))
    for n, count in unsupported.items():
        print("not run (%d case%s): %s" % (count, "" if count == 1 else "s", n))
    if args.json:
        write_json(args.json, report)
        print("\nwrote %s" % args.json)
    failed = sum(1 for r in report["results"] if r["status"] == "error")
    if failed:
        print("error: %d case(s) failed (see the notes above)" % failed, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
