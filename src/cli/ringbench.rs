//! `ringattn ring-bench`: ring attention against one device over sequence lengths,
//! device counts, placements and masks, plus the transport alone.
//!
//! Inputs are random f16 (or f32) values generated on the host, uploaded once per
//! sequence length; every timed call runs on GPU-resident inputs (the single device
//! on whole tensors, the ring on shards) and ends when the outputs are computed.
//! Every configuration is checked: against the f64 reference on `--check-rows` rows
//! and against the single-device output on all rows.

use std::time::{Duration, Instant};

use clap::Args;
use half::f16;
use serde::Serialize;

use super::run::{lse_tolerance, o_tolerance, DtypeArg};
use super::{bytes_human, Status};
use crate::attention::{Attention, AttentionOptions};
use crate::bench::parse_list;
use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::ring::{Placement, RingAttention, RingOptions};
use crate::tensor::{Dtype, GpuTensor, Shape};

/// Arguments of `ringattn ring-bench`.
#[derive(Args, Debug, Clone)]
pub struct RingBenchArgs {
    /// Sequence lengths (comma-separated).
    #[arg(long, value_name = "N,..", default_value = "32768,65536,131072,262144")]
    pub seqs: String,
    /// Device counts of the rings (the first N GPU adapters of the preferred backend;
    /// counts above the adapters found are skipped). 1 = a ring of one device.
    #[arg(long, value_name = "N,..", default_value = "2")]
    pub devices: String,
    /// Use N logical devices on the first adapter instead of separate adapters.
    #[arg(long)]
    pub logical: bool,
    /// Placements (contiguous, zigzag).
    #[arg(long, value_name = "P,..", default_value = "contiguous,zigzag")]
    pub placements: String,
    /// Masks: causal, dense or both.
    #[arg(long, value_name = "causal|dense|both", default_value = "both")]
    pub causal: String,
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    #[arg(long, default_value_t = 8)]
    pub heads: usize,
    #[arg(long, default_value_t = 64)]
    pub head_dim: usize,
    #[arg(long, value_enum, default_value_t = DtypeArg::F16)]
    pub dtype: DtypeArg,
    /// Timed repetitions per configuration (the median is reported), after one warm-up call.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Skip the warm-up call at the measured size (pipelines are still built on a
    /// small problem first): for very long sequences, where one call is expensive.
    #[arg(long)]
    pub no_warmup: bool,
    /// Warm-up calls repeat until this many seconds have passed after the first (on
    /// GPUs; two calls at least): GPUs that idled while another configuration ran, or
    /// while the driver compiled, come back at low clocks.
    #[arg(long, default_value_t = 0.25, value_name = "S")]
    pub warmup_seconds: f64,
    /// Seconds of attention on every GPU before anything is timed (0: none).
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    pub preheat: f64,
    /// Seconds of attention on a configuration's GPUs (and the single-device
    /// baseline's) right before its warm-up: GPUs that idled during the host's work
    /// before it (the checks, the baseline, the driver's compiles) come back at low
    /// clocks, which the ring's bursty calls raise only slowly (0: none).
    #[arg(long, default_value_t = 0.5, value_name = "S")]
    pub reheat: f64,
    /// Skip the single-device baseline (and the comparison with it).
    #[arg(long)]
    pub no_single: bool,
    /// Query rows checked against the f64 reference per configuration (evenly spread).
    #[arg(long, default_value_t = 8)]
    pub check_rows: usize,
    /// Bytes per piece of a block in flight [default: the library's, 16 MiB].
    #[arg(long, value_name = "BYTES")]
    pub piece_bytes: Option<u64>,
    /// Also measure the transport alone with blocks of this many MiB (0: skip).
    #[arg(long, value_name = "MiB", default_value_t = 128)]
    pub transport_mib: u64,
    /// Write every result as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
    /// Record when each ring step's launches ran on each GPU (timestamp queries;
    /// `RingOptions::gpu_timeline`), of the last timed call, and print them after the
    /// table (and into the JSON): the gaps between steps are the GPU's time on the K/V
    /// copies or waiting for the host.
    #[arg(long)]
    pub gpu_timeline: bool,
}

/// One measured configuration.
#[derive(Serialize, Debug, Clone)]
pub struct RingBenchRecord {
    pub kind: &'static str,
    pub seq: usize,
    pub devices: usize,
    pub placement: String,
    pub causal: bool,
    pub dtype: String,
    pub ms: f64,
    pub single_ms: Option<f64>,
    pub speedup: Option<f64>,
    pub bytes_moved: u64,
    pub copy_gbps: f64,
    /// How blocks travelled (`StagingMemory::name`; empty for one device).
    pub staging: String,
    /// Seconds the first (warm-up, or with --no-warmup the measured) call spent setting
    /// up shared staging.
    pub staging_setup_s: f64,
    pub peak_bytes: Vec<u64>,
    pub tiers: Vec<String>,
    pub rel_err_ref: f64,
    pub lse_err_ref: f64,
    pub rel_err_single: Option<f64>,
    pub ok: bool,
    pub adapters: Vec<String>,
    /// With --gpu-timeline: per device, per step, its launches' GPU start and end in ms
    /// from the device's first launch (null: nothing computed at that step).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gpu_steps_ms: Vec<Vec<Option<(f64, f64)>>>,
}

/// How blocks travelled: the staging's name, and for shared staging whether every
/// device's copies ran on its DMA queue (`crate::dma`).
fn staging_label(kind: crate::ring::StagingMemory, ctxs: &[std::sync::Arc<GpuContext>]) -> String {
    let dma = kind == crate::ring::StagingMemory::Shared && ctxs.iter().all(|c| c.dma_queue_family().is_some());
    format!("{}{}", kind.name(), if dma { ", copies on each device's DMA queue" } else { "" })
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `len` uniform values in [-1, 1) as f16, generated in parallel.
fn random_f16(len: usize, seed: u64) -> Vec<f16> {
    let mut out = vec![f16::ZERO; len];
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(32);
    let per = len.div_ceil(threads).max(1);
    std::thread::scope(|sc| {
        for (t, chunk) in out.chunks_mut(per).enumerate() {
            sc.spawn(move || {
                let mut s = splitmix(seed ^ (t as u64).wrapping_mul(0x1234_5678_9abc_def1));
                for x in chunk {
                    s = splitmix(s);
                    *x = f16::from_f32(((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0);
                }
            });
        }
    });
    out
}

/// f64 reference for query rows `rows` (all heads): O rows (row, head, d) and LSE (row, head).
fn reference_rows(q: &[f16], k: &[f16], v: &[f16], s: &Shape, causal: bool, scale: f64, rows: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let (h, kvh, d, nq, nk) = (s.heads, s.kv_heads, s.head_dim, s.seq_q, s.seq_k);
    let group = h / kvh;
    let diag = nk as i64 - nq as i64;
    let jobs: Vec<(usize, usize)> = rows.iter().flat_map(|&r| (0..h).map(move |hh| (r, hh))).collect();
    let one = |&(i, hh): &(usize, usize)| -> (Vec<f64>, f64) {
        // Batch 0 only.
        let qrow: Vec<f64> = (0..d).map(|x| q[(i * h + hh) * d + x].to_f64()).collect();
        let kh = hh / group;
        let last = if causal { (i as i64 + diag).min(nk as i64 - 1) } else { nk as i64 - 1 };
        if last < 0 {
            return (vec![0.0; d], f64::NEG_INFINITY);
        }
        let keys = last as usize + 1;
        let mut sc = Vec::with_capacity(keys);
        let mut m = f64::NEG_INFINITY;
        for j in 0..keys {
            let base = (j * kvh + kh) * d;
            let dot: f64 = (0..d).map(|x| qrow[x] * k[base + x].to_f64()).sum::<f64>() * scale;
            m = m.max(dot);
            sc.push(dot);
        }
        let mut o = vec![0.0; d];
        let mut sum = 0.0;
        for (j, &x) in sc.iter().enumerate() {
            let p = (x - m).exp();
            sum += p;
            let base = (j * kvh + kh) * d;
            for (y, oy) in o.iter_mut().enumerate() {
                *oy += p * v[base + y].to_f64();
            }
        }
        o.iter_mut().for_each(|x| *x /= sum);
        (o, m + sum.ln())
    };
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(jobs.len().max(1));
    let per = jobs.len().div_ceil(threads).max(1);
    let results: Vec<(Vec<f64>, f64)> = std::thread::scope(|sc| {
        let hs: Vec<_> = jobs.chunks(per).map(|c| sc.spawn(move || c.iter().map(one).collect::<Vec<_>>())).collect();
        hs.into_iter().flat_map(|h| h.join().expect("reference thread")).collect()
    });
    let o = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    let l = results.iter().map(|r| r.1).collect();
    (o, l)
}

/// Relative error of `got` O rows (all of O, batch 0 part) against reference rows.
fn rows_error(o: &[f32], lse: &[f32], s: &Shape, rows: &[usize], r: &(Vec<f64>, Vec<f64>)) -> (f64, f64) {
    let (h, d, nq) = (s.heads, s.head_dim, s.seq_q);
    let (mut num, mut den, mut lmax) = (0.0f64, 0.0f64, 0.0f64);
    for (ri, &i) in rows.iter().enumerate() {
        for hh in 0..h {
            for x in 0..d {
                let g = o[(i * h + hh) * d + x] as f64;
                let w = r.0[(ri * h + hh) * d + x];
                num += (g - w) * (g - w);
                den += w * w;
            }
            let gl = lse[hh * nq + i] as f64;
            let wl = r.1[ri * h + hh];
            let e = if gl == wl { 0.0 } else { (gl - wl).abs() / wl.abs().max(1.0) };
            lmax = lmax.max(if e.is_nan() { f64::INFINITY } else { e });
        }
    }
    ((num / den.max(1e-300)).sqrt(), lmax)
}

fn rel_err_f32(a: &[f32], b: &[f32]) -> f64 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        num += (x - y) * (x - y);
        den += y * y;
    }
    if a.iter().any(|x| !x.is_finite()) {
        return f64::INFINITY;
    }
    (num / den.max(1e-300)).sqrt()
}

/// Untimed calls of `call`: at least one, and more until `seconds` have passed (GPUs
/// that idled come back at low clocks).
/// The warm-up of every configuration (`bench::BenchOptions::warm_up`): the first call,
/// then calls until `--warmup-seconds` have passed after it (on GPUs; two calls in all
/// at least).
fn warm_opts(args: &RingBenchArgs) -> crate::bench::BenchOptions {
    crate::bench::BenchOptions { warmup: 2, warmup_seconds: args.warmup_seconds, ..Default::default() }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

pub fn execute(args: &RingBenchArgs) -> Result<Status> {
    let causal_list: Vec<bool> = match args.causal.as_str() {
        "both" => vec![false, true],
        "causal" | "true" | "yes" => vec![true],
        "dense" | "false" | "no" => vec![false],
        o => return Err(Error::InvalidArgument(format!("--causal {o}: use causal, dense or both"))),
    };
    if args.reps == 0 {
        return Err(Error::InvalidArgument("--reps must be at least 1".into()));
    }
    let list_err = |what: &str, e: String| Error::InvalidArgument(format!("--{what}: {e}"));
    let seqs: Vec<usize> = parse_list(&args.seqs).map_err(|e| list_err("seqs", e))?;
    let devices: Vec<usize> = parse_list(&args.devices).map_err(|e| list_err("devices", e))?;
    let placements: Vec<Placement> = parse_list(&args.placements).map_err(|e| list_err("placements", e))?;
    if devices.contains(&0) {
        return Err(Error::InvalidArgument("--devices: counts must be >= 1".into()));
    }
    let dtype: Dtype = args.dtype.into();
    let max_dev = devices.iter().copied().max().unwrap_or(1);
    let all = if args.logical { RingAttention::logical(max_dev)? } else { RingAttention::all_adapters()? };
    if let Some(note) = all.fallback() {
        println!("note: {note}");
    }
    for line in all.describe() {
        println!("{line}");
    }
    let ctxs = all.contexts().to_vec();
    crate::bench::preheat(&ctxs, args.preheat)?;
    let mut json = match &args.json {
        Some(p) => {
            Some(std::io::BufWriter::new(std::fs::File::create(p).map_err(|e| Error::Io { path: p.display().to_string(), message: e.to_string() })?))
        }
        None => None,
    };
    let mut emit = |rec: &RingBenchRecord| -> Result<()> {
        use std::io::Write;
        if let Some(w) = json.as_mut() {
            let line = serde_json::to_string(rec).map_err(|e| Error::InvalidArgument(e.to_string()))?;
            writeln!(w, "{line}")
                .and_then(|_| w.flush())
                .map_err(|e| Error::Io { path: args.json.as_ref().map(|p| p.display().to_string()).unwrap_or_default(), message: e.to_string() })?;
        }
        Ok(())
    };
    let adapters: Vec<String> = ctxs.iter().map(|c| c.describe()).collect();
    let mut all_ok = true;
    let mut timelines: Vec<String> = Vec::new();

    // The transport alone.
    if args.transport_mib > 0 {
        for &n in devices.iter().filter(|&&n| n >= 2 && n <= ctxs.len()) {
            let ring = RingAttention::from_arcs(ctxs[..n].to_vec())?;
            let block = args.transport_mib << 20;
            // One warm-up exchange (allocations, first maps), then the measured one.
            ring.measure_transport(block, 2, args.piece_bytes, Duration::from_secs(120))?;
            let rep = ring.measure_transport(block, 8, args.piece_bytes, Duration::from_secs(120))?;
            println!(
                "transport, {n} devices (staging: {}): {} blocks in {} pieces, {} steps: {:.1} GB/s per link per direction ({:.1} GB/s over the ring)",
                staging_label(rep.staging, &ctxs[..n]),
                bytes_human(rep.block_bytes),
                bytes_human(rep.piece_bytes),
                rep.steps,
                rep.gbps_per_link(),
                rep.gbps_per_link() * n as f64
            );
            // Where each device's steps went (ms per step, averaged over the steps).
            let ms = |d: Duration| d.as_secs_f64() * 1e3 / rep.steps as f64;
            for (i, (t, reclaim, begin)) in rep.stages.iter().enumerate() {
                println!(
                    "  device {i}, ms per step: exchange {:.2} (first piece in at {:.2}, last piece out at {:.2}), storing pieces {:.2} = host copies {:.2} ({} GB/s) + waits for local staging {:.2} + GPU submits {:.2}; waiting for acks before the next send {:.2}, submitting the copies out {:.2}; step {:.2}",
                    ms(t.wall),
                    ms(t.first_in),
                    ms(t.last_out),
                    ms(t.recv),
                    ms(t.copy),
                    if t.copy.is_zero() { "-".to_string() } else { format!("{:.1}", rep.block_bytes as f64 / (t.copy.as_secs_f64() / rep.steps as f64) / 1e9) },
                    ms(t.wait_local),
                    ms(t.recv.saturating_sub(t.copy + t.wait_local)),
                    ms(*reclaim),
                    ms(*begin),
                    rep.seconds * 1e3 / rep.steps as f64
                );
            }
            emit(&RingBenchRecord {
                kind: "transport",
                seq: 0,
                devices: n,
                placement: String::new(),
                causal: false,
                dtype: String::new(),
                ms: rep.seconds * 1e3 / rep.steps as f64,
                single_ms: None,
                speedup: None,
                bytes_moved: rep.block_bytes * rep.steps as u64 * n as u64,
                copy_gbps: rep.gbps_per_link(),
                staging: staging_label(rep.staging, &ctxs[..n]),
                staging_setup_s: 0.0,
                peak_bytes: vec![],
                tiers: vec![],
                rel_err_ref: 0.0,
                lse_err_ref: 0.0,
                rel_err_single: None,
                ok: true,
                adapters: adapters[..n].to_vec(),
                gpu_steps_ms: vec![],
            })?;
        }
    }

    println!(
        "\n| N | causal | devices | placement | ms | 1-device ms | speedup | K/V moved | host copy GB/s | peak per device | err vs f64 | err vs 1 device |"
    );
    println!("|---:|---|---:|---|---:|---:|---:|---:|---:|---|---:|---:|");
    for &seq in &seqs {
        let shape = Shape { batch: args.batch, seq_q: seq, seq_k: seq, heads: args.heads, kv_heads: args.heads, head_dim: args.head_dim };
        shape.validate()?;
        let seed = crate::reference::fresh_seed();
        let q = random_f16(shape.q_len(), seed);
        let k = random_f16(shape.kv_len(), seed ^ 0x11);
        let v = random_f16(shape.kv_len(), seed ^ 0x22);
        let rows: Vec<usize> = {
            let n = args.check_rows.clamp(1, seq);
            let mut r: Vec<usize> = (0..n).map(|i| if n == 1 { seq - 1 } else { i * (seq - 1) / (n - 1) }).collect();
            r.dedup();
            r
        };
        let scale = 1.0 / (args.head_dim as f64).sqrt();
        for &causal in &causal_list {
            let reference = reference_rows(&q, &k, &v, &shape, causal, scale, &rows);
            // Single device: whole tensors on device 0.
            let mut single: Option<(f64, Vec<f32>)> = None;
            if !args.no_single {
                match time_single(&ctxs[0], &q, &k, &v, shape, dtype, causal, args) {
                    Ok((ms, o, lse)) => {
                        let (e, le) = rows_error(&o, &lse, &shape, &rows, &reference);
                        let ok = e < o_tolerance(dtype) && le < lse_tolerance(dtype);
                        all_ok &= ok;
                        println!(
                            "| {seq} | {causal} | 1 | (single) | {ms:.1} | | | | | {} | {e:.1e} | |",
                            bytes_human(((shape.q_len() * 2 + shape.kv_len() * 2) as u64) * dtype.size())
                        );
                        emit(&RingBenchRecord {
                            kind: "single",
                            seq,
                            devices: 1,
                            placement: "single".into(),
                            causal,
                            dtype: dtype.name().into(),
                            ms,
                            single_ms: Some(ms),
                            speedup: Some(1.0),
                            bytes_moved: 0,
                            copy_gbps: 0.0,
                            staging: String::new(),
                            staging_setup_s: 0.0,
                            peak_bytes: vec![((shape.q_len() * 2 + shape.kv_len() * 2) as u64) * dtype.size()],
                            tiers: vec![],
                            rel_err_ref: e,
                            lse_err_ref: le,
                            rel_err_single: None,
                            ok,
                            adapters: adapters[..1].to_vec(),
                            gpu_steps_ms: vec![],
                        })?;
                        single = Some((ms, o));
                    }
                    Err(e) => println!("| {seq} | {causal} | 1 | (single) | failed: {e} | | | | | | | |"),
                }
            }
            for &n in devices.iter().filter(|&&n| n <= ctxs.len()) {
                let ring = RingAttention::from_arcs(ctxs[..n].to_vec())?;
                for &placement in &placements {
                    let opts = RingOptions {
                        attention: AttentionOptions { causal, ..Default::default() },
                        placement,
                        piece_bytes: args.piece_bytes,
                        timeout: Duration::from_secs(300),
                        gpu_timeline: args.gpu_timeline,
                        ..Default::default()
                    };
                    let r = (|| -> Result<RingBenchRecord> {
                        // Build the pipelines on a small problem first.
                        let small = Shape { seq_q: 256.min(seq), seq_k: 256.min(seq), ..shape };
                        let sq = random_f16(small.q_len(), 1);
                        let sk = random_f16(small.kv_len(), 2);
                        let sh = ring.upload_f16(&sq, &sk, &sk, small, dtype, &opts)?;
                        ring.forward_shards(&sh, small, dtype, &opts)?;
                        drop(sh);
                        let shards = ring.upload_f16(&q, &k, &v, shape, dtype, &opts)?;
                        let mut setup = None;
                        let mut call = || -> Result<()> {
                            let s = ring.forward_shards(&shards, shape, dtype, &opts)?.stats.staging_setup_seconds;
                            setup.get_or_insert(s);
                            Ok(())
                        };
                        // The first call at the measured size (its grid may take other
                        // tiles than the small problem's: compiles, tile searches), then
                        // the reheat: the GPUs may have idled during it or the host work
                        // before, and the ring's bursty calls raise a dropped clock only
                        // slowly (BENCHMARKS.md, twenty-sixth session).
                        match args.no_warmup {
                            true => crate::bench::preheat(&ctxs[..n], args.reheat).map(|_| ())?,
                            false => warm_opts(args).warm_up(&ctxs[..n], args.reheat, &mut call).map(|_| ())?,
                        }
                        let mut times = Vec::new();
                        let mut last = None;
                        for _ in 0..args.reps {
                            let out = ring.forward_shards(&shards, shape, dtype, &opts)?;
                            times.push(out.stats.ring_seconds * 1e3);
                            setup.get_or_insert(out.stats.staging_setup_seconds);
                            last = Some(out);
                        }
                        drop(shards);
                        let out = last.expect("reps >= 1");
                        let (o, lse) = ring.download(&out, shape)?;
                        let st = out.stats;
                        let ms = median(times);
                        let (e, le) = rows_error(&o, &lse, &shape, &rows, &reference);
                        let es = single.as_ref().map(|(_, so)| rel_err_f32(&o, so));
                        let ok = e < o_tolerance(dtype) && le < lse_tolerance(dtype) && es.is_none_or(|x| x < o_tolerance(dtype));
                        Ok(RingBenchRecord {
                            kind: "ring",
                            seq,
                            devices: n,
                            placement: placement.name().into(),
                            causal,
                            dtype: dtype.name().into(),
                            ms,
                            single_ms: single.as_ref().map(|s| s.0),
                            speedup: single.as_ref().map(|s| s.0 / ms),
                            bytes_moved: st.bytes_moved,
                            copy_gbps: st.gbps(),
                            staging: if n > 1 { staging_label(st.staging, &ctxs[..n]) } else { String::new() },
                            staging_setup_s: setup.unwrap_or(0.0),
                            peak_bytes: st.peak_bytes.clone(),
                            tiers: st.tiers.iter().map(|t| t.name().to_string()).collect(),
                            rel_err_ref: e,
                            lse_err_ref: le,
                            rel_err_single: es,
                            ok,
                            adapters: adapters[..n].to_vec(),
                            gpu_steps_ms: st.gpu_steps.iter().map(|d| d.iter().map(|s| s.map(|(a, b)| (a * 1e3, b * 1e3))).collect()).collect(),
                        })
                    })();
                    match r {
                        Ok(rec) => {
                            all_ok &= rec.ok;
                            let peak = rec.peak_bytes.iter().copied().max().unwrap_or(0);
                            println!(
                                "| {seq} | {causal} | {n} | {} | {:.1} | {} | {} | {} | {} | {} | {:.1e} | {} |{}",
                                rec.placement,
                                rec.ms,
                                rec.single_ms.map_or("-".into(), |x| format!("{x:.1}")),
                                rec.speedup.map_or("-".into(), |x| format!("{x:.2}x")),
                                bytes_human(rec.bytes_moved),
                                if rec.copy_gbps > 0.0 { format!("{:.1}", rec.copy_gbps) } else { "-".into() },
                                bytes_human(peak),
                                rec.rel_err_ref,
                                rec.rel_err_single.map_or("-".into(), |x| format!("{x:.1e}")),
                                if rec.ok { "" } else { " MISMATCH" }
                            );
                            if !rec.gpu_steps_ms.is_empty() {
                                timelines.push(format!("N={seq} {} causal={causal}, {n} devices, {:.1} ms:", rec.placement, rec.ms));
                                timelines.extend(rec.gpu_steps_ms.iter().enumerate().map(|(d, steps)| format!("  device {d}: {}", step_line(steps))));
                            }
                            emit(&rec)?;
                        }
                        Err(e) => {
                            all_ok = false;
                            println!("| {seq} | {causal} | {n} | {placement} | failed: {e} | | | | | | | |");
                        }
                    }
                    ring.release_buffers();
                }
            }
        }
    }
    if !timelines.is_empty() {
        println!("\nGPU step timeline of each configuration's last call (ms from the device's first launch; gaps: the GPU on other work or idle):");
        for l in &timelines {
            println!("{l}");
        }
    }
    Ok(if all_ok { Status::Ok } else { Status::CheckFailed })
}

/// One device's steps as `s0 0.00-8.71 | +3.12 | s1 11.83-20.50 ...` (a step's launches'
/// start and end, and the gap before the next step's launches).
fn step_line(steps: &[Option<(f64, f64)>]) -> String {
    let mut out = Vec::new();
    let mut prev_end: Option<f64> = None;
    for (i, s) in steps.iter().enumerate() {
        match s {
            Some((a, b)) => {
                if let Some(e) = prev_end {
                    out.push(format!("+{:.2}", a - e));
                }
                out.push(format!("s{i} {a:.2}-{b:.2}"));
                prev_end = Some(*b);
            }
            None => out.push(format!("s{i} -")),
        }
    }
    out.join(" | ")
}

/// Times plain attention on whole tensors on one device; returns (median ms, O, LSE).
#[allow(clippy::too_many_arguments)]
fn time_single(
    ctx: &GpuContext,
    q: &[f16],
    k: &[f16],
    v: &[f16],
    s: Shape,
    dtype: Dtype,
    causal: bool,
    args: &RingBenchArgs,
) -> Result<(f64, Vec<f32>, Vec<f32>)> {
    let up = |x: &[f16], dims| -> Result<GpuTensor> {
        match dtype {
            Dtype::F16 => GpuTensor::from_f16(ctx, x, dims),
            Dtype::F32 => GpuTensor::from_f32(ctx, &x.iter().map(|v| v.to_f32()).collect::<Vec<_>>(), dims, Dtype::F32),
        }
    };
    let (qt, kt, vt) = (up(q, s.q_dims())?, up(k, s.kv_dims())?, up(v, s.kv_dims())?);
    let attn = Attention::new(ctx, AttentionOptions { causal, ..Default::default() });
    // The pipeline for this shape (the matrix tier's tiles depend on the grid).
    attn.tiles(dtype, &s, None)?;
    let out = attn.alloc_output(&qt, &kt, &vt)?;
    if !args.no_warmup {
        warm_opts(args).warm_up(&[ctx], args.reheat, || {
            attn.forward_into(&qt, &kt, &vt, &out.o, &out.lse)?;
            ctx.wait()
        })?;
    }
    let mut times = Vec::new();
    for _ in 0..args.reps {
        let t = Instant::now();
        attn.forward_into(&qt, &kt, &vt, &out.o, &out.lse)?;
        ctx.wait_timeout(Duration::from_secs(600))?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((median(times), out.o.to_f32_vec(ctx)?, out.lse.to_vec(ctx)?))
}
