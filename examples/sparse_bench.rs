//! Block-sparse benchmark: GPU time (timestamp queries, median of `--reps` after a
//! warm-up) of masked attention against dense attention on the same inputs.
//!
//! ```text
//! cargo run --release --example sparse_bench -- --seqs 16384,65536 --dtype f16
//! ```
//!
//! For each N it times: dense; random block masks at each `--densities` value
//! (time and speedup vs dense, with the mask's actual density; with `--even-rows` also
//! one with the same number of key blocks in every row); every block as a mask
//! (the mask walk's own cost); causal through the
//! built-in causal path and expressed as a BlockMask; a causal sliding window of
//! `--window` tokens; and (with `--check`) compares a sample of rows of every masked
//! run with the f64 reference. Output: a Markdown table on stdout, with each run's query
//! tile (rows per workgroup: taller than a block where the mask's rows merge,
//! `BlockMask::tall_factor`; `RINGATTN_TALL_ROWS=0` turns that off).

use clap::Parser;
use ringattn::mask::{BlockMask, Pattern};
use ringattn::timing::time_attention_with;
use ringattn::{reference, Attention, AttentionOptions, Dtype, GpuBlockMask, GpuContext, GpuTensor, Shape, Tier};

#[derive(Parser, Debug)]
struct Args {
    /// Sequence lengths [default: 4096 on a GPU, 512 on a CPU adapter such as lavapipe].
    #[arg(long, value_delimiter = ',')]
    seqs: Option<Vec<usize>>,
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[arg(long, default_value_t = 8)]
    heads: usize,
    #[arg(long, default_value_t = 64)]
    head_dim: usize,
    #[arg(long, default_value = "f16")]
    dtype: Dtype,
    /// Kernel tier (default: the adapter's best for the dtype).
    #[arg(long)]
    tier: Option<Tier>,
    /// Mask block size in tokens [default: 128 on a GPU, 32 on a CPU adapter].
    #[arg(long)]
    block: Option<usize>,
    /// Target densities of the random masks.
    #[arg(long, value_delimiter = ',', default_values_t = vec![0.5, 0.25, 0.1, 0.05])]
    densities: Vec<f64>,
    /// Sliding-window length (causal window: each query sees the previous W keys)
    /// [default: 4096, at most a quarter of N].
    #[arg(long)]
    window: Option<usize>,
    /// Timed runs per case [default: 10 on a GPU, 2 on a CPU adapter].
    #[arg(long)]
    reps: Option<usize>,
    /// Check 64 rows of every masked run against the f64 reference.
    #[arg(long)]
    check: bool,
    /// Seconds of attention on the GPU before anything is timed (0: none; CPU adapters
    /// never): an idle GPU starts at a low clock.
    #[arg(long, default_value_t = 2.0)]
    preheat: f64,
    /// Seconds of attention on the GPU before each case's warm-up (0: none): the GPU
    /// idles while the host builds the case's mask and checks the previous one, and
    /// drops its clock (BENCHMARKS.md, twenty-sixth session; one run with 0.3 s read a
    /// case 2.9x slow, so the default leaves a margin).
    #[arg(long, default_value_t = 0.5)]
    reheat: f64,
    /// Also time, at each density, a random mask with the same number of key blocks in
    /// every row (random masks' rows vary: the longest ones end the launch late).
    #[arg(long)]
    even_rows: bool,
}

/// Random key blocks, round(density x key blocks) of them in every query block's row
/// (a partial Fisher-Yates shuffle per row, xorshift64*).
fn even_rows(density: f64, n: usize, block: usize) -> Pattern {
    let nb = n.div_ceil(block);
    let per_row = ((density * nb as f64).round() as usize).min(nb);
    let mut keep = vec![false; nb * nb];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |bound: usize| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as usize % bound
    };
    for r in 0..nb {
        let mut cols: Vec<usize> = (0..nb).collect();
        for i in 0..per_row {
            let j = i + next(nb - i);
            cols.swap(i, j);
            keep[r * nb + cols[i]] = true;
        }
    }
    Pattern::blocks(nb, nb, keep)
}

struct Row {
    name: String,
    density: f64,
    /// Query rows per workgroup (taller over a mask's merged rows).
    tile: u32,
    ms: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let ctx = GpuContext::new()?;
    println!("adapter: {}", ctx.describe());
    if !ctx.capabilities().timestamp_query {
        return Err("the adapter has no timestamp queries".into());
    }
    let cpu = ctx.info().device_type == wgpu::DeviceType::Cpu;
    let seqs = a.seqs.clone().unwrap_or_else(|| vec![if cpu { 512 } else { 4096 }]);
    let reps = a.reps.unwrap_or(if cpu { 2 } else { 10 });
    let block = a.block.unwrap_or(if cpu { 32 } else { 128 });
    if cpu && a.seqs.is_none() {
        println!("note: a CPU adapter: N = 512 by default (--seqs for more)");
    }
    ringattn::bench::preheat(&[&ctx], a.preheat)?;
    for &n in &seqs {
        let window = a.window.unwrap_or(4096.min(n / 4).max(1));
        let shape = Shape::new(a.batch, n, a.heads, a.head_dim);
        let seed = 0x5a11;
        let host = |len, s| reference::random_vec(len, s);
        let (q, k, v) = (host(shape.q_len(), seed), host(shape.kv_len(), seed ^ 1), host(shape.kv_len(), seed ^ 2));
        let qt = GpuTensor::from_f32(&ctx, &q, shape.q_dims(), a.dtype)?;
        let kt = GpuTensor::from_f32(&ctx, &k, shape.kv_dims(), a.dtype)?;
        let vt = GpuTensor::from_f32(&ctx, &v, shape.kv_dims(), a.dtype)?;
        let mut rows: Vec<Row> = Vec::new();
        let mut run = |name: String, causal: bool, mask: Option<(&BlockMask, &GpuBlockMask)>| -> Result<f64, Box<dyn std::error::Error>> {
            let attn = Attention::new(&ctx, AttentionOptions { causal, scale: None, tier: a.tier });
            let out = attn.alloc_output(&qt, &kt, &vt)?;
            // Warm-up (builds the pipeline), the reheat, then the timed runs.
            time_attention_with(&attn, &qt, &kt, &vt, &out, mask.map(|m| m.1), 1)?;
            ringattn::bench::preheat(&[&ctx], a.reheat)?;
            time_attention_with(&attn, &qt, &kt, &vt, &out, mask.map(|m| m.1), 2)?;
            let s = time_attention_with(&attn, &qt, &kt, &vt, &out, mask.map(|m| m.1), reps)?.ok_or("no timestamps")?;
            let density = mask.map_or(if causal { 0.5 } else { 1.0 }, |m| m.0.density());
            if a.check {
                let rows_idx: Vec<usize> = (0..64).map(|i| (i * 7919 + 13) % n).collect();
                let (qh, kh, vh) = (qt.to_f32_vec(&ctx)?, kt.to_f32_vec(&ctx)?, vt.to_f32_vec(&ctx)?);
                let r = reference::attention_rows(&qh, &kh, &vh, &shape, None, &rows_idx, |_, h, i, j| {
                    mask.is_none_or(|m| m.0.allows(h, i, j)) && (!causal || j <= i)
                });
                let o = reference::select_rows(&out.o.to_f32_vec(&ctx)?, shape.q_dims(), &rows_idx);
                let err = reference::rel_error(&o, &r.o);
                let tol = if a.dtype == Dtype::F16 { 5e-3 } else { 1e-4 };
                if !reference::within(err, tol) {
                    return Err(format!("{name} at N={n}: rel error {err:.3e} over {tol:.0e}").into());
                }
                eprintln!("check {name} N={n}: rel err {err:.2e}");
            }
            let tile = attn.tiles(a.dtype, &shape, mask.map(|m| m.1))?.1.bq;
            rows.push(Row { name, density, tile, ms: s * 1e3 });
            Ok(s)
        };
        let tier = Attention::new(&ctx, AttentionOptions { tier: a.tier, ..Default::default() }).tier(a.dtype, a.head_dim)?;
        let dense = run("dense".into(), false, None)?;
        for &d in &a.densities {
            let m = BlockMask::new(&Pattern::Random { density: d, seed: 42 }, n, n, block)?;
            let g = m.upload(&ctx)?;
            run(format!("random {d}"), false, Some((&m, &g)))?;
            if a.even_rows {
                let m = BlockMask::new(&even_rows(d, n, block), n, n, block)?;
                let g = m.upload(&ctx)?;
                run(format!("random {d}, even rows"), false, Some((&m, &g)))?;
            }
        }
        // Every block as a mask: the cost of the mask walk itself.
        let m = BlockMask::new(&Pattern::All, n, n, block)?;
        let g = m.upload(&ctx)?;
        run("all (BlockMask)".into(), false, Some((&m, &g)))?;
        run("causal (built-in)".into(), true, None)?;
        let m = BlockMask::new(&Pattern::Causal, n, n, block)?;
        let g = m.upload(&ctx)?;
        run("causal (BlockMask)".into(), false, Some((&m, &g)))?;
        if window < n {
            let m = BlockMask::new(&Pattern::Causal.and(Pattern::Window { left: window - 1, right: 0 }), n, n, block)?;
            let g = m.upload(&ctx)?;
            run(format!("causal window {window}"), false, Some((&m, &g)))?;
        }
        println!("\n### N = {n}, B = {}, H = {}, D = {}, {}, tier {tier}, block {}\n", a.batch, a.heads, a.head_dim, a.dtype.name(), block);
        println!("| pattern | block density | query tile | GPU ms (median) | speedup vs dense |");
        println!("|---|---:|---:|---:|---:|");
        for r in &rows {
            println!("| {} | {:.3} | {} | {:.3} | {:.2}x |", r.name, r.density, r.tile, r.ms, dense * 1e3 / r.ms);
        }
    }
    Ok(())
}
