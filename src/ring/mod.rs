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

#[cfg(feature = "mpi")]
pub mod mpi;
pub mod placement;
mod scheduler;
mod transport;

use std::ops::Range;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use placement::{split, Layout, Placement, Plan, Visibility};
pub use transport::{recv_staging_memory, ExchangeTimes, StagingMemory};

use crate::attention::AttentionOptions;
use crate::context::{enumerate_adapters, sort_adapters, GpuContext, DEFAULT_TIMEOUT};
use crate::error::{Error, Result};
use crate::kernels::Tier;
use crate::mask::BlockMask;
use crate::order::Permutation;

/// Host element types the uploads take (f32 or f16), converted to the GPU dtype.
pub(crate) trait HostElem: Copy + bytemuck::Pod + Send + Sync {
    fn to_dtype_bytes(src: &[Self], dtype: Dtype) -> Vec<u8>;
}

impl HostElem for f32 {
    fn to_dtype_bytes(src: &[f32], dtype: Dtype) -> Vec<u8> {
        match dtype {
            Dtype::F32 => bytemuck::cast_slice(src).to_vec(),
            Dtype::F16 => src.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect(),
        }
    }
}

impl HostElem for f16 {
    fn to_dtype_bytes(src: &[f16], dtype: Dtype) -> Vec<u8> {
        match dtype {
            Dtype::F16 => bytemuck::cast_slice(src).to_vec(),
            Dtype::F32 => src.iter().flat_map(|&v| v.to_f32().to_le_bytes()).collect(),
        }
    }
}

/// Rows `r` of batch element `b` of a (batch, n, ...) host array with `row` elements per
/// token, as bytes of `dtype`.
pub(crate) fn chunk_bytes<T: HostElem>(x: &[T], b: usize, n: usize, row: usize, r: &Range<usize>, dtype: Dtype) -> Vec<u8> {
    T::to_dtype_bytes(&x[(b * n + r.start) * row..(b * n + r.end) * row], dtype)
}
use crate::tensor::{Dtype, GpuTensor, LseBuffer, Shape};
use half::f16;

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
    /// **For tests only**: device `d`'s process aborts at the start of step `s` (as if
    /// killed), for testing how the other MPI ranks react.
    pub crash_at: Option<(usize, usize)>,
    /// **For tests only**: device `d` stops responding at the start of step `s` (its
    /// thread sleeps until twice the timeout has passed, then fails): the others must
    /// fail with a timeout instead of hanging.
    pub stall_at: Option<(usize, usize)>,
    /// Block-sparse mask over the whole problem (seq_q x seq_k, global positions),
    /// applied on top of `attention.causal`. Chunks are then cut at multiples of the
    /// mask's block size, and (query chunk, key chunk) pairs the mask leaves empty are
    /// skipped, with the transfers no later step needs. Each device uploads the mask.
    pub mask: Option<Arc<BlockMask>>,
    /// **Hilbert-range placement**: tokens are put into this order before placement
    /// (e.g. `Order::Hilbert2d { height, width }.permutation(seq)`), so with contiguous
    /// placement every device owns one contiguous range of the curve — a spatially
    /// compact region of the grid. [`RingAttention::forward`] and
    /// [`RingAttention::download`] answer in the caller's order; shards and on-device
    /// outputs are in the permuted order (their `rows` are permuted positions). With
    /// `attention.causal`, the causal mask stays in the caller's order: it is applied as
    /// a block mask in the permuted coordinates (64-token blocks; pairs and transfers
    /// it leaves empty are skipped). `mask`, given in the caller's order too, is carried
    /// into the permuted coordinates the same way (`Permutation::mask_patterns`; with
    /// causal, both apply). Self-attention only (seq_q == seq_k).
    pub order: Option<Arc<Permutation>>,
    /// Bytes per piece of a K/V block in flight (rounded up to 256; default 16 MiB):
    /// pieces are copied device -> host -> device one after the other, so the copies of
    /// consecutive pieces overlap.
    pub piece_bytes: Option<u64>,
    /// Record when each step's attention launches ran on every device's GPU (timestamp
    /// queries around the step's compute; [`RingStats::gpu_steps`]). Off by default;
    /// devices without `TIMESTAMP_QUERY` report nothing.
    pub gpu_timeline: bool,
}

impl Default for RingOptions {
    fn default() -> Self {
        RingOptions {
            attention: AttentionOptions::default(),
            placement: Placement::default(),
            timeout: DEFAULT_TIMEOUT,
            fail_at: None,
            crash_at: None,
            stall_at: None,
            mask: None,
            order: None,
            piece_bytes: None,
            gpu_timeline: false,
        }
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
    /// Per device: bytes it sent.
    pub bytes_sent: Vec<u64>,
    /// Per device: host time spent copying the pieces it received from the mapped
    /// staging of the previous device into its own mapped staging and submitting the
    /// GPU copies (waits for the neighbour excluded).
    pub recv_seconds: Vec<f64>,
    /// Per device: host time of its exchanges (handing out its pieces as they are
    /// mapped, copying in the pieces it receives), waits for the GPU and the neighbours
    /// included.
    pub exchange_seconds: Vec<f64>,
    /// Per device: bytes of the buffers the ring call uses on it: its shard (Q and its
    /// starting K/V), its outputs, and the workspace (f32 running O/LSE of f16 runs,
    /// one partial O/LSE, the rotating K/V slots, send and receive staging). All live
    /// for the whole call, so this is the peak; excludes the few-byte uniform blocks of
    /// each launch and, for [`RingAttention::forward`], the readback staging. The
    /// workspace is kept for the next call with the same layout
    /// ([`RingAttention::release_buffers`] frees it).
    pub peak_bytes: Vec<u64>,
    /// Per device: the kernel tier that ran.
    pub tiers: Vec<Tier>,
    /// Per device, with [`RingOptions::gpu_timeline`]: per step, when its attention
    /// launches began and ended on the device's GPU, in seconds from the start of the
    /// device's first step's launches (`None`: a step with nothing to compute). Gaps
    /// between steps are GPU time spent on other work (the K/V copies in and out, where
    /// they share wgpu's queue: devices without DMA queues, `crate::dma`) or waiting for
    /// the host. Empty without the option or without timestamp queries.
    pub gpu_steps: Vec<Vec<Option<(f64, f64)>>>,
    /// Bytes per piece of a block in flight.
    pub piece_bytes: u64,
    /// How blocks travelled between in-process devices (MPI hops: `Device`).
    pub staging: StagingMemory,
    /// Wall time this call spent setting up shared staging (allocating, importing and
    /// so pinning host memory; 0 when the last call's was reused).
    pub staging_setup_seconds: f64,
    /// Wall time of the ring itself: from the start of the call on GPU-resident shards
    /// until every device's outputs are computed.
    pub ring_seconds: f64,
    /// Wall time of the whole call ([`RingAttention::forward`]: upload, ring and
    /// download; [`RingAttention::forward_shards`]: the same as `ring_seconds`).
    pub wall_seconds: f64,
}

impl RingStats {
    /// Host copy rate of one link in GB/s (10^9 bytes/s): bytes moved over the host
    /// time receivers spent copying them ([`RingStats::recv_seconds`]). Links run in
    /// parallel, so the ring as a whole moves about `devices` times this. The end-to-end
    /// rate of a link, GPU copies included, is what
    /// [`RingAttention::measure_transport`] reports. 0 with shared staging (no host copy).
    pub fn gbps(&self) -> f64 {
        let t: f64 = self.recv_seconds.iter().sum();
        if t > 0.0 && self.staging != StagingMemory::Shared {
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
    workspaces: scheduler::Workspaces,
    /// The host memory of each link when the staging is shared.
    shared: transport::SharedCache,
    /// The mask in curve coordinates of the last `RingOptions::order` used with causal
    /// attention or a mask: (permutation, the caller's mask, causal, mask in curve order).
    order_masks: Mutex<Option<OrderMask>>,
}

pub(crate) type OrderMask = (Arc<Permutation>, Option<Arc<BlockMask>>, bool, Arc<BlockMask>);

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
        Ok(RingAttention { contexts, note: None, workspaces: Default::default(), shared: Default::default(), order_masks: Mutex::new(None) })
    }

    /// `n` logical devices on the preferred adapter (see [`GpuContext::new`]): for
    /// tests, and to run a ring on a machine with one GPU.
    pub fn logical(n: usize) -> Result<Self> {
        Self::logical_on(GpuContext::new()?, n)
    }

    /// `n` logical devices on `first`'s adapter: `first` plus `n - 1` more devices
    /// requested from the same adapter (wgpu allows several devices per adapter).
    pub fn logical_on(first: GpuContext, n: usize) -> Result<Self> {
        let mut r = Self::new(logical_contexts(first, n)?)?;
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
        self.workspaces.clear();
        self.shared.clear();
    }

    /// How K/V blocks travel between this ring's devices (see [`StagingMemory`]).
    pub fn staging(&self) -> Result<StagingMemory> {
        self.shared.kind(&self.contexts)
    }

    /// Why this ring gave up shared staging (setting up its host memory failed at a
    /// call, which then used staging of its own, as do all later calls); None if it
    /// did not.
    pub fn shared_staging_error(&self) -> Option<String> {
        self.shared.gave_up()
    }

    /// Host bytes of the shared staging kept for the next call (0 without one).
    pub fn shared_staging_bytes(&self) -> u64 {
        self.shared.bytes()
    }

    /// One line per device.
    pub fn describe(&self) -> Vec<String> {
        self.contexts.iter().enumerate().map(|(i, c)| format!("device {i}: {}", c.describe())).collect()
    }

    /// Uploads host data as one shard per device, for [`RingAttention::forward_shards`]:
    /// device i receives only its own chunks of Q (batch, seq_q, heads, head_dim) and of
    /// K and V (batch, seq_k, kv_heads, head_dim), in `dtype` (f16 rounds on upload).
    /// The chunks follow `opts.placement` (and `opts.mask`'s block size, if any): pass
    /// the same options to `forward_shards`. The devices upload in parallel.
    pub fn upload(&self, q: &[f32], k: &[f32], v: &[f32], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<Vec<RingShard>> {
        self.upload_host(q, k, v, shape, dtype, opts)
    }

    /// [`RingAttention::upload`] from f16 host data.
    pub fn upload_f16(&self, q: &[f16], k: &[f16], v: &[f16], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<Vec<RingShard>> {
        self.upload_host(q, k, v, shape, dtype, opts)
    }

    fn upload_host<T: HostElem>(&self, q: &[T], k: &[T], v: &[T], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<Vec<RingShard>> {
        check_host_lens(q.len(), k.len(), v.len(), &shape)?;
        let resolved = self.resolve_order(opts, &shape)?;
        let permuted;
        let (q, k, v) = match &opts.order {
            Some(p) => {
                permuted = permute_inputs(p, q, k, v, &shape)?;
                (&permuted.0[..], &permuted.1[..], &permuted.2[..])
            }
            None => (q, k, v),
        };
        let opts = resolved.as_ref().unwrap_or(opts);
        self.upload_with(shape, dtype, opts, |which, b, n, row, r| chunk_bytes([q, k, v][which], b, n, row, r, dtype))
    }

    /// `bytes(which, batch_index, seq_len, row_elems, rows)`: the bytes of rows `rows`
    /// of batch `batch_index` of q (0), k (1) or v (2), in `dtype`.
    fn upload_with(
        &self,
        shape: Shape,
        dtype: Dtype,
        opts: &RingOptions,
        bytes: impl Fn(usize, usize, usize, usize, &Range<usize>) -> Vec<u8> + Sync,
    ) -> Result<Vec<RingShard>> {
        shape.validate()?;
        let n = self.len();
        let plan = Plan::masked(shape.seq_q, shape.seq_k, n, opts.placement, false, opts.mask.clone());
        let one = |i: usize, ctx: &GpuContext| -> Result<RingShard> { upload_shard(ctx, i, &plan, shape, dtype, &bytes) };
        let one = &one;
        std::thread::scope(|sc| {
            let hs: Vec<_> = self.contexts.iter().enumerate().map(|(i, ctx)| sc.spawn(move || one(i, ctx))).collect();
            hs.into_iter()
                .enumerate()
                .map(|(i, h)| {
                    h.join().unwrap_or_else(|_| Err(Error::InvalidArgument("ring upload thread panicked".into()))).map_err(|e| Error::Ring {
                        device: i,
                        step: 0,
                        source: Box::new(e),
                    })
                })
                .collect()
        })
    }

    /// Downloads the outputs of [`RingAttention::forward_shards`] into host vectors in
    /// the caller's order: O (batch, seq_q, heads, head_dim) as f32 (f16 values widened
    /// exactly) and LSE (batch, heads, seq_q).
    pub fn download(&self, out: &RingGpuOutput, shape: Shape) -> Result<(Vec<f32>, Vec<f32>)> {
        if out.shards.len() != self.len() {
            return Err(Error::InvalidArgument(format!("{} output shards for a ring of {} devices", out.shards.len(), self.len())));
        }
        let (b, h, d, nq) = (shape.batch, shape.heads, shape.head_dim, shape.seq_q);
        type Chunk = (Range<usize>, Vec<f32>, Vec<f32>);
        let per_device: Vec<Result<Vec<Chunk>>> = std::thread::scope(|sc| {
            let hs: Vec<_> = self
                .contexts
                .iter()
                .zip(&out.shards)
                .map(|(ctx, sh)| {
                    sc.spawn(move || -> Result<Vec<Chunk>> {
                        let mut v = Vec::new();
                        for ((r, o), l) in sh.rows.iter().zip(&sh.o).zip(&sh.lse) {
                            if let (Some(o), Some(l)) = (o, l) {
                                v.push((r.clone(), o.to_f32_vec(ctx)?, l.to_vec(ctx)?));
                            }
                        }
                        Ok(v)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Error::InvalidArgument("ring download thread panicked".into())))).collect()
        });
        let mut o = vec![0.0f32; shape.q_len()];
        let mut lse = vec![f32::NEG_INFINITY; shape.lse_len()];
        for (device, chunks) in per_device.into_iter().enumerate() {
            let chunks = chunks.map_err(|e| Error::Ring { device, step: self.len().saturating_sub(1), source: Box::new(e) })?;
            for (rows, co, cl) in chunks {
                let len = rows.len();
                if rows.end > nq || co.len() != b * len * h * d || cl.len() != b * h * len {
                    return Err(Error::ShapeMismatch {
                        what: "ring output shard",
                        expected: format!("rows within 0..{nq} of ({b}, rows, {h}, {d})"),
                        got: format!("rows {rows:?}, {} O and {} LSE values", co.len(), cl.len()),
                    });
                }
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
        if let Some(p) = &out.order {
            // Back to the caller's order: O rows of h*d values per batch, LSE rows of one
            // value per (batch, head).
            return Ok((p.unapply(&o, h * d)?, p.unapply(&lse, 1)?));
        }
        Ok((o, lse))
    }

    /// With `RingOptions::order`: the options the ring actually runs (see
    /// [`resolve_order`]), or `None` without an order.
    fn resolve_order(&self, opts: &RingOptions, shape: &Shape) -> Result<Option<RingOptions>> {
        resolve_order(opts, shape, &self.order_masks)
    }

    /// Ring attention on host data: Q (batch, seq_q, heads, head_dim), K and V
    /// (batch, seq_k, kv_heads, head_dim), computed in `dtype` (f16 rounds the inputs
    /// on upload, accumulation is f32). Each device receives only its own chunks
    /// ([`RingAttention::upload`]), runs [`RingAttention::forward_shards`], and the
    /// outputs come back in the caller's order ([`RingAttention::download`]).
    ///
    /// Any failure on any device returns [`Error::Ring`] naming the device and step
    /// (setup counts as step 0, the final readback as the last step); no output is
    /// returned then. The devices stay usable: every buffer belongs to this call.
    pub fn forward(&self, q: &[f32], k: &[f32], v: &[f32], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<RingOutput> {
        let t0 = Instant::now();
        shape.validate()?;
        check_host_lens(q.len(), k.len(), v.len(), &shape)?;
        check_scale(&shape, opts)?;
        let shards = self.upload(q, k, v, shape, dtype, opts)?;
        let gpu = self.forward_shards(&shards, shape, dtype, opts)?;
        drop(shards);
        let (o, lse) = self.download(&gpu, shape)?;
        let mut stats = gpu.stats;
        for (p, sh) in stats.peak_bytes.iter_mut().zip(&gpu.shards) {
            *p += sh.o.iter().flatten().map(|t| t.size_bytes()).max().unwrap_or(0);
        }
        stats.wall_seconds = t0.elapsed().as_secs_f64();
        Ok(RingOutput { o, lse, stats })
    }

    /// Ring attention on GPU-resident shards (one per device, from
    /// [`RingAttention::upload`] or built by the application in the same layout, see
    /// [`RingShard`]). Outputs stay on the devices, one (O, LSE) per own query chunk
    /// ([`RingShardOutput`]); the call returns when they are computed. Nothing is
    /// copied but the K/V blocks that travel: step 0 attends to the shard's own K/V
    /// tensors in place.
    pub fn forward_shards(&self, shards: &[RingShard], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<RingGpuOutput> {
        let t0 = Instant::now();
        shape.validate()?;
        let user_opts = opts;
        let resolved = self.resolve_order(opts, &shape)?;
        let opts = resolved.as_ref().unwrap_or(opts);
        let scale = check_scale(&shape, opts)?;
        let n = self.len();
        if shape.seq_q.max(shape.seq_k) > u32::MAX as usize / 2 {
            return Err(Error::InvalidArgument("sequence too long for u32 positions".into()));
        }
        if let Some(m) = &opts.mask {
            check_mask(m, &shape)?;
        }
        let plan = Plan::masked(shape.seq_q, shape.seq_k, n, opts.placement, opts.attention.causal, opts.mask.clone());
        check_shards(shards, &plan, &shape, dtype)?;
        let max_block = scheduler::max_block_bytes(&plan, &shape, dtype);
        let piece = transport::piece_bytes(opts.piece_bytes, max_block.max(4));
        let (outs, ins) = transport::ring_links(n, transport::piece_count(max_block, piece));
        let abort = AtomicBool::new(false);
        let job = scheduler::Job { plan: &plan, shape, dtype, scale, opts, piece, threads: transport::copy_threads(n), abort: &abort };
        let mut workspaces = self.workspaces.take(n);
        let t_setup = Instant::now();
        let (kind, staging) = self.shared.staging(&self.contexts, max_block, piece, true)?;
        let staging_setup = t_setup.elapsed().as_secs_f64();

        let devices = self
            .contexts
            .iter()
            .zip(outs)
            .zip(ins)
            .zip(workspaces.iter_mut())
            .zip(staging)
            .enumerate()
            .map(|(i, ((((ctx, send), recv), workspace), staging))| scheduler::DeviceRun {
                index: i,
                ctx,
                shard: &shards[i],
                link: transport::Link { send, recv },
                workspace,
                staging,
            })
            .collect();
        // A failed call may leave buffers mid-transfer (a mapped staging buffer, a copy
        // into shared host memory): then every workspace and the shared staging are
        // dropped, and the next call allocates fresh ones.
        let reports = scheduler::run_devices(&job, devices).inspect_err(|_| self.shared.clear())?;
        self.workspaces.put(workspaces);
        let mut stats = RingStats::from_reports(&plan, opts.placement, &reports, (piece, kind), t0.elapsed().as_secs_f64());
        stats.staging_setup_seconds = staging_setup;
        Ok(RingGpuOutput { shards: reports.into_iter().map(|r| r.output).collect(), stats, order: user_opts.order.clone() })
    }
}

/// `first` plus `n - 1` more devices requested from its adapter (wgpu allows several
/// devices per adapter): `n` logical devices.
pub(crate) fn logical_contexts(first: GpuContext, n: usize) -> Result<Vec<GpuContext>> {
    if n == 0 {
        return Err(Error::InvalidArgument("a ring needs at least one device".into()));
    }
    let adapter = first
        .adapter()
        .cloned()
        .ok_or_else(|| Error::InvalidArgument("logical devices need a context created from an adapter (not GpuContext::from_device)".into()))?;
    let mut contexts = vec![first];
    for _ in 1..n {
        contexts.push(GpuContext::from_adapter(adapter.clone())?);
    }
    Ok(contexts)
}

/// A token order applies to self-attention over exactly its tokens.
fn check_order(p: &Permutation, shape: &Shape) -> Result<()> {
    if shape.seq_q != shape.seq_k || p.len() != shape.seq_q {
        return Err(Error::InvalidArgument(format!(
            "RingOptions::order: a permutation of {} tokens needs self-attention over {} tokens (got seq_q {}, seq_k {})",
            p.len(),
            p.len(),
            shape.seq_q,
            shape.seq_k
        )));
    }
    Ok(())
}

/// Host Q, K and V in the order's coordinates.
#[allow(clippy::type_complexity)]
pub(crate) fn permute_inputs<T: Copy>(p: &Permutation, q: &[T], k: &[T], v: &[T], shape: &Shape) -> Result<(Vec<T>, Vec<T>, Vec<T>)> {
    check_order(p, shape)?;
    let (h, kvh, d) = (shape.heads, shape.kv_heads, shape.head_dim);
    Ok((p.apply(q, h * d)?, p.apply(k, kvh * d)?, p.apply(v, kvh * d)?))
}

/// With `RingOptions::order`: the options a ring actually runs (no order; the caller's
/// causal mask and/or block mask as one block mask in permuted coordinates), or `None`
/// without an order. The mask is built once per (order, mask, causal) and kept in `cache`.
pub(crate) fn resolve_order(opts: &RingOptions, shape: &Shape, cache: &Mutex<Option<OrderMask>>) -> Result<Option<RingOptions>> {
    let Some(p) = &opts.order else { return Ok(None) };
    check_order(p, shape)?;
    let mut r = opts.clone();
    r.order = None;
    let causal = opts.attention.causal;
    if causal || opts.mask.is_some() {
        // The caller's causal mask and/or block mask (both in the caller's order) as
        // one block mask in curve coordinates, built once per (order, mask, causal).
        const BLOCK: usize = 64;
        if let Some(m) = &opts.mask {
            check_mask(m, shape)?;
        }
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        let same_mask = |a: &Option<Arc<BlockMask>>| match (a, &opts.mask) {
            (None, None) => true,
            (Some(x), Some(y)) => Arc::ptr_eq(x, y),
            _ => false,
        };
        let hit = cache.as_ref().filter(|(q, m, c, _)| Arc::ptr_eq(q, p) && same_mask(m) && *c == causal).map(|e| e.3.clone());
        let mask = match hit {
            Some(m) => m,
            None => {
                let patterns = match &opts.mask {
                    None => vec![p.causal_pattern(BLOCK)?],
                    Some(m) if causal => {
                        p.mask_patterns(m, BLOCK)?.into_iter().map(|x| p.causal_pattern(BLOCK).map(|c| x.and(c))).collect::<Result<Vec<_>>>()?
                    }
                    Some(m) => p.mask_patterns(m, BLOCK)?,
                };
                let m = Arc::new(BlockMask::per_head(&patterns, shape.seq_q, shape.seq_k, BLOCK)?);
                *cache = Some((p.clone(), opts.mask.clone(), causal, m.clone()));
                m
            }
        };
        r.mask = Some(mask);
        r.attention.causal = false;
    }
    Ok(Some(r))
}

impl RingStats {
    /// The stats of one call from the plan and the reports of the devices that ran here
    /// (every device in process, this rank's one over MPI).
    pub(crate) fn from_reports(
        plan: &Plan,
        placement: Placement,
        reports: &[scheduler::DeviceReport],
        (piece, staging): (u64, StagingMemory),
        secs: f64,
    ) -> RingStats {
        let (pairs_computed, pairs_skipped) = plan.pair_counts();
        let (transfers, transfers_skipped) = plan.transfer_counts();
        let bytes_sent: Vec<u64> = reports.iter().map(|r| r.bytes_sent).collect();
        RingStats {
            devices: plan.devices(),
            steps: plan.steps(),
            placement,
            pairs_computed,
            pairs_skipped,
            transfers,
            transfers_skipped,
            bytes_moved: bytes_sent.iter().sum(),
            bytes_sent,
            recv_seconds: reports.iter().map(|r| r.recv_time.as_secs_f64()).collect(),
            exchange_seconds: reports.iter().map(|r| r.exchange_time.as_secs_f64()).collect(),
            peak_bytes: reports.iter().map(|r| r.peak_bytes).collect(),
            tiers: reports.iter().map(|r| r.tier).collect(),
            gpu_steps: if reports.iter().all(|r| r.gpu_steps.is_empty()) {
                Vec::new()
            } else {
                reports.iter().map(|r| r.gpu_steps.clone()).collect()
            },
            piece_bytes: piece,
            staging,
            staging_setup_seconds: 0.0,
            ring_seconds: secs,
            wall_seconds: secs,
        }
    }
}

/// `(which, batch_index, seq_len, row_elems, rows) -> bytes` of rows of q (0), k (1) or v (2).
pub(crate) type ChunkBytes<'a> = dyn Fn(usize, usize, usize, usize, &Range<usize>) -> Vec<u8> + Sync + 'a;

/// Device `i`'s chunks of the plan, uploaded to `ctx`; `bytes` as in `upload_with`.
pub(crate) fn upload_shard(ctx: &GpuContext, i: usize, plan: &Plan, shape: Shape, dtype: Dtype, bytes: &ChunkBytes<'_>) -> Result<RingShard> {
    let (b, h, kvh, d) = (shape.batch, shape.heads, shape.kv_heads, shape.head_dim);
    ctx.check_dtype(dtype, "ring attention")?;
    let chunk = |which: usize, r: &Range<usize>| -> Result<Option<GpuTensor>> {
        if r.is_empty() {
            return Ok(None);
        }
        let (n, heads) = if which == 0 { (shape.seq_q, h) } else { (shape.seq_k, kvh) };
        let t = GpuTensor::empty(ctx, [b, r.len(), heads, d], dtype)?;
        let mut data = Vec::with_capacity(t.size_bytes() as usize);
        for bi in 0..b {
            data.extend_from_slice(&bytes(which, bi, n, heads * d, r));
        }
        ctx.write_bytes(t.buffer(), 0, &data)?;
        Ok(Some(t))
    };
    let q = plan.q.block(i).iter().map(|r| chunk(0, r)).collect::<Result<Vec<_>>>()?;
    let k = plan.kv.block(i).iter().map(|r| chunk(1, r)).collect::<Result<Vec<_>>>()?;
    let v = plan.kv.block(i).iter().map(|r| chunk(2, r)).collect::<Result<Vec<_>>>()?;
    ctx.wait()?;
    Ok(RingShard { q, k, v })
}

pub(crate) fn check_mask(m: &BlockMask, shape: &Shape) -> Result<()> {
    if m.seq_q() != shape.seq_q || m.seq_k() != shape.seq_k || (m.heads() != 1 && m.heads() != shape.heads) {
        return Err(Error::ShapeMismatch {
            what: "ring block mask",
            expected: format!("{} x {} with 1 or {} heads", shape.seq_q, shape.seq_k, shape.heads),
            got: format!("{} x {} with {} heads", m.seq_q(), m.seq_k(), m.heads()),
        });
    }
    Ok(())
}

pub(crate) fn check_host_lens(q: usize, k: usize, v: usize, shape: &Shape) -> Result<()> {
    for (what, got, want) in [("q", q, shape.q_len()), ("k", k, shape.kv_len()), ("v", v, shape.kv_len())] {
        if got != want {
            return Err(Error::WrongSize { what, expected: want as u64, got: got as u64, unit: "elements" });
        }
    }
    Ok(())
}

pub(crate) fn check_scale(shape: &Shape, opts: &RingOptions) -> Result<f32> {
    let scale = opts.attention.scale.unwrap_or(1.0 / (shape.head_dim as f32).sqrt());
    if !scale.is_finite() {
        return Err(Error::InvalidArgument(format!("scale must be finite, got {scale}")));
    }
    Ok(scale)
}

/// Checks that every device's shard holds exactly its chunks of the plan.
fn check_shards(shards: &[RingShard], plan: &Plan, shape: &Shape, dtype: Dtype) -> Result<()> {
    let n = plan.devices();
    if shards.len() != n {
        return Err(Error::InvalidArgument(format!("{} shards for a ring of {n} devices", shards.len())));
    }
    shards.iter().enumerate().try_for_each(|(i, sh)| check_shard(sh, i, plan, shape, dtype))
}

/// Checks that device `i`'s shard holds exactly its chunks of the plan.
pub(crate) fn check_shard(sh: &RingShard, i: usize, plan: &Plan, shape: &Shape, dtype: Dtype) -> Result<()> {
    let (b, h, kvh, d) = (shape.batch, shape.heads, shape.kv_heads, shape.head_dim);
    for (what, tensors, ranges, heads) in [("q", &sh.q, plan.q.block(i), h), ("k", &sh.k, plan.kv.block(i), kvh), ("v", &sh.v, plan.kv.block(i), kvh)]
    {
        if tensors.len() != ranges.len() {
            return Err(Error::ShapeMismatch {
                what: "ring shard",
                expected: format!("{} {what} chunks on device {i} ({} placement)", ranges.len(), plan.q.placement),
                got: format!("{}", tensors.len()),
            });
        }
        for (t, r) in tensors.iter().zip(&ranges) {
            match t {
                None if r.is_empty() => {}
                Some(t) if !r.is_empty() && t.dims() == [b, r.len(), heads, d] && t.dtype() == dtype => {}
                _ => {
                    return Err(Error::ShapeMismatch {
                        what: "ring shard",
                        expected: format!(
                            "{what} rows {r:?} on device {i}: {}",
                            if r.is_empty() { "None".to_string() } else { format!("({b}, {}, {heads}, {d}) {}", r.len(), dtype.name()) }
                        ),
                        got: t.as_ref().map_or("None".to_string(), |t| format!("{:?} {}", t.dims(), t.dtype().name())),
                    })
                }
            }
        }
    }
    Ok(())
}

/// One device's share of a ring problem, on that device. The chunk lists follow the
/// placement ([`Plan`]): `q[i]` holds query rows `plan.q.block(device)[i]` as (batch,
/// rows, heads, head_dim), `k[i]` and `v[i]` key rows `plan.kv.block(device)[i]` as
/// (batch, rows, kv_heads, head_dim); empty chunks (sequences shorter than the chunk
/// count) are `None`. The tensors must live on that device.
#[derive(Clone, Debug)]
pub struct RingShard {
    pub q: Vec<Option<GpuTensor>>,
    pub k: Vec<Option<GpuTensor>>,
    pub v: Vec<Option<GpuTensor>>,
}

impl RingShard {
    /// Bytes of the shard's tensors.
    pub fn bytes(&self) -> u64 {
        self.q.iter().chain(&self.k).chain(&self.v).flatten().map(|t| t.size_bytes()).sum()
    }
}

/// One device's outputs: per own query chunk, its global rows, O (batch, rows, heads,
/// head_dim) in the run's dtype and LSE (batch, heads, rows) f32; `None` for empty
/// chunks. Fresh buffers of this call.
#[derive(Clone, Debug)]
pub struct RingShardOutput {
    pub rows: Vec<Range<usize>>,
    pub o: Vec<Option<GpuTensor>>,
    pub lse: Vec<Option<LseBuffer>>,
}

/// The outputs of [`RingAttention::forward_shards`], one per device, and the stats.
#[derive(Clone, Debug)]
pub struct RingGpuOutput {
    pub shards: Vec<RingShardOutput>,
    pub stats: RingStats,
    /// The token order the outputs are in (`RingOptions::order`); `download` undoes it.
    pub order: Option<Arc<Permutation>>,
}

/// What [`RingAttention::measure_transport`] measured.
#[derive(Clone, Debug)]
pub struct TransportReport {
    pub devices: usize,
    /// Bytes of the block each device sends at every step.
    pub block_bytes: u64,
    pub piece_bytes: u64,
    pub steps: usize,
    /// Wall time of all steps (every device sending and receiving at once), GPU copies
    /// into and out of the staging buffers included.
    pub seconds: f64,
    /// Per device, totals over the steps: where each exchange's time went, the time
    /// spent in `reclaim` (waiting for the receiver to finish with the previous block's
    /// pieces) before each step's send, and the time submitting the copies out (`begin`).
    pub stages: Vec<(ExchangeTimes, Duration, Duration)>,
    /// How the blocks travelled.
    pub staging: StagingMemory,
}

impl TransportReport {
    /// GB/s (10^9 bytes/s) of one link in one direction: each device sends one block
    /// to the next and receives one from the previous per step, all links at once.
    pub fn gbps_per_link(&self) -> f64 {
        self.block_bytes as f64 * self.steps as f64 / self.seconds / 1e9
    }
}

impl RingAttention {
    /// Measures the ring's transport alone: every device sends a block of
    /// `block_bytes` (rounded up to 4) to the next device `steps` times, through the
    /// same staging, pieces and threads as [`RingAttention::forward_shards`], with no
    /// compute. The received bytes are checked against what was sent (a mismatch is an
    /// error). Needs at least 2 devices.
    pub fn measure_transport(&self, block_bytes: u64, steps: usize, piece_bytes: Option<u64>, timeout: Duration) -> Result<TransportReport> {
        let n = self.len();
        if n < 2 || steps == 0 || block_bytes == 0 {
            return Err(Error::InvalidArgument(format!(
                "measure_transport needs >= 2 devices, >= 1 step and a block > 0 bytes (got {n}, {steps}, {block_bytes})"
            )));
        }
        let block = block_bytes.div_ceil(4) * 4;
        let piece = transport::piece_bytes(piece_bytes, block);
        let (outs, ins) = transport::ring_links(n, transport::piece_count(block, piece));
        let abort = AtomicBool::new(false);
        let threads = transport::copy_threads(n);
        let pattern = |dev: usize| -> Vec<u8> { (0..block as usize).map(|i| ((i * 131 + dev * 7919) % 251) as u8).collect() };
        let stopped = || Error::InvalidArgument("transport measurement stopped: another device failed or timed out".into());
        // Each device sets up, reports ready, waits for the common start time, runs the
        // steps and returns when its last copy has finished on its GPU.
        let (kind, staging) = self.shared.staging(&self.contexts, block, piece, true)?;
        let run = |i: usize,
                   ctx: &GpuContext,
                   out: transport::Outbox,
                   inbox: transport::Inbox,
                   shared: transport::SharedStaging,
                   ready: std::sync::mpsc::Sender<bool>,
                   start: std::sync::mpsc::Receiver<Instant>|
         -> Result<(Instant, ExchangeTimes, Duration, Duration)> {
            let setup = || -> Result<_> {
                let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
                // Shared with the DMA queue's family where the device has one (crate::dma).
                let src = crate::hostmem::shared_device_buffer(ctx, "ringattn transport src", block, usage)?;
                let dst = crate::hostmem::shared_device_buffer(ctx, "ringattn transport dst", block, usage)?;
                ctx.write_bytes(&src, 0, &pattern(i))?;
                // Submitted now: copies on a DMA queue read `src` without a submission of
                // wgpu's in between (crate::dma).
                ctx.scoped(|| ctx.queue().submit([]))?;
                let st = match shared.0 {
                    Some(st) => st,
                    None => transport::SendStaging::new(ctx, block, piece)?,
                };
                let rt = match shared.1 {
                    Some(rt) => rt,
                    None => transport::RecvStaging::new(ctx, block, piece, threads)?,
                };
                ctx.wait_timeout(timeout)?;
                Ok((src, dst, st, rt))
            };
            let (src, dst, mut st, mut rt) = match setup() {
                Ok(x) => {
                    let _ = ready.send(true);
                    x
                }
                Err(e) => {
                    let _ = ready.send(false);
                    return Err(e);
                }
            };
            start.recv_timeout(timeout).map_err(|_| stopped())?;
            let step_err = |e: transport::SendError| match e {
                transport::SendError::Gpu(e) => e,
                transport::SendError::Link(_) => stopped(),
            };
            let segs = [(&dst, block)];
            let mut link = transport::Link { send: out, recv: inbox };
            let (mut times, mut reclaim, mut begin) = (ExchangeTimes::default(), Duration::ZERO, Duration::ZERO);
            for _ in 0..steps {
                let t = Instant::now();
                link.reclaim(ctx, &mut st, false, timeout, &abort).map_err(|_| stopped())?;
                reclaim += t.elapsed();
                let t = Instant::now();
                let p = st.begin(ctx, &[(&src, block)])?;
                begin += t.elapsed();
                times.add(&link.exchange(ctx, Some((&mut st, p)), Some((&mut rt, &segs[..])), timeout, &abort).map_err(step_err)?);
            }
            link.reclaim(ctx, &mut st, true, timeout, &abort).map_err(|_| stopped())?;
            ctx.wait_timeout(timeout)?;
            let end = Instant::now();
            let got = ctx.read_bytes(&dst, 0, block)?;
            if got != pattern((i + n - 1) % n) {
                return Err(Error::Gpu {
                    adapter: ctx.name().to_string(),
                    message: "transport measurement: received bytes differ from those sent".into(),
                });
            }
            Ok((end, times, reclaim, begin))
        };
        let run = &run;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (t0, results) = std::thread::scope(|sc| {
            let mut starts = Vec::new();
            let hs: Vec<_> = self
                .contexts
                .iter()
                .zip(outs)
                .zip(ins)
                .zip(staging)
                .enumerate()
                .map(|(i, (((ctx, out), inbox), shared))| {
                    let (start_tx, start_rx) = std::sync::mpsc::channel();
                    starts.push(start_tx);
                    let (abort, ready) = (&abort, ready_tx.clone());
                    sc.spawn(move || {
                        let r = run(i, ctx, out, inbox, shared, ready, start_rx);
                        if r.is_err() {
                            abort.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        r
                    })
                })
                .collect();
            let all_ready = (0..n).all(|_| ready_rx.recv_timeout(timeout).unwrap_or(false));
            let t0 = Instant::now();
            if all_ready {
                for s in &starts {
                    let _ = s.send(t0);
                }
            }
            drop(starts);
            (
                t0,
                hs.into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(Error::InvalidArgument("transport thread panicked".into()))))
                    .collect::<Vec<_>>(),
            )
        });
        let mut end = t0;
        let mut stages = Vec::new();
        // Report the root cause: a device's own error before the others' reactions.
        let mut errs: Vec<(usize, Error)> = Vec::new();
        for (device, r) in results.into_iter().enumerate() {
            match r {
                Ok((e, times, reclaim, begin)) => {
                    end = end.max(e);
                    stages.push((times, reclaim, begin));
                }
                Err(e) => errs.push((device, e)),
            }
        }
        errs.sort_by_key(|(d, e)| (e.to_string().contains("transport measurement stopped"), *d));
        if let Some((device, e)) = errs.into_iter().next() {
            self.shared.clear();
            return Err(Error::Ring { device, step: 0, source: Box::new(e) });
        }
        let seconds = (end - t0).as_secs_f64();
        Ok(TransportReport { devices: n, block_bytes: block, piece_bytes: piece, steps, seconds, stages, staging: kind })
    }
}
