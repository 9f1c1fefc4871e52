//! Decode-shaped attention: a few query rows (one new token per sequence) against a long
//! K/V cache, the step an LLM repeats for every generated token. GPU time (timestamp
//! queries, median of `--reps` after a warm-up), the K/V bandwidth it reaches, the wall
//! time per call of calls submitted back to back and the host's time to record one call,
//! for the automatic key split and for each count in `--splits`.
//!
//! ```text
//! cargo run --release --example decode -- --kv-lens 4096,16384,65536 --heads 32 --kv-heads 8
//! ```
//!
//! A launch with one query row per (batch, head) has few workgroups: each walks the whole
//! cache alone unless its keys are split into parts that run side by side and are merged
//! by their log-sum-exp (`Attention::with_key_splits`; flash-decoding). With grouped K/V
//! heads, one workgroup runs every query head of a K/V head as its rows, so each K/V
//! tile is read once for them all (`flash::gqa_fold`, the "heads per workgroup" column;
//! `RINGATTN_GQA_PACK=0` turns it off). With `--check` every output row is compared with
//! the f64 reference.

use clap::Parser;
use ringattn::timing::time_attention;
use ringattn::{reference, Attention, AttentionOptions, Dtype, GpuContext, GpuTensor, Shape, Tier};

#[derive(Parser, Debug)]
struct Args {
    /// K/V cache lengths [default: 4096,16384,65536 on a GPU, 1024 on a CPU adapter].
    #[arg(long, value_delimiter = ',')]
    kv_lens: Option<Vec<usize>>,
    /// Query rows per sequence (1: one new token).
    #[arg(long, default_value_t = 1)]
    queries: usize,
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[arg(long, default_value_t = 32)]
    heads: usize,
    /// K/V heads (fewer than --heads: grouped-query attention).
    #[arg(long, default_value_t = 8)]
    kv_heads: usize,
    #[arg(long, default_value_t = 128)]
    head_dim: usize,
    #[arg(long, default_value = "f16")]
    dtype: Dtype,
    /// Kernel tier (default: the adapter's best for the dtype).
    #[arg(long)]
    tier: Option<Tier>,
    /// Key-split counts to time besides the automatic one (`--splits 1,8,32`).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 8, 32])]
    splits: Vec<usize>,
    /// Timed runs per case [default: 20 on a GPU, 2 on a CPU adapter].
    #[arg(long)]
    reps: Option<usize>,
    /// Seconds of attention on the GPU before anything is timed (CPU adapters never).
    #[arg(long, default_value_t = 2.0)]
    preheat: f64,
    /// Seconds of attention on the GPU before each case's warm-up (0: none): an idle GPU
    /// drops its clock between cases.
    #[arg(long, default_value_t = 0.3)]
    reheat: f64,
    /// Compare every output row with the f64 reference.
    #[arg(long)]
    check: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let ctx = GpuContext::new()?;
    let cpu = ctx.info().device_type == wgpu::DeviceType::Cpu;
    let kv_lens = a.kv_lens.clone().unwrap_or_else(|| if cpu { vec![1024] } else { vec![4096, 16384, 65536] });
    let reps = a.reps.unwrap_or(if cpu { 2 } else { 20 });
    println!("adapter: {}", ctx.describe());
    println!(
        "batch {}, heads {} (K/V heads {}), head_dim {}, {} query row(s) per sequence, {:?}, median of {reps}\n",
        a.batch, a.heads, a.kv_heads, a.head_dim, a.queries, a.dtype
    );
    println!(
        "| K/V length | key parts | tier | tiles | heads per workgroup | GPU ms | K/V GB/s | wall ms per call | host encode us | check (rel err O) |"
    );
    println!("|---:|---:|---|---|---:|---:|---:|---:|---:|---|");
    ringattn::bench::preheat(&[&ctx], a.preheat)?;
    for &n in &kv_lens {
        let shape = Shape::new(a.batch, a.queries, a.heads, a.head_dim).with_seq_k(n).with_kv_heads(a.kv_heads);
        shape.validate()?;
        let q = reference::random_vec(shape.q_len(), 1);
        let k = reference::random_vec(shape.kv_len(), 2);
        let v = reference::random_vec(shape.kv_len(), 3);
        let (qt, kt, vt) = (
            GpuTensor::from_f32(&ctx, &q, shape.q_dims(), a.dtype)?,
            GpuTensor::from_f32(&ctx, &k, shape.kv_dims(), a.dtype)?,
            GpuTensor::from_f32(&ctx, &v, shape.kv_dims(), a.dtype)?,
        );
        let kv_bytes = (2 * shape.kv_len()) as f64 * a.dtype.size() as f64;
        let opts = AttentionOptions { tier: a.tier, ..AttentionOptions::default() };
        // The f64 reference, once per cache length (every split count must match it).
        let round = |x: &[f32]| a.dtype.round(x.to_vec());
        let want = a.check.then(|| reference::attention(&round(&q), &round(&k), &round(&v), &shape, false, None));
        // The automatic configuration on these tensors for --reheat seconds first (2 s at
        // least after the reference, seconds of CPU work with the GPU idle): on an H200
        // the first case timed at 65536 keys otherwise read up to 3x slow, with --check
        // only (BENCHMARKS.md, thirty-first and thirty-third sessions).
        let warm = Attention::new(&ctx, opts);
        let warm_out = warm.alloc_output(&qt, &kt, &vt)?;
        let reheat = if a.check { a.reheat.max(2.0) } else { a.reheat };
        let t0 = std::time::Instant::now();
        while !cpu && t0.elapsed().as_secs_f64() < reheat {
            warm.forward_into(&qt, &kt, &vt, &warm_out.o, &warm_out.lse)?;
            ctx.wait()?;
        }
        for split in std::iter::once(None).chain(a.splits.iter().map(|&s| Some(s))) {
            let attn = Attention::new(&ctx, opts).with_key_splits(split);
            let (tier, tiles, parts) = attn.plan(a.dtype, &shape, None)?;
            let out = attn.alloc_output(&qt, &kt, &vt)?;
            // Warm-up: the first call builds the pipelines; then the GPU's clock is raised.
            time_attention(&attn, &qt, &kt, &vt, &out, 1)?;
            ringattn::bench::preheat(&[&ctx], a.reheat)?;
            time_attention(&attn, &qt, &kt, &vt, &out, 3)?;
            let s = time_attention(&attn, &qt, &kt, &vt, &out, reps)?.ok_or("this adapter has no timestamp queries")?;
            // Wall time per call of `reps` calls submitted back to back (the host's encoding
            // and submission included where they take longer than the GPU's work).
            let t0 = std::time::Instant::now();
            for _ in 0..reps {
                attn.forward_into(&qt, &kt, &vt, &out.o, &out.lse)?;
            }
            ctx.wait()?;
            let wall = t0.elapsed().as_secs_f64() / reps as f64;
            // The host's share: recording one call into a command encoder (median of
            // `reps`; nothing submitted).
            let mut enc_us: Vec<f64> = (0..reps)
                .map(|_| {
                    let mut enc = ctx.device().create_command_encoder(&Default::default());
                    let t0 = std::time::Instant::now();
                    attn.encode_with(&mut enc, &qt, &kt, &vt, &out.o, &out.lse, None, None).map(|_| t0.elapsed().as_secs_f64() * 1e6)
                })
                .collect::<Result<_, _>>()?;
            enc_us.sort_by(f64::total_cmp);
            let encode = enc_us[enc_us.len() / 2];
            let check = match &want {
                Some(r) => format!("{:.2e}", reference::rel_error(&out.o.to_f32_vec(&ctx)?, &r.o)),
                None => "-".to_string(),
            };
            let label = match split {
                None => format!("{parts} (auto)"),
                Some(_) => parts.to_string(),
            };
            let fold = ringattn::kernels::flash::gqa_fold(&shape);
            println!(
                "| {n} | {label} | {tier} | {} | {fold} | {:.4} | {:.0} | {:.4} | {encode:.1} | {check} |",
                tiles.describe(tier),
                s * 1e3,
                kv_bytes / s / 1e9,
                wall * 1e3
            );
        }
    }
    Ok(())
}
