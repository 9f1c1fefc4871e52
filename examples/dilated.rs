//! LongNet dilated attention next to dense attention: the same inputs, both modes,
//! a check against the f64 definition, and the time each takes.
//!
//! Run with `cargo run --release --example dilated`. Defaults are small enough for a CPU
//! adapter; on a GPU try `DILATED_N=65536 DILATED_PAIRS=2048,4096,8192,16384:1,2,4,8
//! DILATED_DTYPE=f16`.
//!
//! Environment: `DILATED_N` (2048), `DILATED_PAIRS` (`256,512,1024:1,2,4`),
//! `DILATED_HEADS` (8), `DILATED_D` (64), `DILATED_DTYPE` (f32), `DILATED_CAUSAL` (1),
//! `DILATED_REPS` (2).
//!
//! Times are wall-clock medians of whole calls after a warm-up (gathers, attention,
//! scatters/merges and the final wait), on the default adapter.

use std::time::Instant;

use ringattn::dilated::{self, DilatedAttention, DilatedMode, DilatedOptions, Dilation};
use ringattn::timing::median;
use ringattn::{reference, Attention, AttentionOptions, Dtype, GpuContext, GpuTensor, Shape};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Median wall time of `reps` calls of `f` after one warm-up call.
fn time(ctx: &GpuContext, reps: usize, mut f: impl FnMut() -> ringattn::Result<()>) -> ringattn::Result<f64> {
    f()?;
    ctx.wait()?;
    let mut ts = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        f()?;
        ctx.wait()?;
        ts.push(t.elapsed().as_secs_f64());
    }
    Ok(median(&ts))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = env_or("DILATED_N", 2048);
    let pairs: Dilation = env_or("DILATED_PAIRS", String::from("256,512,1024:1,2,4")).parse()?;
    let heads: usize = env_or("DILATED_HEADS", 8);
    let d: usize = env_or("DILATED_D", 64);
    let dtype: Dtype = env_or("DILATED_DTYPE", Dtype::F32);
    let causal = env_or("DILATED_CAUSAL", 1u32) != 0;
    let reps: usize = env_or("DILATED_REPS", 2);

    let ctx = GpuContext::new()?;
    println!("adapter : {}", ctx.describe());
    let shape = Shape::new(1, n, heads, d);
    println!("problem : {shape:?}, {dtype:?}, causal={causal}, pairs {pairs}");
    let seed = reference::fresh_seed();
    let upload = |s: u64| GpuTensor::from_f32(&ctx, &reference::random_vec(shape.q_len(), s), shape.q_dims(), dtype);
    let (q, k, v) = (upload(seed)?, upload(seed ^ 1)?, upload(seed ^ 2)?);
    // The values the GPU holds (f16 rounds), for the reference.
    let (qh, kh, vh) = (q.to_f32_vec(&ctx)?, k.to_f32_vec(&ctx)?, v.to_f32_vec(&ctx)?);
    let attention = AttentionOptions { causal, ..Default::default() };

    let dense = Attention::new(&ctx, attention);
    let out = dense.alloc_output(&q, &k, &v)?;
    let t_dense = time(&ctx, reps, || dense.forward_into(&q, &k, &v, &out.o, &out.lse))?;
    println!("\n| attention | time | vs dense | rel error (32 rows vs f64) |");
    println!("|---|---|---|---|");
    println!("| dense | {:.3} ms | 1.00x | |", t_dense * 1e3);

    let rows: Vec<usize> = (0..32).map(|i| i * (n - 1) / 31).collect();
    for mode in [DilatedMode::HeadGroups, DilatedMode::Mixture] {
        let opts = DilatedOptions { dilation: pairs.clone(), mode, attention };
        let attn = DilatedAttention::new(&ctx, opts.clone())?;
        let t = time(&ctx, reps, || attn.forward_into(&q, &k, &v, &out.o, &out.lse))?;
        let r = dilated::reference(&qh, &kh, &vh, &shape, &opts, &rows)?;
        let err = reference::rel_error(&reference::select_rows(&out.o.to_f32_vec(&ctx)?, shape.q_dims(), &rows), &r.o);
        println!("| dilated {mode:?} | {:.3} ms | {:.2}x | {err:.2e} |", t * 1e3, t_dense / t);
    }
    Ok(())
}
