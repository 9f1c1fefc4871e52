#!/usr/bin/env python3
"""Times the replaced Python system's ring attention classes at the settings of
`ringattn bench compare` / `memory`, on the same card, and writes the same results
schema ("ringattn-bench/1"), so

    ringattn report ringattn-compare.json old-compare.json

puts the two side by side (cases are matched on suite, preset, dtype, shape, mask
and devices).

The replaced system is the `dilated_attention_pytorch` package (its classes
StandardRingAttention, DistributedRingAttention, HilbertRingAttention and
RingBlockSparseAttention, configured with RingAttentionConfig). When it is not
importable the script says so, writes every case as skipped with that reason (if
--json is given) and exits 0: there is nothing to compare against on this machine.

Settings of the old benchmarks (defaults here): batch 2, 8 heads, head_dim 64,
seq 1024..8192, segment lengths [512, 1024, 2048] (capped at N) with dilation rates
[1, 2, 4], BlockSparse with sparsity_ratio=0.1 and pattern "dilated_sparse", fp16;
the memory suite uses batch 1.

Times: GPU time from CUDA events around one forward call (median of --reps after
--warmup), wall time of launch + synchronize. Memory: torch's peak allocated bytes
during the call minus what was allocated before the inputs, so inputs and outputs
count, as in ringattn's accounting. FLOPs: 4*B*H*N*N*D, halved when causal, as in
ringattn (the old classes do more work than that: they build the full score matrix).

    python3 benches/python/old_ring_baseline.py --suite compare --seqs 1024,2048,4096,8192 --json old.json
"""

import argparse
import datetime
import importlib
import json
import statistics
import subprocess
import sys
import time

SCHEMA = "ringattn-bench/1"
# Preset name in ringattn -> class name in the old package.
CLASSES = {
    "Standard": "StandardRingAttention",
    "Distributed": "DistributedRingAttention",
    "Hilbert": "HilbertRingAttention",
    "BlockSparse": "RingBlockSparseAttention",
}
PACKAGE = "dilated_attention_pytorch"


def int_list(s):
    try:
        v = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("need positive integers, got %r" % s)
    if not v or any(x <= 0 for x in v):
        raise argparse.ArgumentTypeError("need positive integers, got %r" % s)
    return v


def preset_list(s):
    out = []
    for x in s.split(","):
        x = x.strip()
        if not x:
            continue
        match = [k for k in CLASSES if k.lower() == x.lower()]
        if not match:
            raise argparse.ArgumentTypeError("unknown preset %r (choose from %s)" % (x, ", ".join(CLASSES)))
        out.append(match[0])
    if not out:
        raise argparse.ArgumentTypeError("empty list")
    return out


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", choices=("compare", "memory"), default="compare",
                   help="compare: batch 2 (default); memory: batch 1 (the old memory scaling settings)")
    p.add_argument("--presets", type=preset_list, default=list(CLASSES), help="Standard,Distributed,Hilbert,BlockSparse (default: all)")
    p.add_argument("--seqs", type=int_list, default=[1024, 2048, 4096, 8192], help="sequence lengths (default: 1024,2048,4096,8192)")
    p.add_argument("--batch", type=int, default=None, help="default: 2 for compare, 1 for memory")
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--dtype", choices=("f16", "f32"), default="f16")
    p.add_argument("--causal", choices=("both", "on", "off"), default="off")
    p.add_argument("--segments", type=int_list, default=[512, 1024, 2048], help="segment lengths (capped at N)")
    p.add_argument("--rates", type=int_list, default=[1, 2, 4], help="dilation rates")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--max-seconds", type=float, default=None, help="per-case budget; remaining reps are skipped once spent")
    p.add_argument("--device", default="cuda")
    p.add_argument("--json", default=None, metavar="OUT.json")
    a = p.parse_args()
    if a.batch is None:
        a.batch = 2 if a.suite == "compare" else 1
    if a.batch <= 0 or a.heads <= 0 or a.head_dim <= 0 or a.reps <= 0:
        p.error("--batch, --heads, --head-dim and --reps must be positive")
    return a


def now_report(args, adapter, version, note=None):
    now = int(time.time())
    return {
        "schema": SCHEMA,
        "implementation": PACKAGE,
        "version": version,
        "unix_time": now,
        "date": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "adapter": adapter,
        "warmup": args.warmup,
        "reps": args.reps,
        "max_seconds": args.max_seconds,
        "results": [],
        "git_commit": None,
        "suites": [args.suite],
        "settings": {k: v for k, v in vars(args).items() if k != "json"} | ({"note": note} if note else {}),
        "devices": [],
        "complete": False,
    }


def new_result(args, preset, seq, causal):
    flops = 4.0 * args.batch * args.heads * seq * seq * args.head_dim / (2.0 if causal else 1.0)
    return {
        "implementation": PACKAGE,
        "tier": CLASSES[preset],
        "tier_requested": CLASSES[preset],
        "dtype": args.dtype,
        "batch": args.batch,
        "seq": seq,
        "heads": args.heads,
        "head_dim": args.head_dim,
        "causal": causal,
        "status": "skipped",
        "note": None,
        "warmup_runs": 0,
        "reps_requested": args.reps,
        "reps": 0,
        "input_sets": 1,
        "gpu_ms_median": None, "gpu_ms_min": None, "gpu_ms_max": None,
        "wall_ms_median": None, "wall_ms_min": None, "wall_ms_max": None,
        "flops": flops,
        "tflops": None,
        "tokens_per_s": None,
        "time_source": None,
        "gpu_ms": [],
        "wall_ms": [],
        "suite": args.suite,
        "preset": preset,
        "kv_heads": args.heads,
        "devices": 1,
        "placement": None,
        "peak_bytes": None,
        "peak_bytes_total": None,
        "bytes_per_token": None,
        "bytes_moved": None,
        "transport_gbps": None,
        "check": None,
        "density": None,
        "mask_block": None,
    }


def write_json(path, report):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    import os
    os.replace(tmp, path)


def cases(args):
    causal_values = {"both": [False, True], "on": [True], "off": [False]}[args.causal]
    for seq in args.seqs:
        for causal in causal_values:
            for preset in args.presets:
                yield preset, seq, causal


def skip_all(args, reason):
    """The package (or torch, or CUDA) is missing: every case skipped with the reason."""
    print("skipped: %s" % reason, file=sys.stderr)
    if args.json:
        adapter = {"name": "unknown", "backend": "cuda", "device_type": "Other", "driver": "unknown", "driver_info": "",
                   "vendor": 0, "device": 0, "timestamp_query": False, "shader_f16": False, "subgroup": False, "tiers": []}
        report = now_report(args, adapter, "%s (not importable)" % PACKAGE, note=reason)
        for preset, seq, causal in cases(args):
            r = new_result(args, preset, seq, causal)
            r["note"] = reason
            report["results"].append(r)
        report["complete"] = True
        write_json(args.json, report)
        print("wrote %s (every case skipped)" % args.json)
    return 0


def main():
    args = parse_args()
    try:
        import torch
    except ImportError as e:
        return skip_all(args, "torch is not importable (%s)" % e)
    try:
        pkg = importlib.import_module(PACKAGE)
    except Exception as e:  # ImportError, or the package failing at import time
        return skip_all(args, "the replaced system (%s) is not importable here: %s: %s" % (PACKAGE, type(e).__name__, e))
    if not torch.cuda.is_available():
        return skip_all(args, "CUDA is not available to torch %s" % torch.__version__)
    config_cls = getattr(pkg, "RingAttentionConfig", None)
    if config_cls is None:
        return skip_all(args, "the installed %s %s has no RingAttentionConfig: it is not the replaced system's version "
                              "(the one with the ring attention classes)" % (PACKAGE, getattr(pkg, "__version__", "?")))

    device = torch.device(args.device)
    if device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    torch.cuda.set_device(device)
    dtype = {"f16": torch.float16, "f32": torch.float32}[args.dtype]
    props = torch.cuda.get_device_properties(device)
    try:
        drv = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=False).stdout.strip().splitlines()
        driver = drv[0].strip() if drv else "unknown"
    except (OSError, subprocess.SubprocessError):
        driver = "unknown"
    adapter = {
        "name": props.name, "backend": "cuda", "device_type": "DiscreteGpu", "driver": driver,
        "driver_info": "torch %s, CUDA %s, %s %s" % (torch.__version__, torch.version.cuda, PACKAGE, getattr(pkg, "__version__", "?")),
        "vendor": 0x10DE, "device": 0, "timestamp_query": True, "shader_f16": True, "subgroup": True,
        "tiers": [CLASSES[p] for p in args.presets],
    }
    report = now_report(args, adapter, "%s %s" % (PACKAGE, getattr(pkg, "__version__", "?")))
    print("adapter: %s | driver %s | torch %s | %s %s | suite %s, batch %d, heads %d, head_dim %d, %s"
          % (props.name, driver, torch.__version__, PACKAGE, getattr(pkg, "__version__", "?"), args.suite, args.batch,
             args.heads, args.head_dim, args.dtype))
    print()
    print("| preset | class | N | causal | GPU ms | tokens/s | peak MiB | note |")
    print("|---|---|---:|---|---:|---:|---:|---|")
    sys.stdout.flush()

    failed = 0
    for preset, seq, causal in cases(args):
        r = new_result(args, preset, seq, causal)
        cls = getattr(pkg, CLASSES[preset], None)
        model = q = k = v = None
        try:
            if cls is None:
                raise LookupError("%s has no class %s" % (PACKAGE, CLASSES[preset]))
            config = config_cls(segment_lengths=[min(s, seq) for s in args.segments], dilation_rates=args.rates, dropout=0.0)
            if preset == "BlockSparse":
                model = cls(config=config, sparsity_ratio=0.1, pattern_type="dilated_sparse", device=device, dtype=dtype)
            else:
                model = cls(config=config, device=device, dtype=dtype)
            model.eval()
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
            base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            shape = (args.batch, seq, args.heads, args.head_dim)
            q = torch.randn(shape, device=device, dtype=dtype)
            k = torch.randn(shape, device=device, dtype=dtype)
            v = torch.randn(shape, device=device, dtype=dtype)

            def call():
                if causal:
                    return model(q, k, v, is_causal=True)
                return model(q, k, v)

            start = time.perf_counter()

            def over():
                return args.max_seconds is not None and time.perf_counter() - start >= args.max_seconds

            with torch.no_grad():
                warm = 0
                while warm < max(1, args.warmup) and not (warm > 0 and over()):
                    call()
                    torch.cuda.synchronize(device)
                    warm += 1
                r["warmup_runs"] = warm
                gpu, wall = [], []
                ev0 = torch.cuda.Event(enable_timing=True)
                ev1 = torch.cuda.Event(enable_timing=True)
                for i in range(args.reps):
                    if i > 0 and over():
                        break
                    torch.cuda.synchronize(device)
                    t0 = time.perf_counter()
                    ev0.record()
                    o = call()
                    ev1.record()
                    ev1.synchronize()
                    wall.append((time.perf_counter() - t0) * 1e3)
                    gpu.append(ev0.elapsed_time(ev1))
                    del o
            peak = torch.cuda.max_memory_allocated(device) - base
            r.update({
                "status": "ok", "reps": len(gpu), "gpu_ms": gpu, "wall_ms": wall,
                "gpu_ms_median": statistics.median(gpu), "gpu_ms_min": min(gpu), "gpu_ms_max": max(gpu),
                "wall_ms_median": statistics.median(wall), "wall_ms_min": min(wall), "wall_ms_max": max(wall),
                "time_source": "gpu", "peak_bytes": peak, "peak_bytes_total": peak,
                "bytes_per_token": peak / (args.batch * seq),
            })
            t = r["gpu_ms_median"] * 1e-3
            if t > 0:
                r["tflops"] = r["flops"] / t / 1e12
                r["tokens_per_s"] = args.batch * seq / t
            if r["reps"] < args.reps:
                r["note"] = "%d of %d reps ran (--max-seconds budget spent)" % (r["reps"], args.reps)
        except Exception as e:  # the old classes fail in many ways; each is recorded
            msg = (str(e).splitlines() or [repr(e)])[0]
            if isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in msg.lower():
                r["note"] = "out of memory: %s" % msg
            else:
                r["status"] = "error"
                r["note"] = "%s: %s" % (type(e).__name__, msg)
                failed += 1
        finally:
            del model, q, k, v
            torch.cuda.empty_cache()
        report["results"].append(r)
        if args.json:
            write_json(args.json, report)
        ms = "%.3g" % r["gpu_ms_median"] if r["gpu_ms_median"] else r["status"]
        tps = "%.3g" % r["tokens_per_s"] if r["tokens_per_s"] else "-"
        mib = "%.1f" % (r["peak_bytes"] / 2**20) if r["peak_bytes"] is not None else "-"
        print("| %s | %s | %d | %s | %s | %s | %s | %s |" % (preset, CLASSES[preset], seq, "yes" if causal else "no", ms, tps, mib,
                                                          (r["note"] or "").replace("|", "\\|")))
        sys.stdout.flush()
    report["complete"] = True
    if args.json:
        write_json(args.json, report)
        print("\nwrote %s" % args.json)
    if failed:
        print("%d case(s) raised errors in the old classes (recorded in the notes)" % failed, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
