//! Quickstart: exact attention on whatever GPU wgpu finds.
//!
//! Run with `cargo run --release --example quickstart`. It
//! 1. creates a [`GpuContext`] on the preferred adapter (`RINGATTN_ADAPTER` picks another),
//! 2. uploads random Q, K, V of shape (batch 1, 4096 tokens, 8 heads, head_dim 64),
//! 3. runs attention (the tier is chosen from the adapter's capabilities),
//! 4. checks a sample of rows against the f64 CPU reference and prints the error.
//!
//! Environment: `QUICKSTART_N` changes the sequence length, `QUICKSTART_DTYPE=f16`
//! the storage type, `QUICKSTART_CAUSAL=1` turns on the causal mask.

use std::time::Instant;

use ringattn::{reference, Attention, AttentionOptions, Dtype, GpuContext, GpuTensor, Shape};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. A context on the preferred adapter, with the features and limits ringattn needs.
    let ctx = GpuContext::new()?;
    println!("adapter : {}", ctx.describe());

    // 2. The problem: Q (b, n, h, d); K, V (b, m, kv_heads, d); here self-attention.
    let n: usize = env_or("QUICKSTART_N", 4096);
    let dtype: Dtype = env_or("QUICKSTART_DTYPE", Dtype::F32);
    let causal = env_or("QUICKSTART_CAUSAL", 0u32) != 0;
    let d: usize = env_or("QUICKSTART_D", 64);
    let shape = Shape::new(1, n, 8, d);
    let seed = reference::fresh_seed();
    let q = reference::random_vec(shape.q_len(), seed);
    let k = reference::random_vec(shape.kv_len(), seed ^ 1);
    let v = reference::random_vec(shape.kv_len(), seed ^ 2);
    let qt = GpuTensor::from_f32(&ctx, &q, shape.q_dims(), dtype)?;
    let kt = GpuTensor::from_f32(&ctx, &k, shape.kv_dims(), dtype)?;
    let vt = GpuTensor::from_f32(&ctx, &v, shape.kv_dims(), dtype)?;

    // 3. Attention. The tier (matrix > subgroup > portable) follows the adapter;
    //    `prepare` compiles the pipeline up front so the timed run is only the run.
    let attn = Attention::new(&ctx, AttentionOptions { causal, ..Default::default() });
    let tier = attn.prepare(dtype, shape.head_dim)?;
    println!("tier    : {tier}");
    // The tiles for this shape, and the key parts a call runs in (the subgroup tier splits
    // small grids and causal launches on GPUs, merging the parts by LSE).
    let (_, tiles, parts) = attn.plan(dtype, &shape, None)?;
    let split = if parts > 1 { format!(", keys in {parts} parts") } else { String::new() };
    println!("tiles   : {}{split}", tiles.describe(tier));
    println!("problem : {shape:?}, {dtype:?}, causal={causal}");
    let out = attn.alloc_output(&qt, &kt, &vt)?;
    // One run, with GPU timestamps around the compute pass when the adapter has them.
    let timer = ringattn::timing::GpuTimer::new(&ctx);
    let t0 = Instant::now();
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    attn.encode(&mut enc, &qt, &kt, &vt, &out.o, &out.lse, timer.as_ref().map(|t| t.writes()))?;
    if let Some(t) = &timer {
        t.resolve(&mut enc);
    }
    ctx.queue().submit([enc.finish()]);
    ctx.wait()?;
    let wall = t0.elapsed().as_secs_f64();
    let gpu = match &timer {
        Some(t) => Some(t.read_seconds(&ctx)?),
        None => None,
    };

    // 4. Check a sample of rows (first, last and a spread in between) in f64.
    let o = out.o.to_f32_vec(&ctx)?;
    let lse = out.lse.to_vec(&ctx)?;
    let rows: Vec<usize> = (0..32).map(|i| i * (n - 1) / 31).collect();
    let diag = shape.seq_k as i64 - shape.seq_q as i64;
    // Compare against the values the GPU actually saw (f16 inputs are rounded).
    let (q, k, v) = if dtype == Dtype::F16 { (qt.to_f32_vec(&ctx)?, kt.to_f32_vec(&ctx)?, vt.to_f32_vec(&ctx)?) } else { (q, k, v) };
    let r = reference::attention_rows(&q, &k, &v, &shape, None, &rows, |_, _, i, j| !causal || j as i64 <= i as i64 + diag);
    let err = reference::rel_error(&reference::select_rows(&o, shape.q_dims(), &rows), &r.o);
    let lse_err = reference::lse_max_abs_error(&reference::select_lse_rows(&lse, shape.lse_dims(), &rows), &r.lse);

    let flops = shape.flops(causal);
    match gpu {
        Some(g) => println!("gpu time: {:.3} ms ({:.2} TFLOP/s), wall {:.3} ms", g * 1e3, flops / g / 1e12, wall * 1e3),
        None => println!("gpu time: n/a (no TIMESTAMP_QUERY), wall {:.3} ms ({:.2} TFLOP/s)", wall * 1e3, flops / wall / 1e12),
    }
    println!("check   : {} rows vs f64 reference: rel error {err:.3e}, max |lse err| {lse_err:.3e}", rows.len());
    let tol = if dtype == Dtype::F32 { 1e-5 } else { 5e-3 };
    if !reference::within(err, tol) {
        return Err(format!("relative error {err:.3e} over tolerance {tol:e}").into());
    }
    println!("ok");
    Ok(())
}
