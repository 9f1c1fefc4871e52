//! Criterion benchmarks of ringattn's forward attention.
//!
//! Three groups per adapter:
//! * `attention_gpu_<adapter>`: GPU time from timestamp queries around the compute
//!   pass (`iter_custom` returns the sum of per-iteration GPU durations). Skipped when
//!   the adapter has no TIMESTAMP_QUERY.
//! * `attention_wall_<adapter>`: host wall time of submit + wait per iteration.
//! * `attention_call_<adapter>`: host wall time of the whole call as an application
//!   sees it (encode, submit, wait): what per-call host work (parameter buffers, bind
//!   groups) adds at small sizes.
//!
//! Throughput is tokens (batch * seq) per second. Benchmark ids are
//! `<tier>_<dtype>_d<head_dim>_<dense|causal>/<seq>`, with the tier that actually runs.
//!
//! And one decode group, `decode_gpu_<adapter>` (GPU time; wall time where the adapter
//! has no timestamp queries): one new token per sequence against a K/V cache of each
//! length in `RINGATTN_BENCH_DECODE_KV` (default `4096,16384`, `1024` on a CPU adapter;
//! empty: none), H=32 with 8 K/V heads, head_dim 128, the automatic tier, tiles and key
//! parts (GQA packing and flash-decoding, `examples/decode.rs` has the details), in
//! `RINGATTN_BENCH_DTYPES`. Ids `<tier>_<dtype>_d128_h32_kv8_decode/<K/V length>`;
//! throughput is K/V bytes read per second.
//!
//! Environment (comma-separated lists):
//! * `RINGATTN_BENCH_SEQS`      default `1024,4096` (`256` on a CPU adapter)
//! * `RINGATTN_BENCH_TIERS`     default `all` (every tier the adapter supports); also `auto`,
//!   `portable`, `subgroup`, `matrix`
//! * `RINGATTN_BENCH_DTYPES`    default `f32,f16` (`f32` on a CPU adapter); f16 needs SHADER_F16
//! * `RINGATTN_BENCH_HEAD_DIMS` default `64,128` (`64` on a CPU adapter)
//! * `RINGATTN_BENCH_CAUSAL`    default `off,on` (`off` on a CPU adapter)
//! * `RINGATTN_BENCH_BATCH`, `RINGATTN_BENCH_HEADS`: default 1 and 8
//! * `RINGATTN_ADAPTER` / `WGPU_BACKEND` pick the adapter, as everywhere in ringattn.
//!
//! ```text
//! cargo bench --bench attention
//! RINGATTN_BENCH_SEQS=16384 RINGATTN_BENCH_TIERS=subgroup cargo bench --bench attention -- causal
//! ```

use std::collections::HashSet;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use ringattn::attention::resolve_tier;
use ringattn::bench::{expand_tiers, grid, parse_list, BenchOptions, Case, TierChoice, Workload};
use ringattn::timing::GpuTimer;
use ringattn::{Dtype, GpuContext};

fn env_list<T: FromStr>(name: &str, default: &str) -> Vec<T>
where
    T::Err: Display,
{
    let s = std::env::var(name).ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| default.to_string());
    match parse_list(&s) {
        Ok(v) if !v.is_empty() => v,
        Ok(_) => panic!("{name}={s}: empty list"),
        Err(e) => panic!("{name}={s}: {e}"),
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(s) => s.trim().parse().unwrap_or_else(|e| panic!("{name}={s}: {e}")),
        Err(_) => default,
    }
}

fn env_causal(default: &str) -> Vec<bool> {
    let words: Vec<String> = env_list("RINGATTN_BENCH_CAUSAL", default);
    let mut v = Vec::new();
    for w in words {
        let add: &[bool] = match w.to_ascii_lowercase().as_str() {
            "both" => &[false, true],
            "on" | "yes" | "true" | "causal" | "1" => &[true],
            "off" | "no" | "false" | "dense" | "0" => &[false],
            o => panic!("RINGATTN_BENCH_CAUSAL: `{o}` is not on, off or both"),
        };
        for &c in add {
            if !v.contains(&c) {
                v.push(c);
            }
        }
    }
    v
}

/// Letters, digits, '-' and '.' kept; anything else becomes one '_'.
fn sanitize(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() || ch == '-' || ch == '.' {
            out.push(ch);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// (function name, parameter) of a case's benchmark id.
fn bench_id(c: &Case, tier: ringattn::Tier) -> (String, usize) {
    let mask = if c.causal { "causal" } else { "dense" };
    let b = if c.batch != 1 { format!("_b{}", c.batch) } else { String::new() };
    (format!("{tier}_{}_d{}_h{}{b}_{mask}", c.dtype.name(), c.head_dim, c.heads), c.seq)
}

#[derive(Clone, Copy, PartialEq)]
enum Clock {
    Gpu,
    Wall,
    Call,
}

fn run_group(crit: &mut Criterion, ctx: &GpuContext, cases: &[(Case, ringattn::Tier)], clock: Clock) {
    let adapter = sanitize(ctx.name());
    let name = match clock {
        Clock::Gpu => format!("attention_gpu_{adapter}"),
        Clock::Wall => format!("attention_wall_{adapter}"),
        Clock::Call => format!("attention_call_{adapter}"),
    };
    let timer = match clock {
        Clock::Gpu => match GpuTimer::new(ctx) {
            Some(t) => Some(t),
            None => {
                eprintln!("{name}: skipped, the adapter has no TIMESTAMP_QUERY (see the wall-time group)");
                return;
            }
        },
        Clock::Wall | Clock::Call => None,
    };
    let mut group = crit.benchmark_group(&name);
    group.sampling_mode(SamplingMode::Flat);
    let opts = BenchOptions::default();
    for (case, tier) in cases {
        let (func, seq) = bench_id(case, *tier);
        let label = format!("{name}/{func}/{seq}");
        let w = match Workload::new(ctx, *case, &opts).and_then(|w| {
            for _ in 0..opts.warmup.max(2) {
                w.run_once()?;
            }
            Ok(w)
        }) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("{label}: skipped: {e}");
                continue;
            }
        };
        group.throughput(Throughput::Elements(case.tokens()));
        group.bench_function(BenchmarkId::new(func, seq), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let s = w.run_timed(timer.as_ref()).unwrap_or_else(|e| panic!("{label}: {e}"));
                    let secs = match clock {
                        Clock::Gpu => s.gpu_s.unwrap_or(s.wall_s),
                        Clock::Wall => s.wall_s,
                        Clock::Call => s.call_s,
                    };
                    total += Duration::from_secs_f64(secs);
                }
                total
            })
        });
    }
    group.finish();
}

/// The decode group (see the module docs).
fn run_decode(crit: &mut Criterion, ctx: &GpuContext, dtypes: &[Dtype], kv_lens: &[usize]) {
    use ringattn::{Attention, AttentionOptions, GpuTensor, Shape};
    let timer = GpuTimer::new(ctx);
    let clock = if timer.is_some() { "gpu" } else { "wall" };
    let mut group = crit.benchmark_group(format!("decode_{clock}_{}", sanitize(ctx.name())));
    group.sampling_mode(SamplingMode::Flat);
    let attn = Attention::new(ctx, AttentionOptions::default());
    for &dtype in dtypes {
        for &n in kv_lens {
            let s = Shape::new(1, 1, 32, 128).with_seq_k(n).with_kv_heads(8);
            let made = (|| -> ringattn::Result<_> {
                let q = GpuTensor::from_f32(ctx, &ringattn::reference::random_vec(s.q_len(), 1), s.q_dims(), dtype)?;
                let k = GpuTensor::from_f32(ctx, &ringattn::reference::random_vec(s.kv_len(), 2), s.kv_dims(), dtype)?;
                let v = GpuTensor::from_f32(ctx, &ringattn::reference::random_vec(s.kv_len(), 3), s.kv_dims(), dtype)?;
                let (tier, _, parts) = attn.plan(dtype, &s, None)?;
                let out = attn.alloc_output(&q, &k, &v)?;
                attn.forward_into(&q, &k, &v, &out.o, &out.lse)?;
                ctx.wait()?;
                Ok((q, k, v, out, tier, parts))
            })();
            let (q, k, v, out, tier, parts) = match made {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("decode {} kv={n}: skipped: {e}", dtype.name());
                    continue;
                }
            };
            eprintln!("decode {} kv={n}: {tier}, {parts} key part(s)", dtype.name());
            group.throughput(Throughput::Bytes((2 * s.kv_len()) as u64 * dtype.size()));
            group.bench_function(BenchmarkId::new(format!("{tier}_{}_d128_h32_kv8_decode", dtype.name()), n), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t0 = std::time::Instant::now();
                        let mut enc = ctx.device().create_command_encoder(&Default::default());
                        attn.encode_with(&mut enc, &q, &k, &v, &out.o, &out.lse, None, timer.as_ref().map(|t| t.writes())).expect("decode encode");
                        if let Some(t) = &timer {
                            t.resolve(&mut enc);
                        }
                        ctx.queue().submit([enc.finish()]);
                        total += match &timer {
                            Some(t) => Duration::from_secs_f64(t.read_seconds(ctx).expect("decode timestamps")),
                            None => {
                                ctx.wait().expect("decode wait");
                                t0.elapsed()
                            }
                        };
                    }
                    total
                })
            });
        }
    }
    group.finish();
}

fn main() {
    let ctx = match GpuContext::new() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ringattn attention bench: no GPU context ({e}); nothing to run");
            return;
        }
    };
    let cpu = ctx.info().device_type == wgpu::DeviceType::Cpu;
    let seqs: Vec<usize> = env_list("RINGATTN_BENCH_SEQS", if cpu { "256" } else { "1024,4096" });
    let tier_choices: Vec<TierChoice> = env_list("RINGATTN_BENCH_TIERS", "all");
    let head_dims: Vec<usize> = env_list("RINGATTN_BENCH_HEAD_DIMS", if cpu { "64" } else { "64,128" });
    let causal = env_causal(if cpu { "off" } else { "off,on" });
    let batch = env_usize("RINGATTN_BENCH_BATCH", 1);
    let heads = env_usize("RINGATTN_BENCH_HEADS", 8);
    let explicit_dtypes = std::env::var("RINGATTN_BENCH_DTYPES").is_ok();
    let mut dtypes: Vec<Dtype> = env_list("RINGATTN_BENCH_DTYPES", if cpu { "f32" } else { "f32,f16" });
    if !ctx.capabilities().shader_f16 && dtypes.contains(&Dtype::F16) {
        if explicit_dtypes {
            eprintln!("f16 skipped: {} lacks SHADER_F16", ctx.name());
        }
        dtypes.retain(|&d| d != Dtype::F16);
    }

    // Resolve tiers once; a requested tier that falls back onto a kernel another case
    // already measures is not benchmarked twice.
    let tiers = expand_tiers(&ctx, &tier_choices);
    let mut seen = HashSet::new();
    let mut cases = Vec::new();
    let mut all = grid(&tiers, &dtypes, &head_dims, &seqs, &causal, batch, heads);
    // Exact requests first, so a fallback never takes the place of the real tier.
    all.sort_by_key(|c| c.tier.is_none_or(|t| resolve_tier(&ctx, Some(t), c.dtype, c.head_dim).ok() != Some(t)));
    for c in all {
        match resolve_tier(&ctx, c.tier, c.dtype, c.head_dim) {
            Ok(t) => {
                if seen.insert((t, c.dtype, c.head_dim, c.seq, c.causal)) {
                    cases.push((c, t));
                } else if let Some(req) = c.tier.filter(|&r| r != t) {
                    eprintln!("{req} {} d{} N={}: falls back to {t}, measured there", c.dtype.name(), c.head_dim, c.seq);
                }
            }
            Err(e) => eprintln!("{} d{}: skipped: {e}", c.dtype.name(), c.head_dim),
        }
    }
    cases.sort_by_key(|(c, t)| (std::cmp::Reverse(*t), c.dtype.name(), c.head_dim, c.causal, c.seq));
    eprintln!("adapter: {}{}", ctx.describe(), if cpu { " (CPU adapter: small defaults)" } else { "" });

    // Defaults sized for GPU time in minutes, not hours; criterion's own flags
    // (--sample-size, --measurement-time, --warm-up-time) still override them.
    let base = if cpu {
        Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
    } else {
        Criterion::default().sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
    };
    let mut crit = base.configure_from_args();
    run_group(&mut crit, &ctx, &cases, Clock::Gpu);
    run_group(&mut crit, &ctx, &cases, Clock::Wall);
    run_group(&mut crit, &ctx, &cases, Clock::Call);
    let decode_kv: Vec<usize> = match std::env::var("RINGATTN_BENCH_DECODE_KV") {
        Ok(v) if v.trim().is_empty() => Vec::new(),
        _ => env_list("RINGATTN_BENCH_DECODE_KV", if cpu { "1024" } else { "4096,16384" }),
    };
    run_decode(&mut crit, &ctx, &dtypes, &decode_kv);
    crit.final_summary();
}
