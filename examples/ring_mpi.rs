//! Ring attention over MPI ranks, one or several devices per rank, checked against
//! the f64 reference on a sample of rows (needs `--features mpi` and an MPI
//! installation).
//!
//! ```text
//! cargo build --release --features mpi --example ring_mpi
//! mpirun -np 2 target/release/examples/ring_mpi [--per-rank L] [--scatter] [--hilbert] [seq] [heads] [head_dim]
//! # as root, and more ranks than cores (CI): mpirun --allow-run-as-root --oversubscribe -np 4 ...
//! ```
//!
//! `--per-rank L` gives every rank L devices (the host's GPUs shared out by local rank,
//! or L logical devices without a GPU; default 1): the ring has ranks * L devices.
//!
//! Every rank builds the same inputs from a fixed seed (standing in for a shared file
//! every rank reads) and uploads only its own chunks (`MpiRing::upload`); with
//! `--scatter` only rank 0 builds them and sends every other rank its chunks
//! (`MpiRing::scatter`). With `--hilbert` the tokens (a near-square 2D grid) are placed
//! in Hilbert-curve order (`RingOptions::order`); outputs come back in the caller's order.
//! Outputs are gathered on rank 0.
//! Defaults: seq 8192 on GPUs, 512 on a CPU adapter; 8 heads; head_dim 64; f16 when the
//! device has SHADER_F16.

use ringattn::reference::{attention_rows, lse_max_abs_error, random_vec, rel_error, select_lse_rows, select_rows};
use ringattn::ring::mpi::MpiRing;
use ringattn::ring::{Placement, RingOptions};
use ringattn::{AttentionOptions, Dtype, Shape};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_rank = match args.iter().position(|a| a == "--per-rank") {
        Some(i) => match args.get(i + 1).and_then(|v| v.parse::<usize>().ok()) {
            Some(l) => l,
            None => {
                eprintln!("error: --per-rank needs a device count");
                std::process::exit(2);
            }
        },
        None => 1,
    };
    let ring = match MpiRing::init_local(per_rank) {
        Ok(r) => r,
        Err(e) => {
            report(&format!("error: {e}"));
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&ring, &args) {
        report(&format!("error: rank {}: {e}", ring.rank()));
        ring.abort(2);
    }
}

/// One line on stderr in a single write, so the lines of ranks that fail together (their
/// stderr merged by mpirun) do not interleave mid-line, as `eprintln!`'s piecewise writes
/// of a formatted error did.
fn report(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(format!("{line}\n").as_bytes());
}

fn run(ring: &MpiRing, args: &[String]) -> ringattn::Result<()> {
    // Positional numbers (the value of --per-rank excluded).
    let scatter = args.iter().any(|a| a == "--scatter");
    let hilbert = args.iter().any(|a| a == "--hilbert");
    // Test only: with --scatter, rank 0 passes a Q one element short (every rank must
    // then fail with an error, none may wait forever).
    let bad_inputs = args.iter().any(|a| a == "--bad-inputs");
    let args: Vec<usize> =
        args.iter().enumerate().filter(|(i, _)| *i == 0 || args[i - 1] != "--per-rank").filter_map(|(_, a)| a.parse().ok()).collect();
    let ctx = ring.context();
    let cpu = ctx.info().device_type == wgpu::DeviceType::Cpu;
    let seq = args.first().copied().unwrap_or(if cpu { 512 } else { 8192 });
    let heads = args.get(1).copied().unwrap_or(8);
    let head_dim = args.get(2).copied().unwrap_or(64);
    let dtype = if ring.contexts().iter().all(|c| c.capabilities().shader_f16) { Dtype::F16 } else { Dtype::F32 };
    let shape = Shape::new(1, seq, heads, head_dim);
    println!("{}", ring.describe());
    ring.barrier()?;
    if ring.rank() == 0 {
        println!(
            "{} ranks x {} devices; shape: batch 1, seq {seq}, heads {heads}, head_dim {head_dim}, {}; inputs {}{}",
            ring.size(),
            ring.devices_per_rank(),
            dtype.name(),
            if scatter { "scattered from rank 0" } else { "on every rank" },
            if hilbert { "; Hilbert order" } else { "" }
        );
    }
    let round = |x: Vec<f32>| dtype.round(x);
    // The same inputs on every rank (with --scatter: on rank 0 only).
    let has_inputs = !scatter || ring.rank() == 0;
    let make = |len: usize, seed: u64| if has_inputs { round(random_vec(len, seed)) } else { Vec::new() };
    let (q, k, v) = (make(shape.q_len(), 7), make(shape.kv_len(), 8), make(shape.kv_len(), 9));
    let rows: Vec<usize> = (0..16).map(|i| i * (seq - 1) / 15).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let tol = if dtype == Dtype::F16 { 5e-3 } else { 1e-4 };
    let mut ok = true;
    for (causal, placement) in [(false, Placement::Contiguous), (true, Placement::Zigzag)] {
        let order = if hilbert {
            let (height, width) = ringattn::presets::square_grid(seq);
            Some(std::sync::Arc::new(ringattn::order::Order::Hilbert2d { height, width }.permutation(seq)?))
        } else {
            None
        };
        let opts = RingOptions { attention: AttentionOptions { causal, ..Default::default() }, placement, order, ..Default::default() };
        let shards = if scatter {
            let q = if bad_inputs { &q[..q.len().saturating_sub(1)] } else { &q[..] };
            ring.scatter(has_inputs.then_some((q, &k[..], &v[..])), shape, dtype, &opts)?
        } else {
            ring.upload(&q, &k, &v, shape, dtype, &opts)?
        };
        // The first call builds the pipelines; the second is timed.
        ring.forward_shards(&shards, shape, dtype, &opts)?;
        ring.barrier()?;
        let out = ring.forward_shards(&shards, shape, dtype, &opts)?;
        let st = &out.stats;
        let slowest = ring.max_f64(st.ring_seconds)?;
        let gathered = ring.gather(&out, shape)?;
        println!(
            "  rank {} causal {causal} {placement}: {:.1} ms, sent {:.1} MB, host copy {:.2} GB/s, peak {:.1} MB (largest device)",
            ring.rank(),
            st.ring_seconds * 1e3,
            st.bytes_moved as f64 / 1e6,
            st.gbps(),
            st.peak_bytes.iter().copied().max().unwrap_or(0) as f64 / 1e6
        );
        if let Some((o, lse)) = gathered {
            let r = attention_rows(&q, &k, &v, &shape, None, &rows, |_, _, i, j| !causal || j <= i);
            let e = rel_error(&select_rows(&o, shape.q_dims(), &rows), &r.o);
            let l = lse_max_abs_error(&select_lse_rows(&lse, shape.lse_dims(), &rows), &r.lse);
            let pass = e < tol && l < 1e-2;
            ok &= pass;
            println!(
                "causal {causal}, {placement}: {} (rel err vs f64 on {} rows {e:.2e}, LSE {l:.2e}); ring {:.1} ms (slowest rank)",
                if pass { "ok" } else { "MISMATCH" },
                rows.len(),
                slowest * 1e3
            );
        }
    }
    if !ok {
        eprintln!("ring output differs from the f64 reference");
        ring.abort(1);
    }
    Ok(())
}
