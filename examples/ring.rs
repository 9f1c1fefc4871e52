//! Ring attention over every GPU adapter found (or 2 logical devices when there is
//! only one adapter or none), checked against single-device attention and the f64
//! reference on a sample of rows.
//!
//! ```text
//! cargo run --release --example ring -- [seq] [heads] [head_dim]
//! ```
//!
//! Defaults: seq 8192 on GPUs, 512 on a CPU adapter; 8 heads; head_dim 64. Runs
//! dense and causal, with contiguous and zigzag placement, in f16 when every device
//! has SHADER_F16 (else f32).

use std::time::Instant;

use ringattn::reference::{self, attention_rows, lse_max_abs_error, random_vec, rel_error, select_lse_rows, select_rows};
use ringattn::ring::{Placement, RingAttention, RingOptions};
use ringattn::{Attention, AttentionOptions, Dtype, GpuTensor, Shape};

fn main() -> ringattn::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let mut ring = RingAttention::all_adapters()?;
    if ring.len() == 1 {
        println!("one GPU adapter ({}): using 2 logical devices on it", ring.contexts()[0].name());
        ring = RingAttention::logical(2)?;
    }
    if let Some(note) = ring.fallback() {
        println!("note: {note}");
    }
    for line in ring.describe() {
        println!("{line}");
    }
    let cpu = ring.contexts().iter().any(|c| c.info().device_type == wgpu::DeviceType::Cpu);
    let seq = args.first().copied().unwrap_or(if cpu { 512 } else { 8192 });
    let heads = args.get(1).copied().unwrap_or(8);
    let head_dim = args.get(2).copied().unwrap_or(64);
    let dtype = if ring.contexts().iter().all(|c| c.capabilities().shader_f16) { Dtype::F16 } else { Dtype::F32 };
    let shape = Shape::new(1, seq, heads, head_dim);
    println!("shape: batch 1, seq {seq}, heads {heads}, head_dim {head_dim}, {}", dtype.name());

    let seed = reference::fresh_seed();
    let round = |x: Vec<f32>| dtype.round(x);
    let q = round(random_vec(shape.q_len(), seed));
    let k = round(random_vec(shape.kv_len(), seed ^ 0x11));
    let v = round(random_vec(shape.kv_len(), seed ^ 0x22));
    let rows: Vec<usize> = (0..16).map(|i| i * (seq - 1) / 15).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let ctx0 = &ring.contexts()[0];
    let tol = match dtype {
        Dtype::F32 => 1e-4,
        Dtype::F16 => 5e-3,
    };
    let mut ok = true;

    for causal in [false, true] {
        // Single device (device 0) for comparison and timing.
        let qt = GpuTensor::from_f32(ctx0, &q, shape.q_dims(), dtype)?;
        let kt = GpuTensor::from_f32(ctx0, &k, shape.kv_dims(), dtype)?;
        let vt = GpuTensor::from_f32(ctx0, &v, shape.kv_dims(), dtype)?;
        let attn = Attention::new(ctx0, AttentionOptions { causal, ..Default::default() });
        attn.prepare(dtype, head_dim)?;
        // Warm-up call (drivers may compile lazily), then the timed one.
        attn.forward(&qt, &kt, &vt)?.o.to_f32_vec(ctx0)?;
        let t = Instant::now();
        let single = attn.forward(&qt, &kt, &vt)?;
        let so = single.o.to_f32_vec(ctx0)?;
        let t_single = t.elapsed();
        let r = attention_rows(&q, &k, &v, &shape, None, &rows, |_, _, i, j| !causal || j <= i);

        for placement in [Placement::Contiguous, Placement::Zigzag] {
            let opts = RingOptions { attention: AttentionOptions { causal, ..Default::default() }, placement, ..Default::default() };
            // First call builds the pipelines; the second is the one timed.
            ring.forward(&q, &k, &v, shape, dtype, &opts)?;
            let out = ring.forward(&q, &k, &v, shape, dtype, &opts)?;
            let st = &out.stats;
            let vs_single = rel_error(&out.o, &so.iter().map(|&x| x as f64).collect::<Vec<_>>());
            let vs_ref = rel_error(&select_rows(&out.o, shape.q_dims(), &rows), &r.o);
            let lse_ref = lse_max_abs_error(&select_lse_rows(&out.lse, shape.lse_dims(), &rows), &r.lse);
            let pass = vs_single < tol && vs_ref < tol && lse_ref < 1e-2;
            ok &= pass;
            println!(
                "\ncausal {causal}, {placement}: {} ({} rel err vs single device {vs_single:.2e}, vs f64 on {} rows {vs_ref:.2e}, LSE {lse_ref:.2e})",
                if pass { "ok" } else { "MISMATCH" },
                dtype.name(),
                rows.len()
            );
            println!("  ring {:.1} ms vs single device {:.1} ms", st.wall_seconds * 1e3, t_single.as_secs_f64() * 1e3);
            println!(
                "  {} steps, pairs {} computed / {} skipped, transfers {} made / {} skipped",
                st.steps, st.pairs_computed, st.pairs_skipped, st.transfers, st.transfers_skipped
            );
            match st.staging {
                ringattn::ring::StagingMemory::Shared => {
                    let dma = ring.contexts().iter().all(|c| c.dma_queue_family().is_some());
                    println!(
                        "  moved {:.2} MB through host memory both devices import (no host copy; GPU copies on {})",
                        st.bytes_moved as f64 / 1e6,
                        if dma { "each device's DMA queue, beside the compute" } else { "each device's wgpu queue" }
                    )
                }
                other => {
                    println!("  moved {:.2} MB ({} staging), host copy {:.2} GB/s per link", st.bytes_moved as f64 / 1e6, other.name(), st.gbps())
                }
            }
            for (i, p) in st.peak_bytes.iter().enumerate() {
                println!("  device {i}: peak {:.2} MB, tier {}", *p as f64 / 1e6, st.tiers[i]);
            }
        }
    }
    if !ok {
        eprintln!("ring output differs from single-device attention");
        std::process::exit(1);
    }
    Ok(())
}
