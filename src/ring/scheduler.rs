//! One device's part of a ring: set up its chunks, run the steps, read back its
//! queries' (O, LSE).
//!
//! Every device runs this in its own host thread, so the devices compute, copy and
//! map in parallel. Per step `s`, device `i`:
//!
//! 1. submits a copy of the K/V block it holds into its staging buffer (if a later
//!    step needs that block), *before* the compute, so on a GPU the copy finishes
//!    first and the map does not wait for the attention;
//! 2. submits the attention of its query chunks against the block's key chunks
//!    (`flash::encode` into a partial O/LSE, with the chunks' global positions in the
//!    causal frame) and the merge of each partial into the running f32 (O, LSE);
//!    fully masked or empty (query chunk, key chunk) pairs are skipped;
//! 3. maps the staging buffer, copies the block into a host buffer and hands it to
//!    device `i + 1`;
//! 4. takes the block device `i - 1` sent and writes it into its other K/V slot
//!    (double buffering: the slot computed on at step `s` is not written until the
//!    block after next arrives, and queue order puts that write after the compute).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use half::f16;

use super::placement::Plan;
use super::transport::{Inbox, LinkError, Outbox, Staging};
use super::RingOptions;
use crate::attention::resolve_tier;
use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::kernels::flash::{self, CausalFrame, FlashArgs};
use crate::kernels::{merge, Tier};
use crate::tensor::{Dtype, GpuTensor, LseBuffer, Shape, TENSOR_USAGE};

/// Everything the device threads share (read-only).
pub(crate) struct Job<'a> {
    pub plan: &'a Plan,
    pub shape: Shape,
    pub dtype: Dtype,
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub scale: f32,
    pub opts: &'a RingOptions,
    /// Set by the first thread that fails; the others stop at their next step.
    pub abort: &'a AtomicBool,
}

/// What one device produced.
pub(crate) struct DeviceReport {
    /// (global query rows, O (b, rows, h, d) as f32, LSE (b, h, rows)) per own chunk.
    pub chunks: Vec<(Range<usize>, Vec<f32>, Vec<f32>)>,
    pub bytes_sent: u64,
    pub transport: Duration,
    pub peak_bytes: u64,
    pub tier: Tier,
}

/// A device's failure: the step it happened at and whether it only reacted to
/// another device's failure (a neighbour's channel closed, or the ring aborted).
pub(crate) struct Failure {
    pub step: usize,
    pub error: Error,
    pub secondary: bool,
}

/// Counts the bytes of the buffers a device allocates for one ring call.
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
}

/// Rows `r` of a (batch, n, row) host tensor, converted to `dtype` bytes, as a
/// contiguous (batch, r.len(), row) chunk.
fn gather(x: &[f32], batch: usize, n: usize, row: usize, r: &Range<usize>, dtype: Dtype) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch * r.len() * row * dtype.size() as usize);
    for b in 0..batch {
        let src = &x[(b * n + r.start) * row..(b * n + r.end) * row];
        match dtype {
            Dtype::F32 => out.extend_from_slice(bytemuck::cast_slice(src)),
            Dtype::F16 => {
                for &v in src {
                    out.extend_from_slice(&f16::from_f32(v).to_le_bytes());
                }
            }
        }
    }
    out
}

/// One own query chunk on the device.
struct QChunk {
    rows: Range<usize>,
    q: GpuTensor,
    o_acc: GpuTensor,
    lse_acc: LseBuffer,
    /// f16 runs: the output O (f16) and its LSE, filled from the accumulator at the end.
    out: Option<(GpuTensor, LseBuffer)>,
}

/// What a workspace is built for; a call with another key builds a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WorkspaceKey {
    shape: Shape,
    dtype: Dtype,
    placement: super::Placement,
    devices: usize,
    device: usize,
}

/// Every buffer one device uses in a ring call, kept for the next call with the same
/// layout (so repeated calls allocate nothing): own Q chunks with their running
/// (O, LSE), one partial (O, LSE), two K/V slots and the staging buffer.
pub(crate) struct Workspace {
    key: WorkspaceKey,
    qchunks: Vec<Option<QChunk>>,
    part_o: Arc<wgpu::Buffer>,
    part_l: Arc<wgpu::Buffer>,
    slots: Vec<Vec<KvBuf>>,
    staging: Option<Staging>,
    /// Bytes of all of the above.
    bytes: u64,
}

impl Workspace {
    fn new(ctx: &GpuContext, plan: &Plan, key: WorkspaceKey) -> Result<Self> {
        let s = key.shape;
        let (dtype, me) = (key.dtype, key.device);
        let es = dtype.size();
        let (b, h, kvh, d) = (s.batch, s.heads, s.kv_heads, s.head_dim);
        let mut alloc = Alloc { ctx, bytes: 0 };
        let my_q = plan.q.block(me);
        let max_q = my_q.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut qchunks = Vec::new();
        for r in &my_q {
            if r.is_empty() {
                qchunks.push(None);
                continue;
            }
            let dims = [b, r.len(), h, d];
            let elems = (b * r.len() * h * d) as u64;
            let qb = alloc.buffer("ringattn ring q", elems * es, TENSOR_USAGE)?;
            let ob = alloc.buffer("ringattn ring o acc", elems * 4, TENSOR_USAGE)?;
            let lb = alloc.buffer("ringattn ring lse acc", (b * h * r.len()) as u64 * 4, TENSOR_USAGE)?;
            let out = if dtype == Dtype::F16 {
                let o = alloc.buffer("ringattn ring o", elems * es, TENSOR_USAGE)?;
                let l = alloc.buffer("ringattn ring lse", (b * h * r.len()) as u64 * 4, TENSOR_USAGE)?;
                Some((GpuTensor::from_buffer(o, dims, Dtype::F16)?, LseBuffer::from_buffer(l, [b, h, r.len()])?))
            } else {
                None
            };
            qchunks.push(Some(QChunk {
                rows: r.clone(),
                q: GpuTensor::from_buffer(qb, dims, dtype)?,
                o_acc: GpuTensor::from_buffer(ob, dims, Dtype::F32)?,
                lse_acc: LseBuffer::from_buffer(lb, [b, h, r.len()])?,
                out,
            }));
        }
        // One partial (O, LSE), sized for the longest own chunk and reused by every pair.
        let part_o = alloc.buffer("ringattn ring o part", (b * max_q.max(1) * h * d) as u64 * es, TENSOR_USAGE)?;
        let part_l = alloc.buffer("ringattn ring lse part", (b * h * max_q.max(1)) as u64 * 4, TENSOR_USAGE)?;
        // Two K/V slots (computed on / arriving), each with one buffer pair per chunk
        // position, sized for the longest chunk.
        let cpb = plan.kv.chunks_per_block();
        let kv_cap = (b * plan.kv.max_chunk().max(1) * kvh * d) as u64 * es;
        let mut slots = Vec::new();
        for _ in 0..2 {
            let mut slot = Vec::new();
            for _ in 0..cpb {
                let k = alloc.buffer("ringattn ring k", kv_cap, TENSOR_USAGE)?;
                let v = alloc.buffer("ringattn ring v", kv_cap, TENSOR_USAGE)?;
                slot.push(KvBuf { k, v });
            }
            slots.push(slot);
        }
        let staging = if plan.devices() > 1 {
            let st = Staging::new(ctx, 2 * cpb as u64 * kv_cap)?;
            alloc.bytes += st.buffer.size();
            Some(st)
        } else {
            None
        };
        Ok(Workspace { key, qchunks, part_o, part_l, slots, staging, bytes: alloc.bytes })
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

/// Runs device `me`'s part of the ring.
///
/// `ws` is this device's workspace from earlier calls: reused when the problem
/// layout is the same, replaced otherwise. The caller drops it after a failure.
pub(crate) fn run_device(
    me: usize,
    ctx: &GpuContext,
    job: &Job<'_>,
    out: Outbox,
    inbox: Inbox,
    ws: &mut Option<Workspace>,
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
    let prep = flash::prepare(ctx, tier, dtype, d).map_err(&setup)?;
    let key = WorkspaceKey { shape: s, dtype, placement: plan.q.placement, devices: n, device: me };
    if ws.as_ref().is_some_and(|w| w.key != key) {
        *ws = None; // free the old buffers before allocating new ones
    }
    if ws.is_none() {
        *ws = Some(Workspace::new(ctx, plan, key).map_err(&setup)?);
    }
    let w = ws.as_ref().expect("workspace was just created");
    let (qchunks, part_o, part_l, slots, staging) = (&w.qchunks, &w.part_o, &w.part_l, &w.slots, &w.staging);
    // Per call: this call's Q and starting K/V block; running (O, LSE) empty (O = 0, LSE = -inf).
    let mut init = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring init") });
    for qc in qchunks.iter().flatten() {
        ctx.write_bytes(qc.q.buffer(), 0, &gather(job.q, b, s.seq_q, h * d, &qc.rows, dtype)).map_err(&setup)?;
        ctx.write_bytes(qc.lse_acc.buffer(), 0, bytemuck::cast_slice(&vec![f32::NEG_INFINITY; qc.lse_acc.numel()])).map_err(&setup)?;
        init.clear_buffer(qc.o_acc.buffer(), 0, None);
    }
    ctx.scoped(|| ctx.queue().submit([init.finish()])).map_err(&setup)?;
    for (p, r) in plan.kv.block(me).iter().enumerate() {
        if r.is_empty() {
            continue;
        }
        ctx.write_bytes(&slots[0][p].k, 0, &gather(job.k, b, s.seq_k, kvh * d, r, dtype)).map_err(&setup)?;
        ctx.write_bytes(&slots[0][p].v, 0, &gather(job.v, b, s.seq_k, kvh * d, r, dtype)).map_err(&setup)?;
    }

    // ---- steps ----
    let mut bytes_sent = 0u64;
    let mut transport = Duration::ZERO;
    let prev = (me + n - 1) % n;
    for step in 0..n {
        let fail = primary(step);
        if job.abort.load(Ordering::Relaxed) {
            return Err(Failure { step, error: Error::InvalidArgument("ring stopped: another device failed".into()), secondary: true });
        }
        if job.opts.fail_at == Some((me, step)) {
            return Err(fail(Error::Gpu { adapter: ctx.name().to_string(), message: "fault injected by RingOptions::fail_at".into() }));
        }
        ctx.check_alive().map_err(&fail)?;
        let block = plan.held(me, step);
        let slot = step % 2;
        let kranges = plan.kv.block(block);
        let send = step + 1 < n && plan.transfer_needed(block, step);
        let recv_block = plan.held(prev, step);
        let recv = step + 1 < n && plan.transfer_needed(recv_block, step);

        // 1. Copy the held block into staging, ahead of the compute.
        let mut copy = None;
        if send {
            let t0 = Instant::now();
            let st = staging.as_ref().expect("a ring of several devices has staging");
            let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring send") });
            let mut off = 0;
            for (p, r) in kranges.iter().enumerate() {
                let bytes = kv_bytes(r);
                if bytes == 0 {
                    continue;
                }
                enc.copy_buffer_to_buffer(&slots[slot][p].k, 0, &st.buffer, off, bytes);
                enc.copy_buffer_to_buffer(&slots[slot][p].v, 0, &st.buffer, off + bytes, bytes);
                off += 2 * bytes;
            }
            let idx = ctx.scoped(|| ctx.queue().submit([enc.finish()])).map_err(&fail)?;
            copy = Some((idx, off));
            transport += t0.elapsed();
        }

        // 2. Attention of every live (query chunk, key chunk) pair, merged into the running (O, LSE).
        let pairs = plan.live_pairs(me, block);
        if !pairs.is_empty() {
            let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring step") });
            ctx.scoped(|| -> Result<()> {
                for &(qi, ki) in &pairs {
                    let qc = qchunks[qi].as_ref().expect("a live pair has a non-empty query chunk");
                    let kr = &kranges[ki];
                    let kdims = [b, kr.len(), kvh, d];
                    let kt = GpuTensor::from_buffer(slots[slot][ki].k.clone(), kdims, dtype)?;
                    let vt = GpuTensor::from_buffer(slots[slot][ki].v.clone(), kdims, dtype)?;
                    let po = GpuTensor::from_buffer(part_o.clone(), qc.q.dims(), dtype)?;
                    let pl = LseBuffer::from_buffer(part_l.clone(), qc.lse_acc.dims())?;
                    // Global positions: the mask of this pair is the mask of the full problem.
                    let causal =
                        plan.vis.causal.then_some(CausalFrame { q_pos0: qc.rows.start as u32, k_pos0: kr.start as u32, diag: plan.vis.diag as i32 });
                    {
                        let mut pass =
                            enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("ringattn ring flash"), timestamp_writes: None });
                        let args = FlashArgs { q: &qc.q, k: &kt, v: &vt, o: &po, lse: &pl, scale: job.scale, causal, mask: None };
                        flash::encode(ctx, &mut pass, &prep, &args)?;
                    }
                    merge::encode_merge(ctx, &mut enc, &qc.o_acc, &qc.lse_acc, &po, &pl)?;
                }
                Ok(())
            })
            .and_then(|r| r)
            .map_err(&fail)?;
            ctx.scoped(|| ctx.queue().submit([enc.finish()])).map_err(&fail)?;
        }

        // 3. Hand the held block to the next device.
        if let Some((idx, len)) = copy {
            let mut buf = out.take(timeout).map_err(link(step, ctx, "next", timeout))?;
            let t0 = Instant::now();
            let st = staging.as_ref().expect("a ring of several devices has staging");
            st.read_into(ctx, idx, len, &mut buf, timeout).map_err(&fail)?;
            transport += t0.elapsed();
            bytes_sent += len;
            out.send(buf).map_err(link(step, ctx, "next", timeout))?;
        }

        // 4. Take the block from the previous device into the other slot.
        if recv {
            let buf = inbox.recv(timeout).map_err(link(step, ctx, "previous", timeout))?;
            let t0 = Instant::now();
            let ranges = plan.kv.block(recv_block);
            let want: u64 = ranges.iter().map(|r| 2 * kv_bytes(r)).sum();
            if buf.len() as u64 != want {
                return Err(fail(Error::WrongSize {
                    what: "ring K/V block from the previous device",
                    expected: want,
                    got: buf.len() as u64,
                    unit: "bytes",
                }));
            }
            let next = (step + 1) % 2;
            let mut off = 0usize;
            for (p, r) in ranges.iter().enumerate() {
                let bytes = kv_bytes(r) as usize;
                if bytes == 0 {
                    continue;
                }
                ctx.write_bytes(&slots[next][p].k, 0, &buf[off..off + bytes]).map_err(&fail)?;
                ctx.write_bytes(&slots[next][p].v, 0, &buf[off + bytes..off + 2 * bytes]).map_err(&fail)?;
                off += 2 * bytes;
            }
            transport += t0.elapsed();
            inbox.give_back(buf);
        }
    }
    drop(out);
    drop(inbox);

    // ---- results (errors are reported as the last step) ----
    let last = primary(n - 1);
    // f16 runs: cast the f32 accumulator to f16 on the GPU with the merge kernel (an
    // empty accumulator merged with a partial is a copy), halving the readback.
    let mut outs: Vec<(GpuTensor, LseBuffer)> = Vec::new();
    let mut readback = 0u64;
    if dtype == Dtype::F16 {
        let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring cast") });
        for qc in qchunks.iter().flatten() {
            let (o, l) = qc.out.as_ref().expect("f16 workspaces have f16 outputs");
            ctx.write_bytes(l.buffer(), 0, bytemuck::cast_slice(&vec![f32::NEG_INFINITY; l.numel()])).map_err(&last)?;
            ctx.scoped(|| merge::encode_merge(ctx, &mut enc, o, l, &qc.o_acc, &qc.lse_acc)).and_then(|r| r).map_err(&last)?;
            outs.push((o.clone(), l.clone()));
        }
        ctx.scoped(|| ctx.queue().submit([enc.finish()])).map_err(&last)?;
    } else {
        for qc in qchunks.iter().flatten() {
            outs.push((qc.o_acc.clone(), qc.lse_acc.clone()));
        }
    }
    ctx.wait_timeout(timeout).map_err(&last)?;
    let mut chunks = Vec::new();
    for (qc, (o, l)) in qchunks.iter().flatten().zip(&outs) {
        readback = readback.max(o.size_bytes());
        chunks.push((qc.rows.clone(), o.to_f32_vec(ctx).map_err(&last)?, l.to_vec(ctx).map_err(&last)?));
    }
    Ok(DeviceReport { chunks, bytes_sent, transport, peak_bytes: w.bytes + readback, tier })
}
