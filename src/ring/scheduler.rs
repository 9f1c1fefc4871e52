//! One device's part of a ring: run the steps on its shard, leave its queries'
//! (O, LSE) on the device.
//!
//! Every device runs this in its own host thread, so the devices compute, copy and
//! map in parallel. Per step `s`, device `i`:
//!
//! 1. takes back its send staging from the last block (the receiver has copied it)
//!    and submits the copies of the K/V block it holds into it, piece by piece
//!    (if a later step needs that block), *before* the compute, so on a GPU the
//!    copies finish first and the maps do not wait for the attention;
//! 2. submits the attention of its query chunks against the block's key chunks
//!    (`flash::encode` into a partial O/LSE, with the chunks' global positions in the
//!    causal frame) and the merge of each partial into the running f32 (O, LSE);
//!    fully masked or empty (query chunk, key chunk) pairs are skipped;
//! 3. hands each mapped piece to device `i + 1`;
//! 4. copies the pieces device `i - 1` hands over into its other K/V slot (double
//!    buffering: the slot computed on at step `s` is not written until the block
//!    after next arrives, and queue order puts that write after the compute).
//!
//! Step 0 computes on (and sends from) the caller's K/V tensors directly; the two
//! rotating slots hold the blocks of later steps.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::placement::Plan;
use super::transport::{Link, LinkError, RecvHalf, RecvStaging, SendError, SendHalf, SendStaging, SharedStaging};
use super::{RingOptions, RingShard, RingShardOutput};

use std::sync::Mutex;

use crate::attention::resolve_tier;
use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::kernels::flash::{self, CausalFrame, FlashArgs};
use crate::kernels::{merge, Tier};
use crate::mask::{BlockMask, GpuBlockMask};
use crate::tensor::{Dtype, GpuTensor, LseBuffer, Shape, TENSOR_USAGE};
use crate::timing::GpuTimer;

/// Everything the device threads share (read-only).
pub(crate) struct Job<'a> {
    pub plan: &'a Plan,
    pub shape: Shape,
    pub dtype: Dtype,
    pub scale: f32,
    pub opts: &'a RingOptions,
    /// Bytes per piece of a block in flight.
    pub piece: u64,
    /// Host threads per receiver for the staging copies.
    pub threads: usize,
    /// Set by the first thread that fails; the others stop at their next wait.
    pub abort: &'a AtomicBool,
}

/// Bytes of the largest K/V block one step moves (K and V of every chunk of a block,
/// each sized for the longest chunk): what the send and receive staging must hold.
pub(crate) fn max_block_bytes(plan: &Plan, shape: &Shape, dtype: Dtype) -> u64 {
    2 * plan.kv.chunks_per_block() as u64 * (plan.kv.max_chunk() * shape.batch * shape.kv_heads * shape.head_dim) as u64 * dtype.size()
}

/// What one device produced.
pub(crate) struct DeviceReport {
    pub output: RingShardOutput,
    pub bytes_sent: u64,
    /// Host time copying received pieces (mapped to mapped) and submitting them.
    pub recv_time: Duration,
    /// Host time of the exchanges (sending and receiving pieces), waits included.
    pub exchange_time: Duration,
    pub peak_bytes: u64,
    pub tier: Tier,
    /// Per step, its launches' GPU start and end ([`RingStats::gpu_steps`]); empty
    /// without [`RingOptions::gpu_timeline`] or timestamp queries.
    pub gpu_steps: Vec<Option<(f64, f64)>>,
}

/// Timestamps around each ring step's launches ([`RingOptions::gpu_timeline`]): a
/// [`GpuTimer`] pair per step, and which steps wrote theirs.
struct StepTimer {
    timer: GpuTimer,
    written: Vec<bool>,
}

impl StepTimer {
    /// `None` without timestamp queries.
    fn new(ctx: &GpuContext, steps: usize) -> Option<Self> {
        Some(StepTimer { timer: GpuTimer::pairs(ctx, steps)?, written: vec![false; steps] })
    }

    /// The timestamp writes of the `i`-th of a step's `n` launches: the step's start on
    /// the first, its end on the last.
    fn writes(&self, step: usize, i: usize, n: usize) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        self.timer.writes_at(step, i == 0, i + 1 == n)
    }

    /// Records the resolve of every step that wrote its pair.
    fn resolve(&self, enc: &mut wgpu::CommandEncoder) {
        for (step, _) in self.written.iter().enumerate().filter(|(_, w)| **w) {
            self.timer.resolve_pair(enc, step);
        }
    }

    /// Each step's (start, end) in seconds from the first written step's start (after
    /// the GPU has run the resolve).
    fn read(&self, ctx: &GpuContext) -> Result<Vec<Option<(f64, f64)>>> {
        let ticks = self.timer.read_ticks(ctx)?;
        let ticks: Vec<Option<[u64; 2]>> = ticks.into_iter().zip(&self.written).map(|(t, w)| w.then_some(t)).collect();
        let t0 = ticks.iter().flatten().map(|t| t[0]).min().unwrap_or(0);
        let s = |t: u64| t.saturating_sub(t0) as f64 * self.timer.tick_seconds();
        Ok(ticks.into_iter().map(|t| t.map(|[a, b]| (s(a), s(b)))).collect())
    }
}

/// A device's failure: the step it happened at and whether it only reacted to
/// another device's failure (a neighbour's channel closed, or the ring aborted).
pub(crate) struct Failure {
    pub step: usize,
    pub error: Error,
    pub secondary: bool,
}

/// Counts the bytes of the buffers a device allocates.
struct Alloc<'c> {
    ctx: &'c GpuContext,
    bytes: u64,
}

impl Alloc<'_> {
    fn buffer(&mut self, label: &str, bytes: u64, usage: wgpu::BufferUsages) -> Result<Arc<wgpu::Buffer>> {
        let b = self.ctx.create_buffer(label, bytes.max(4), usage)?;
        self.bytes += b.size();
        Ok(Arc::new(b))
    }

    /// A buffer the device's DMA queue may copy into and out of beside wgpu's queue
    /// (`hostmem::shared_device_buffer`); an ordinary one without a DMA queue.
    fn dma_buffer(&mut self, label: &str, bytes: u64, usage: wgpu::BufferUsages) -> Result<Arc<wgpu::Buffer>> {
        let b = crate::hostmem::shared_device_buffer(self.ctx, label, bytes, usage)?;
        self.bytes += b.size();
        Ok(Arc::new(b))
    }
}

/// What a workspace is built for; a call with another key builds a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WorkspaceKey {
    shape: Shape,
    dtype: Dtype,
    placement: super::Placement,
    devices: usize,
    device: usize,
    piece: u64,
    /// Chunk alignment (the mask's block size, 1 without a mask).
    align: usize,
    /// The ring hands in shared staging for (sending, receiving): no staging of the
    /// workspace's own for that half.
    shared: (bool, bool),
}

/// The per-device workspaces a ring keeps between calls. A call takes them all out
/// (a concurrent call on the same ring then allocates its own) and puts them back when
/// it succeeds; after a failure they are dropped (buffers may be mid-transfer).
#[derive(Default)]
pub(crate) struct Workspaces(Mutex<Vec<Option<Workspace>>>);

impl Workspaces {
    /// The kept workspaces, one slot per device of an `n`-device call.
    pub fn take(&self, n: usize) -> Vec<Option<Workspace>> {
        let mut w = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        w.resize_with(n, || None);
        w
    }
    pub fn put(&self, w: Vec<Option<Workspace>>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = w;
    }
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// The buffers one device uses in a ring call besides its shard and its outputs,
/// kept for the next call with the same layout (so repeated calls allocate only the
/// outputs): the f32 running (O, LSE) of f16 runs, one partial (O, LSE), the
/// rotating K/V slots and the send / receive staging.
pub(crate) struct Workspace {
    key: WorkspaceKey,
    /// f16 runs: per own query chunk, the f32 running O and its LSE.
    acc: Vec<Option<(GpuTensor, LseBuffer)>>,
    part_o: Arc<wgpu::Buffer>,
    part_l: Arc<wgpu::Buffer>,
    /// Slots of steps 1, 2, ...: step s uses `slots[s % 2]` (slot 0 exists from 3 devices on).
    slots: [Option<Vec<KvBuf>>; 2],
    send: Option<SendStaging>,
    recv: Option<RecvStaging>,
    /// Bytes of all of the above.
    bytes: u64,
    /// The ring's block mask as uploaded at an earlier call (not counted in `bytes`):
    /// building its GPU layouts takes host time on every call otherwise.
    mask: Option<(Arc<BlockMask>, GpuBlockMask)>,
}

impl Workspace {
    fn new(ctx: &GpuContext, plan: &Plan, key: WorkspaceKey, threads: usize) -> Result<Self> {
        // (Shared staging is host memory handed in per call, not counted here.)
        let s = key.shape;
        let (dtype, me, n) = (key.dtype, key.device, key.devices);
        let es = dtype.size();
        let (b, h, kvh, d) = (s.batch, s.heads, s.kv_heads, s.head_dim);
        let mut alloc = Alloc { ctx, bytes: 0 };
        let my_q = plan.q.block(me);
        let max_q = my_q.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut acc = Vec::new();
        for r in &my_q {
            if r.is_empty() || dtype == Dtype::F32 {
                acc.push(None);
                continue;
            }
            let ob = alloc.buffer("ringattn ring o acc", (b * r.len() * h * d) as u64 * 4, TENSOR_USAGE)?;
            let lb = alloc.buffer("ringattn ring lse acc", (b * h * r.len()) as u64 * 4, TENSOR_USAGE)?;
            acc.push(Some((GpuTensor::from_buffer(ob, [b, r.len(), h, d], Dtype::F32)?, LseBuffer::from_buffer(lb, [b, h, r.len()])?)));
        }
        // One partial (O, LSE), sized for the longest own chunk and reused by every pair.
        let part_o = alloc.buffer("ringattn ring o part", (b * max_q.max(1) * h * d) as u64 * es, TENSOR_USAGE)?;
        let part_l = alloc.buffer("ringattn ring lse part", (b * h * max_q.max(1)) as u64 * 4, TENSOR_USAGE)?;
        // K/V slots (one buffer pair per chunk position, sized for the longest chunk) for
        // the blocks of steps 1..n; step 0 uses the caller's tensors. With a DMA queue
        // slot 0 also holds the block sent at step 0 (see `run_device`), and the slots
        // are shared with the DMA queue's family.
        let cpb = plan.kv.chunks_per_block();
        let kv_cap = (b * plan.kv.max_chunk().max(1) * kvh * d) as u64 * es;
        let mut slots: [Option<Vec<KvBuf>>; 2] = [None, None];
        for (i, slot) in slots.iter_mut().enumerate() {
            let used = (1..n).any(|st| st % 2 == i) || (i == 0 && n > 1 && ctx.dma().is_some());
            if !used {
                continue;
            }
            let mut bufs = Vec::new();
            for _ in 0..cpb {
                let k = alloc.dma_buffer("ringattn ring k", kv_cap, TENSOR_USAGE)?;
                let v = alloc.dma_buffer("ringattn ring v", kv_cap, TENSOR_USAGE)?;
                bufs.push(KvBuf { k, v });
            }
            *slot = Some(bufs);
        }
        let max_block = max_block_bytes(plan, &s, dtype);
        let send = if n > 1 && !key.shared.0 { Some(SendStaging::new(ctx, max_block, key.piece)?) } else { None };
        let recv = if n > 1 && !key.shared.1 { Some(RecvStaging::new(ctx, max_block, key.piece, threads)?) } else { None };
        alloc.bytes += send.as_ref().map_or(0, |s| s.bytes()) + recv.as_ref().map_or(0, |r| r.bytes());
        Ok(Workspace { key, acc, part_o, part_l, slots, send, recv, bytes: alloc.bytes, mask: None })
    }

    /// `m` on this workspace's device: the upload kept from an earlier call when `m` is
    /// the same mask, else a new one (kept for the next call).
    fn mask_on(&mut self, ctx: &GpuContext, m: &Arc<BlockMask>) -> Result<GpuBlockMask> {
        match &self.mask {
            Some((kept, g)) if Arc::ptr_eq(kept, m) || **kept == **m => Ok(g.clone()),
            _ => {
                let g = m.upload(ctx)?;
                self.mask = Some((m.clone(), g.clone()));
                Ok(g)
            }
        }
    }
}

/// K and V of one chunk position of one slot.
struct KvBuf {
    k: Arc<wgpu::Buffer>,
    v: Arc<wgpu::Buffer>,
}

fn primary(step: usize) -> impl Fn(Error) -> Failure {
    move |error| Failure { step, error, secondary: false }
}

fn link<'c>(step: usize, ctx: &'c GpuContext, what: &str, timeout: Duration) -> impl Fn(LinkError) -> Failure + 'c {
    let what = what.to_string();
    move |e| match e {
        LinkError::PeerGone => Failure { step, error: Error::InvalidArgument(format!("ring stopped: the {what} device failed")), secondary: true },
        LinkError::Timeout => Failure {
            step,
            error: Error::Timeout { adapter: format!("{} (waiting for the {what} device)", ctx.name()), seconds: timeout.as_secs_f64() },
            secondary: false,
        },
    }
}

fn send_err<'c>(step: usize, ctx: &'c GpuContext, what: &'c str, timeout: Duration) -> impl Fn(SendError) -> Failure + 'c {
    move |e| match e {
        SendError::Gpu(error) => Failure { step, error, secondary: false },
        SendError::Link(l) => link(step, ctx, what, timeout)(l),
    }
}

/// Runs device `me`'s part of the ring.
///
/// `ws` is this device's workspace from earlier calls: reused when the problem
/// layout is the same, replaced otherwise. The caller drops it after a failure.
pub(crate) fn run_device(
    me: usize,
    ctx: &GpuContext,
    job: &Job<'_>,
    shard: &RingShard,
    mut net: Link<impl SendHalf, impl RecvHalf>,
    ws: &mut Option<Workspace>,
    shared: SharedStaging,
) -> std::result::Result<DeviceReport, Failure> {
    let plan = job.plan;
    let s = job.shape;
    let n = plan.devices();
    let dtype = job.dtype;
    let es = dtype.size();
    let timeout = job.opts.timeout;
    let (b, h, kvh, d) = (s.batch, s.heads, s.kv_heads, s.head_dim);
    let kv_bytes = |r: &Range<usize>| (b * r.len() * kvh * d) as u64 * es;

    // ---- setup (errors are reported as step 0) ----
    let setup = primary(0);
    ctx.check_dtype(dtype, "ring attention").map_err(&setup)?;
    let tier = resolve_tier(ctx, job.opts.attention.tier, dtype, d).map_err(&setup)?;
    let align = plan.vis.mask.as_ref().map_or(1, |m| m.block());
    let key = WorkspaceKey {
        shape: s,
        dtype,
        placement: plan.q.placement,
        devices: n,
        device: me,
        piece: job.piece,
        align,
        shared: (shared.0.is_some(), shared.1.is_some()),
    };
    if ws.as_ref().is_some_and(|w| w.key != key) {
        *ws = None; // free the old buffers before allocating new ones
    }
    if ws.is_none() {
        *ws = Some(Workspace::new(ctx, plan, key, job.threads).map_err(&setup)?);
    }
    let w = ws.as_mut().expect("workspace was just created");
    // The mask on this device: uploaded at the first call and kept with the workspace.
    let mask = match &plan.vis.mask {
        Some(m) => Some(w.mask_on(ctx, m).map_err(&setup)?),
        None => None,
    };
    // One pipeline per query chunk: a dense launch's grid is that chunk's query tiles
    // x heads x batch, and the matrix tier picks its tiles by grid (cached pipelines, so
    // equal chunks share one; as for full launches, which most ring steps are, even in
    // a causal ring). Block-sparse pipelines keep one tile (mask blocks).
    let my_q = plan.q.block(me);
    let preps: Vec<flash::Prepared> = match &mask {
        Some(m) => {
            // Merged mask rows where every chunk of this device starts a query tile.
            let q_align = my_q.iter().fold(0, |g, r| gcd(g, r.start));
            vec![flash::prepare_masked(ctx, tier, dtype, d, m, q_align).map_err(&setup)?; my_q.len()]
        }
        None => my_q
            .iter()
            .map(|r| {
                flash::prepare_for(ctx, tier, dtype, &Shape { batch: b, seq_q: r.len(), seq_k: s.seq_k, heads: h, kv_heads: kvh, head_dim: d }, false)
            })
            .collect::<Result<_>>()
            .map_err(&setup)?,
    };
    let landing_bytes = shared.1.as_ref().map_or(0, |r| r.landing_bytes());
    if let Some(st) = shared.0 {
        w.send = Some(st);
    }
    if let Some(rt) = shared.1 {
        w.recv = Some(rt);
    }
    // This call's outputs, and the running (O, LSE) they start from (O = 0, LSE = -inf):
    // the outputs themselves for f32, the workspace's f32 accumulators for f16.
    let mut outputs: Vec<Option<(GpuTensor, LseBuffer)>> = Vec::new();
    let mut out_bytes = 0u64;
    let mut init = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring init") });
    for (qi, r) in my_q.iter().enumerate() {
        if r.is_empty() {
            outputs.push(None);
            continue;
        }
        let o = GpuTensor::empty(ctx, [b, r.len(), h, d], dtype).map_err(&setup)?;
        let l = LseBuffer::empty(ctx, [b, h, r.len()]).map_err(&setup)?;
        out_bytes += o.buffer().size() + l.buffer().size();
        let neg_inf = vec![f32::NEG_INFINITY; l.numel()];
        if let Some((ao, al)) = &w.acc[qi] {
            init.clear_buffer(ao.buffer(), 0, None);
            ctx.write_bytes(al.buffer(), 0, bytemuck::cast_slice(&neg_inf)).map_err(&setup)?;
        } else {
            init.clear_buffer(o.buffer(), 0, None);
        }
        ctx.write_bytes(l.buffer(), 0, bytemuck::cast_slice(&neg_inf)).map_err(&setup)?;
        outputs.push(Some((o, l)));
    }
    ctx.scoped(|| ctx.queue().submit([init.finish()])).map_err(&setup)?;
    let shard_bytes: u64 = shard.q.iter().chain(&shard.k).chain(&shard.v).flatten().map(|t| t.size_bytes()).sum();

    // ---- steps ----
    let mut bytes_sent = 0u64;
    let mut recv_time = Duration::ZERO;
    let mut exchange_time = Duration::ZERO;
    let prev = (me + n - 1) % n;
    let mut timer = job.opts.gpu_timeline.then(|| StepTimer::new(ctx, n)).flatten();
    // With a DMA queue (crate::dma) the host orders it against wgpu's queue: a received
    // block is copied into a slot only once the compute that read the slot before has
    // completed (`slot_free`, set from that compute's callback), and a block is sent
    // from memory wgpu's queue wrote only once that work has completed.
    let recv_dma = w.recv.as_ref().is_some_and(|r| r.uses_dma());
    let send_dma = w.send.as_ref().is_some_and(|s| s.uses_dma(ctx));
    let slot_free = [Arc::new(AtomicBool::new(true)), Arc::new(AtomicBool::new(true))];
    for step in 0..n {
        let fail = primary(step);
        if job.abort.load(Ordering::Relaxed) {
            return Err(Failure { step, error: Error::InvalidArgument("ring stopped: another device failed".into()), secondary: true });
        }
        if job.opts.crash_at == Some((me, step)) {
            eprintln!("ringattn: device {me} aborts at step {step} (RingOptions::crash_at)");
            std::process::abort();
        }
        if job.opts.stall_at == Some((me, step)) {
            std::thread::sleep(2 * timeout);
            return Err(fail(Error::Timeout {
                adapter: format!("{} (stalled by RingOptions::stall_at)", ctx.name()),
                seconds: timeout.as_secs_f64(),
            }));
        }
        if job.opts.fail_at == Some((me, step)) {
            return Err(fail(Error::Gpu { adapter: ctx.name().to_string(), message: "fault injected by RingOptions::fail_at".into() }));
        }
        ctx.check_alive().map_err(&fail)?;
        let block = plan.held(me, step);
        let kranges = plan.kv.block(block);
        // The K/V buffers of the held block: the caller's at step 0, a slot after.
        let kv: Vec<Option<(Arc<wgpu::Buffer>, Arc<wgpu::Buffer>)>> = if step == 0 {
            (0..kranges.len()).map(|p| Some((shard.k[p].as_ref()?.buffer().clone(), shard.v[p].as_ref()?.buffer().clone()))).collect()
        } else {
            let slot = w.slots[step % 2].as_ref().expect("the slot of a later step exists");
            slot.iter().map(|kb| Some((kb.k.clone(), kb.v.clone()))).collect()
        };
        let send = step + 1 < n && plan.transfer_needed(block, step);
        let recv_block = plan.held(prev, step);
        let recv = step + 1 < n && plan.transfer_needed(recv_block, step);

        // 1. Copy the held block into the send staging, ahead of the compute.
        let mut pending = None;
        if send {
            let st = w.send.as_mut().expect("a ring of several devices has staging");
            net.reclaim(ctx, st, false, timeout, job.abort).map_err(link(step, ctx, "next", timeout))?;
            // With the DMA queue at step 0: the caller's tensors belong to wgpu's queue
            // family alone, so the block is first copied (on wgpu's queue, ~0.1 ms per
            // 128 MiB) into slot 0, which both families share and nothing else uses
            // before step 1's block arrives there (after this step's exchange, which
            // ends once these copies out have completed).
            let from_slot0 = send_dma && step == 0;
            let mut copy_in =
                from_slot0.then(|| ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring send source") }));
            let slot0 = if from_slot0 { w.slots[0].as_ref() } else { None };
            let mut segs: Vec<(&wgpu::Buffer, u64)> = Vec::new();
            for (p, r) in kranges.iter().enumerate() {
                if let (Some((k, v)), bytes) = (&kv[p], kv_bytes(r)) {
                    if bytes > 0 {
                        let (sk, sv) = match (slot0, copy_in.as_mut()) {
                            (Some(slot), Some(enc)) => {
                                enc.copy_buffer_to_buffer(k, 0, &slot[p].k, 0, bytes);
                                enc.copy_buffer_to_buffer(v, 0, &slot[p].v, 0, bytes);
                                (&*slot[p].k, &*slot[p].v)
                            }
                            _ => (&**k, &**v),
                        };
                        segs.push((sk, bytes));
                        segs.push((sv, bytes));
                    }
                }
            }
            if send_dma && (step == 0 || !recv_dma) {
                // The block was written on wgpu's queue (the copy into slot 0, or into the
                // slot from a landing buffer): the DMA queue reads it once that work has
                // completed.
                let last = match copy_in {
                    Some(enc) => Some(ctx.scoped(|| ctx.queue().submit([enc.finish()])).map_err(&fail)?),
                    None => None,
                };
                ctx.device()
                    .poll(wgpu::PollType::Wait { submission_index: last, timeout: Some(timeout) })
                    .map_err(|e| fail(Error::Gpu { adapter: ctx.name().to_string(), message: format!("waiting for the block to send: {e}") }))?;
            }
            pending = Some(st.begin(ctx, &segs).map_err(&fail)?);
        }
        // Transports that can post their receives early do it now, before the compute.
        if recv {
            let lens: Vec<u64> = plan.kv.block(recv_block).iter().map(kv_bytes).filter(|&b| b > 0).flat_map(|b| [b, b]).collect();
            net.post_receive(step, &lens, job.piece).map_err(send_err(step, ctx, "previous", timeout))?;
        }

        // 2. Attention of every live (query chunk, key chunk) pair, merged into the running (O, LSE).
        let pairs = plan.live_pairs(me, block);
        if !pairs.is_empty() {
            let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring step") });
            ctx.scoped(|| -> Result<()> {
                for (pi, &(qi, ki)) in pairs.iter().enumerate() {
                    let q = shard.q[qi].as_ref().expect("a live pair has a non-empty query chunk");
                    let (o, l) = outputs[qi].as_ref().expect("a live pair has a non-empty query chunk");
                    let (ao, al) = match &w.acc[qi] {
                        Some((ao, al)) => (ao, al),
                        None => (o, l),
                    };
                    let rows = &my_q[qi];
                    let kr = &kranges[ki];
                    let (kb, vb) = kv[ki].as_ref().expect("a live pair has a non-empty key chunk");
                    let kdims = [b, kr.len(), kvh, d];
                    let kt = GpuTensor::from_buffer(kb.clone(), kdims, dtype)?;
                    let vt = GpuTensor::from_buffer(vb.clone(), kdims, dtype)?;
                    let po = GpuTensor::from_buffer(w.part_o.clone(), q.dims(), dtype)?;
                    let pl = LseBuffer::from_buffer(w.part_l.clone(), al.dims())?;
                    // Global positions: the mask of this pair is the mask of the full problem.
                    let frame = CausalFrame { q_pos0: rows.start as u32, k_pos0: kr.start as u32, diag: plan.vis.diag as i32 };
                    let causal = plan.vis.causal.then_some(frame);
                    {
                        let timestamp_writes = timer.as_ref().and_then(|t| t.writes(step, pi, pairs.len()));
                        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("ringattn ring flash"), timestamp_writes });
                        let args =
                            FlashArgs { q, k: &kt, v: &vt, o: &po, lse: &pl, scale: job.scale, causal, mask: mask.as_ref().map(|m| (m, frame)) };
                        flash::encode(ctx, &mut pass, &preps[qi], &args)?;
                    }
                    merge::encode_merge(ctx, &mut enc, ao, al, &po, &pl)?;
                }
                Ok(())
            })
            .and_then(|r| r)
            .map_err(&fail)?;
            ctx.scoped(|| ctx.queue().submit([enc.finish()])).map_err(&fail)?;
            if let Some(t) = timer.as_mut() {
                t.written[step] = true;
            }
            if recv_dma && step > 0 {
                let free = slot_free[step % 2].clone();
                free.store(false, Ordering::Release);
                ctx.queue().on_submitted_work_done(move || free.store(true, Ordering::Release));
            }
        }

        // 3 + 4. Hand the held block to the next device piece by piece as each is mapped,
        // and copy the pieces of the previous device's block into the other slot as they
        // arrive, in one loop.
        let next = (step + 1) % 2;
        let mut segs: Vec<(&wgpu::Buffer, u64)> = Vec::new();
        if recv {
            let slot = w.slots[next].as_ref().expect("the slot of a later step exists");
            for (p, r) in plan.kv.block(recv_block).iter().enumerate() {
                let bytes = kv_bytes(r);
                if bytes > 0 {
                    segs.push((&slot[p].k, bytes));
                    segs.push((&slot[p].v, bytes));
                }
            }
        }
        if pending.is_some() || recv {
            let bytes = pending.as_ref().map_or(0, |p| p.bytes());
            let send = match (pending, w.send.as_mut()) {
                (Some(p), Some(st)) => Some((st, p)),
                _ => None,
            };
            let rcv = if recv {
                w.recv.as_mut().map(|rt| {
                    rt.gate = recv_dma.then(|| slot_free[next].clone());
                    (rt, &segs[..])
                })
            } else {
                None
            };
            let t = net.exchange(ctx, send, rcv, timeout, job.abort).map_err(send_err(step, ctx, "neighbour", timeout))?;
            recv_time += t.recv;
            exchange_time += t.wall;
            bytes_sent += bytes;
        }
    }

    // ---- results (errors are reported as the last step) ----
    let last = primary(n - 1);
    // The next device has copied everything sent; unmap for the next call.
    if let Some(st) = w.send.as_mut() {
        net.reclaim(ctx, st, true, timeout, job.abort).map_err(link(n - 1, ctx, "next", timeout))?;
    }
    drop(net);
    // f16 runs: cast the f32 accumulator to the f16 output on the GPU with the merge
    // kernel (an empty running (O, LSE) merged with a partial is a copy).
    if dtype == Dtype::F16 {
        let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring cast") });
        for (acc, o) in w.acc.iter().zip(&outputs) {
            if let (Some((ao, al)), Some((o, l))) = (acc, o) {
                ctx.scoped(|| merge::encode_merge(ctx, &mut enc, o, l, ao, al)).and_then(|r| r).map_err(&last)?;
            }
        }
        ctx.scoped(|| ctx.queue().submit([enc.finish()])).map_err(&last)?;
    }
    if let Some(t) = &timer {
        let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring step times") });
        t.resolve(&mut enc);
        ctx.scoped(|| ctx.queue().submit([enc.finish()])).map_err(&last)?;
    }
    ctx.wait_timeout(timeout).map_err(&last)?;
    let gpu_steps = match &timer {
        Some(t) => t.read(ctx).map_err(&last)?,
        None => Vec::new(),
    };
    let output = RingShardOutput {
        rows: my_q,
        o: outputs.iter().map(|x| x.as_ref().map(|(o, _)| o.clone())).collect(),
        lse: outputs.iter().map(|x| x.as_ref().map(|(_, l)| l.clone())).collect(),
    };
    Ok(DeviceReport {
        gpu_steps,
        output,
        bytes_sent,
        recv_time,
        exchange_time,
        peak_bytes: shard_bytes + w.bytes + landing_bytes + out_bytes + mask.as_ref().map_or(0, |m| m.bytes()),
        tier,
    })
}

/// One device of a ring run by [`run_devices`].
pub(crate) struct DeviceRun<'a, S, R> {
    /// The device's index in the ring (over MPI: its global index).
    pub index: usize,
    pub ctx: &'a GpuContext,
    pub shard: &'a RingShard,
    pub link: Link<S, R>,
    pub workspace: &'a mut Option<Workspace>,
    /// Shared staging for this call (in-process links whose devices import host memory).
    pub staging: SharedStaging,
}

/// Runs [`run_device`] for each device, each in its own named host thread (a single
/// device runs on the calling thread); the first failure sets `job.abort` so the
/// others stop at their next wait. Returns the reports in the order given, or the
/// root cause as [`Error::Ring`]: the earliest failure (by step, then index) that was
/// not a reaction to another one.
pub(crate) fn run_devices<S: SendHalf + Send, R: RecvHalf + Send>(job: &Job<'_>, devices: Vec<DeviceRun<'_, S, R>>) -> Result<Vec<DeviceReport>> {
    let one = |d: DeviceRun<'_, S, R>| {
        let r = run_device(d.index, d.ctx, job, d.shard, d.link, d.workspace, d.staging);
        if r.is_err() {
            job.abort.store(true, Ordering::Relaxed);
        }
        (d.index, r)
    };
    let results: Vec<(usize, std::result::Result<DeviceReport, Failure>)> = if devices.len() == 1 {
        devices.into_iter().map(one).collect()
    } else {
        std::thread::scope(|sc| {
            let handles: Vec<_> = devices
                .into_iter()
                .map(|d| {
                    let i = d.index;
                    (i, std::thread::Builder::new().name(format!("ringattn-ring-{i}")).spawn_scoped(sc, || one(d)))
                })
                .collect();
            handles
                .into_iter()
                .map(|(i, h)| match h {
                    Ok(h) => h.join().unwrap_or_else(|_| {
                        job.abort.store(true, Ordering::Relaxed);
                        (i, Err(Failure { step: 0, error: Error::InvalidArgument("ring worker thread panicked".into()), secondary: false }))
                    }),
                    Err(e) => {
                        job.abort.store(true, Ordering::Relaxed);
                        (i, Err(Failure { step: 0, error: Error::InvalidArgument(format!("could not start a ring thread: {e}")), secondary: false }))
                    }
                })
                .collect()
        })
    };
    let mut failures: Vec<(usize, Failure)> = Vec::new();
    let mut reports = Vec::with_capacity(results.len());
    for (i, r) in results {
        match r {
            Ok(rep) => reports.push(rep),
            Err(f) => failures.push((i, f)),
        }
    }
    failures.sort_by_key(|(i, f)| (f.secondary, f.step, *i));
    match failures.into_iter().next() {
        Some((device, f)) => Err(Error::Ring { device, step: f.step, source: Box::new(f.error) }),
        None => Ok(reports),
    }
}

/// Greatest common divisor (gcd(0, x) = x).
fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
