//! Ring attention over several devices (adapters, or logical devices on one adapter).
//!
//! One sequence is split over N devices ([`Placement`]). Each device keeps its query
//! chunk(s), a running f32 (O, LSE) for them, and two K/V slots. In N steps every
//! K/V block visits every device: a device attends its queries to the block it holds
//! (skipping fully masked pairs), folds the partial result into its running (O, LSE)
//! with the LSE merge kernel, and passes the block to the next device. The result
//! equals single-device attention up to f32 rounding.
//!
//! ```no_run
//! use ringattn::ring::{Placement, RingAttention, RingOptions};
//! use ringattn::{AttentionOptions, Dtype, Shape};
//! # fn main() -> ringattn::Result<()> {
//! let ring = RingAttention::logical(2)?;
//! let shape = Shape::new(1, 1000, 4, 64);
//! let q = vec![0.1f32; shape.q_len()];
//! let kv = vec![0.2f32; shape.kv_len()];
//! let opts = RingOptions { attention: AttentionOptions { causal: true, ..Default::default() }, placement: Placement::Zigzag, ..Default::default() };
//! let out = ring.forward(&q, &kv, &kv, shape, Dtype::F32, &opts)?;
//! println!("{} bytes moved at {:.2} GB/s", out.stats.bytes_moved, out.stats.gbps());
//! # Ok(()) }
//! ```
//!
//! Devices exchange K/V through host memory (wgpu has no peer-to-peer copies): a
//! block is copied into a `MAP_READ` staging buffer, mapped, handed to the next
//! device's host thread and written into that device's second K/V slot while it
//! still computes on the first. Each device runs in its own host thread, so the
//! devices compute and copy in parallel. Buffers are reused across steps and across
//! calls with the same layout.
//!
//! Memory per device is O(n/N): its Q chunk(s), their running f32 (O, LSE), one
//! partial (O, LSE), two K/V slots and one staging buffer ([`RingStats::peak_bytes`]).

pub mod placement;
mod scheduler;
mod transport;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use placement::{split, Layout, Placement, Plan, Visibility};

use crate::attention::AttentionOptions;
use crate::context::{enumerate_adapters, sort_adapters, GpuContext, DEFAULT_TIMEOUT};
use crate::error::{Error, Result};
use crate::kernels::Tier;
use crate::tensor::{Dtype, Shape};

/// Options of one ring call.
#[derive(Clone, Debug)]
pub struct RingOptions {
    /// Causal mask, scale and tier, as for single-device [`crate::Attention`]. The tier
    /// is resolved per device (mixed adapters may run different tiers).
    pub attention: AttentionOptions,
    pub placement: Placement,
    /// Longest any device may wait for its GPU or for a neighbour before the ring
    /// fails with [`Error::Timeout`] (wrapped in [`Error::Ring`]).
    pub timeout: Duration,
    /// **For tests only**: device `d` fails with an injected error at the start of
    /// step `s` when this is `Some((d, s))`. Exercises the fault path (every other
    /// device stops, the call returns `Error::Ring { device: d, step: s, .. }`).
    pub fail_at: Option<(usize, usize)>,
}

impl Default for RingOptions {
    fn default() -> Self {
        RingOptions { attention: AttentionOptions::default(), placement: Placement::default(), timeout: DEFAULT_TIMEOUT, fail_at: None }
    }
}

/// What a ring call measured.
#[derive(Clone, Debug, Default)]
pub struct RingStats {
    pub devices: usize,
    /// Ring steps (= devices).
    pub steps: usize,
    pub placement: Placement,
    /// (query chunk, key chunk) attention launches run, and those skipped because
    /// fully masked or empty.
    pub pairs_computed: usize,
    pub pairs_skipped: usize,
    /// Block hand-offs made, and those skipped because no later step needed the block.
    pub transfers: usize,
    pub transfers_skipped: usize,
    /// Bytes of K/V that went device -> host -> device, all devices together.
    pub bytes_moved: u64,
    /// Per device: bytes it sent, and host time spent moving blocks (submitting the
    /// copy to staging, waiting for and reading the mapped staging buffer, writing the
    /// received block); time spent waiting for a neighbour is not included.
    pub bytes_sent: Vec<u64>,
    pub transport_seconds: Vec<f64>,
    /// Per device: bytes of the buffers the ring holds on it (Q, running and partial
    /// O/LSE, two K/V slots, staging, f16 outputs) plus the largest readback staging.
    /// All live for the whole call, so this is the peak; excludes the few-byte uniform
    /// blocks of each launch. The buffers are kept for the next call with the same
    /// layout ([`RingAttention::release_buffers`] frees them).
    pub peak_bytes: Vec<u64>,
    /// Per device: the kernel tier that ran.
    pub tiers: Vec<Tier>,
    /// Wall time of the whole call (setup, steps, readback).
    pub wall_seconds: f64,
}

impl RingStats {
    /// Mean throughput of one device-to-device link in GB/s (10^9 bytes/s): bytes
    /// moved over the time devices spent moving them. Links run in parallel, so the
    /// ring as a whole moves about `devices` times this.
    pub fn gbps(&self) -> f64 {
        let t: f64 = self.transport_seconds.iter().sum();
        if t > 0.0 {
            self.bytes_moved as f64 / t / 1e9
        } else {
            0.0
        }
    }
}

/// The output of a ring call, in the caller's order: O (batch, seq_q, heads,
/// head_dim) as f32 (for f16 runs, the f16 values widened exactly) and LSE (batch,
/// heads, seq_q). Fresh host vectors, returned only when every device succeeded.
#[derive(Clone, Debug)]
pub struct RingOutput {
    pub o: Vec<f32>,
    pub lse: Vec<f32>,
    pub stats: RingStats,
}

/// Attention over a ring of devices.
pub struct RingAttention {
    contexts: Vec<Arc<GpuContext>>,
    note: Option<String>,
    /// Per device: the buffers of the last call, reused by the next call with the same
    /// shape, dtype and placement. Taken out for the duration of a call (a concurrent
    /// call on the same ring allocates its own).
    workspaces: Mutex<Vec<Option<scheduler::Workspace>>>,
}

impl std::fmt::Debug for RingAttention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingAttention").field("devices", &self.describe()).field("note", &self.note).finish()
    }
}

impl RingAttention {
    /// A ring over the given contexts, in ring order. Adapters, backends and vendors
    /// may be mixed.
    pub fn new(contexts: Vec<GpuContext>) -> Result<Self> {
        Self::from_arcs(contexts.into_iter().map(Arc::new).collect())
    }

    /// A ring over shared contexts (the application may keep using them).
    pub fn from_arcs(contexts: Vec<Arc<GpuContext>>) -> Result<Self> {
        if contexts.is_empty() {
            return Err(Error::InvalidArgument("a ring needs at least one device".into()));
        }
        Ok(RingAttention { contexts, note: None, workspaces: Mutex::new(Vec::new()) })
    }

    /// `n` logical devices on the preferred adapter (see [`GpuContext::new`]): for
    /// tests, and to run a ring on a machine with one GPU.
    pub fn logical(n: usize) -> Result<Self> {
        Self::logical_on(GpuContext::new()?, n)
    }

    /// `n` logical devices on `first`'s adapter: `first` plus `n - 1` more devices
    /// requested from the same adapter (wgpu allows several devices per adapter).
    pub fn logical_on(first: GpuContext, n: usize) -> Result<Self> {
        if n == 0 {
            return Err(Error::InvalidArgument("a ring needs at least one device".into()));
        }
        let adapter = first
            .adapter()
            .cloned()
            .ok_or_else(|| Error::InvalidArgument("logical devices need a context created from an adapter (not GpuContext::from_device)".into()))?;
        let mut contexts = vec![Arc::new(first)];
        for _ in 1..n {
            contexts.push(Arc::new(GpuContext::from_adapter(adapter.clone())?));
        }
        let mut r = Self::from_arcs(contexts)?;
        r.note = Some(format!("{n} logical devices on one adapter ({})", r.contexts[0].describe()));
        Ok(r)
    }

    /// Every discrete or integrated GPU adapter of the preferred backend (the backend
    /// of the best-ranked GPU; `WGPU_BACKEND` narrows the choice), one device each.
    /// With no GPU adapter (a CPU-only machine) it falls back to 2 logical devices on
    /// the preferred adapter; [`RingAttention::fallback`] then says so.
    pub fn all_adapters() -> Result<Self> {
        let mut adapters = enumerate_adapters();
        adapters.retain(|a| {
            let t = a.get_info().device_type;
            a.get_info().backend != wgpu::Backend::Noop && matches!(t, wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu)
        });
        sort_adapters(&mut adapters);
        let Some(backend) = adapters.first().map(|a| a.get_info().backend) else {
            let mut r = Self::logical(2)?;
            r.note = Some(format!("no GPU adapter found: using 2 logical devices on {}", r.contexts[0].describe()));
            return Ok(r);
        };
        adapters.retain(|a| a.get_info().backend == backend);
        let contexts = adapters.into_iter().map(GpuContext::from_adapter).collect::<Result<Vec<_>>>()?;
        Self::new(contexts)
    }

    /// Why the ring is not what was asked for, or how it was made up (logical devices
    /// on one adapter, the CPU-only fallback of [`RingAttention::all_adapters`]).
    pub fn fallback(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.contexts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }
    pub fn contexts(&self) -> &[Arc<GpuContext>] {
        &self.contexts
    }
    /// Frees the buffers kept from the last call (they are reused by the next call
    /// with the same shape, dtype and placement).
    pub fn release_buffers(&self) {
        self.workspaces.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// One line per device.
    pub fn describe(&self) -> Vec<String> {
        self.contexts.iter().enumerate().map(|(i, c)| format!("device {i}: {}", c.describe())).collect()
    }

    /// Ring attention on host data: Q (batch, seq_q, heads, head_dim), K and V
    /// (batch, seq_k, kv_heads, head_dim), computed in `dtype` (f16 rounds the inputs
    /// on upload, accumulation is f32). Each device receives only its own chunks.
    ///
    /// Any failure on any device returns [`Error::Ring`] naming the device and step
    /// (setup counts as step 0, the final readback as the last step); no output is
    /// returned then. The devices stay usable: every buffer belongs to this call.
    pub fn forward(&self, q: &[f32], k: &[f32], v: &[f32], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<RingOutput> {
        let t0 = Instant::now();
        shape.validate()?;
        for (what, got, want) in [("q", q.len(), shape.q_len()), ("k", k.len(), shape.kv_len()), ("v", v.len(), shape.kv_len())] {
            if got != want {
                return Err(Error::WrongSize { what, expected: want as u64, got: got as u64, unit: "elements" });
            }
        }
        let scale = opts.attention.scale.unwrap_or(1.0 / (shape.head_dim as f32).sqrt());
        if !scale.is_finite() {
            return Err(Error::InvalidArgument(format!("scale must be finite, got {scale}")));
        }
        let n = self.len();
        if shape.seq_q.max(shape.seq_k) > u32::MAX as usize / 2 {
            return Err(Error::InvalidArgument("sequence too long for u32 positions".into()));
        }
        let plan = Plan::new(shape.seq_q, shape.seq_k, n, opts.placement, opts.attention.causal);
        let max_block = 2 * plan.kv.chunks_per_block() * plan.kv.max_chunk() * shape.batch * shape.kv_heads * shape.head_dim * dtype.size() as usize;
        let (outs, ins) = transport::ring_links(n, max_block);
        let abort = AtomicBool::new(false);
        let job = scheduler::Job { plan: &plan, shape, dtype, q, k, v, scale, opts, abort: &abort };
        let mut workspaces = std::mem::take(&mut *self.workspaces.lock().unwrap_or_else(|p| p.into_inner()));
        workspaces.resize_with(n, || None);

        let results: Vec<std::result::Result<scheduler::DeviceReport, scheduler::Failure>> = std::thread::scope(|sc| {
            let handles: Vec<_> = self
                .contexts
                .iter()
                .zip(outs)
                .zip(ins)
                .zip(workspaces.iter_mut())
                .enumerate()
                .map(|(i, (((ctx, out), inbox), ws))| {
                    let job = &job;
                    std::thread::Builder::new().name(format!("ringattn-ring-{i}")).spawn_scoped(sc, move || {
                        let r = scheduler::run_device(i, ctx, job, out, inbox, ws);
                        if r.is_err() {
                            job.abort.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        r
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| match h {
                    Ok(h) => h.join().unwrap_or_else(|_| {
                        abort.store(true, std::sync::atomic::Ordering::Relaxed);
                        Err(scheduler::Failure { step: 0, error: Error::InvalidArgument("ring worker thread panicked".into()), secondary: false })
                    }),
                    Err(e) => Err(scheduler::Failure {
                        step: 0,
                        error: Error::InvalidArgument(format!("could not start a ring thread: {e}")),
                        secondary: false,
                    }),
                })
                .collect()
        });

        // The root cause: the earliest failure that was not a reaction to another one.
        let mut failures: Vec<(usize, scheduler::Failure)> = Vec::new();
        let mut reports = Vec::with_capacity(n);
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(rep) => reports.push(rep),
                Err(f) => failures.push((i, f)),
            }
        }
        if !failures.is_empty() {
            // A failed call may leave buffers mid-transfer (a mapped staging buffer):
            // drop every workspace; the next call allocates fresh ones.
            drop(workspaces);
            failures.sort_by_key(|(i, f)| (f.secondary, f.step, *i));
            let (device, f) = failures.swap_remove(0);
            return Err(Error::Ring { device, step: f.step, source: Box::new(f.error) });
        }

        let (b, h, d, nq) = (shape.batch, shape.heads, shape.head_dim, shape.seq_q);
        let mut o = vec![0.0f32; shape.q_len()];
        let mut lse = vec![f32::NEG_INFINITY; shape.lse_len()];
        for rep in &reports {
            for (rows, co, cl) in &rep.chunks {
                let len = rows.len();
                for bi in 0..b {
                    let dst = (bi * nq + rows.start) * h * d;
                    o[dst..dst + len * h * d].copy_from_slice(&co[bi * len * h * d..(bi + 1) * len * h * d]);
                    for hi in 0..h {
                        let dst = (bi * h + hi) * nq + rows.start;
                        let src = (bi * h + hi) * len;
                        lse[dst..dst + len].copy_from_slice(&cl[src..src + len]);
                    }
                }
            }
        }
        *self.workspaces.lock().unwrap_or_else(|p| p.into_inner()) = workspaces;
        let (pairs_computed, pairs_skipped) = plan.pair_counts();
        let (transfers, transfers_skipped) = plan.transfer_counts();
        let bytes_sent: Vec<u64> = reports.iter().map(|r| r.bytes_sent).collect();
        let stats = RingStats {
            devices: n,
            steps: plan.steps(),
            placement: opts.placement,
            pairs_computed,
            pairs_skipped,
            transfers,
            transfers_skipped,
            bytes_moved: bytes_sent.iter().sum(),
            bytes_sent,
            transport_seconds: reports.iter().map(|r| r.transport.as_secs_f64()).collect(),
            peak_bytes: reports.iter().map(|r| r.peak_bytes).collect(),
            tiers: reports.iter().map(|r| r.tier).collect(),
            wall_seconds: t0.elapsed().as_secs_f64(),
        };
        Ok(RingOutput { o, lse, stats })
    }
}
