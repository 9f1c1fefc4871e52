//! The ring over MPI ranks (cargo feature `mpi`): one device per rank, K/V blocks
//! moving between ranks with non-blocking MPI sends and receives.
//!
//! Every rank runs the same scheduler as the in-process ring ([`super::scheduler`])
//! for its own device; only the link differs. Per step, a rank
//!
//! 1. posts `MPI_Irecv` for every piece of the block the previous rank will send
//!    (into host buffers), *before* submitting the step's compute;
//! 2. copies the block it holds into its `MAP_READ` staging pieces on the GPU, submits
//!    the compute, and as each piece is mapped copies it into a host buffer and posts
//!    `MPI_Isend` to the next rank;
//! 3. as each receive completes, copies the piece into a mapped `MAP_WRITE` staging
//!    piece and submits the GPU copy into its other K/V slot.
//!
//! MPI is called from the calling thread only (`MPI_THREAD_FUNNELED`); host copies use
//! helper threads. Errors are returned (`MPI_ERRORS_RETURN` on the world
//! communicator), and every wait is bounded by [`RingOptions::timeout`]: a rank whose
//! neighbour died or stalls fails with [`Error::Ring`] naming itself and the step. A
//! failed rank cannot leave the others consistent, so the caller should then end the
//! job with [`MpiRing::abort`] (the CLI does); OpenMPI's launcher also ends the job
//! when a rank dies.

use std::ffi::c_int;
use std::ops::Range;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use half::f16;
use mpi::ffi;

use super::placement::Plan;
use super::scheduler::{self, Link};
use super::transport::{self, copy_host, gpu_err, ExchangeTimes, HostSide, LinkError, PendingSend, RecvStaging, SendError, SendStaging};
use super::{check_scale, check_shard, RingOptions, RingShard, RingShardOutput, RingStats};
use crate::context::{enumerate_adapters, sort_adapters, GpuContext};
use crate::error::{Error, Result};
use crate::tensor::{Dtype, Shape};

/// One rank's part of a ring over MPI ranks.
pub struct MpiRing {
    // Finalizes MPI when dropped.
    _universe: mpi::environment::Universe,
    rank: usize,
    size: usize,
    ctx: Arc<GpuContext>,
    note: String,
    workspace: Mutex<Option<scheduler::Workspace>>,
}

fn mpi_err(what: &str, code: c_int) -> Error {
    let mut buf = vec![0u8; 512];
    let mut len: c_int = 0;
    // SAFETY: MPI_Error_string writes at most MPI_MAX_ERROR_STRING (< 512) bytes.
    let text = unsafe {
        if ffi::MPI_Error_string(code, buf.as_mut_ptr() as *mut std::ffi::c_char, &mut len) == 0 {
            String::from_utf8_lossy(&buf[..len.max(0) as usize]).into_owned()
        } else {
            format!("MPI error {code}")
        }
    };
    Error::InvalidArgument(format!("MPI {what} failed: {text}"))
}

fn check(what: &str, code: c_int) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(mpi_err(what, code))
    }
}

fn world() -> ffi::MPI_Comm {
    // SAFETY: a constant handle exported by mpi-sys.
    unsafe { ffi::RSMPI_COMM_WORLD }
}

fn byte_type() -> ffi::MPI_Datatype {
    // SAFETY: a constant handle exported by mpi-sys.
    unsafe { ffi::RSMPI_UINT8_T }
}

/// Largest message one MPI call moves here (counts are C ints).
const MAX_MSG: usize = 1 << 30;

/// Tags: pieces of a block use their index (below `GATHER_TAG`); the output gather uses
/// `GATHER_TAG + 0..3`, so a late gather message can never match a piece receive.
/// (The MPI standard guarantees tags up to 32767.)
const GATHER_TAG: c_int = 32000;

impl MpiRing {
    /// Initializes MPI and opens this rank's device: the GPU adapters of the preferred
    /// backend are shared out by local rank (rank within the host), so 4 ranks on a
    /// 4-GPU host get one GPU each; with no GPU adapter (CPU-only hosts, CI) every rank
    /// opens the preferred adapter.
    pub fn init() -> Result<Self> {
        let universe = Self::init_mpi()?;
        let (rank, size, local) = Self::ranks()?;
        let mut adapters = enumerate_adapters();
        adapters.retain(|a| {
            let t = a.get_info().device_type;
            matches!(t, wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu)
        });
        sort_adapters(&mut adapters);
        if let Some(b) = adapters.first().map(|a| a.get_info().backend) {
            adapters.retain(|a| a.get_info().backend == b);
        }
        let (ctx, note) = if adapters.is_empty() {
            let c = GpuContext::new()?;
            let note = format!("rank {rank}/{size}: no GPU adapter, using {}", c.describe());
            (c, note)
        } else {
            let count = adapters.len();
            let a = adapters.swap_remove(local % count);
            let c = GpuContext::from_adapter(a)?;
            let note = format!("rank {rank}/{size} (local {local}): GPU {} of {count}: {}", local % count, c.describe());
            (c, note)
        };
        Ok(MpiRing { _universe: universe, rank, size, ctx: Arc::new(ctx), note, workspace: Mutex::new(None) })
    }

    /// Initializes MPI and uses `ctx` as this rank's device.
    pub fn with_context(ctx: GpuContext) -> Result<Self> {
        let universe = Self::init_mpi()?;
        let (rank, size, _) = Self::ranks()?;
        let note = format!("rank {rank}/{size}: {}", ctx.describe());
        Ok(MpiRing { _universe: universe, rank, size, ctx: Arc::new(ctx), note, workspace: Mutex::new(None) })
    }

    fn init_mpi() -> Result<mpi::environment::Universe> {
        let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
            .ok_or_else(|| Error::InvalidArgument("MPI is already initialized in this process".into()))?;
        // Errors come back as codes (and become Error values) instead of aborting.
        // SAFETY: plain MPI calls on the world communicator after initialization.
        check("MPI_Comm_set_errhandler", unsafe { ffi::MPI_Comm_set_errhandler(world(), ffi::RSMPI_ERRORS_RETURN) })?;
        Ok(universe)
    }

    /// (rank, size, rank within the host).
    fn ranks() -> Result<(usize, usize, usize)> {
        let (mut rank, mut size, mut local) = (0 as c_int, 0 as c_int, 0 as c_int);
        // SAFETY: MPI is initialized; out-pointers are valid.
        unsafe {
            check("MPI_Comm_rank", ffi::MPI_Comm_rank(world(), &mut rank))?;
            check("MPI_Comm_size", ffi::MPI_Comm_size(world(), &mut size))?;
            let mut node: ffi::MPI_Comm = std::mem::zeroed();
            check("MPI_Comm_split_type", ffi::MPI_Comm_split_type(world(), ffi::RSMPI_COMM_TYPE_SHARED, rank, ffi::RSMPI_INFO_NULL, &mut node))?;
            check("MPI_Comm_rank", ffi::MPI_Comm_rank(node, &mut local))?;
            check("MPI_Comm_free", ffi::MPI_Comm_free(&mut node))?;
        }
        Ok((rank as usize, size as usize, local as usize))
    }

    pub fn rank(&self) -> usize {
        self.rank
    }
    pub fn size(&self) -> usize {
        self.size
    }
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }
    /// Which device this rank runs on, and why.
    pub fn describe(&self) -> &str {
        &self.note
    }

    /// Ends every rank of the job with `code` (`MPI_Abort`): what a rank should do
    /// after a ring error, since the others cannot finish without it.
    pub fn abort(&self, code: i32) -> ! {
        // SAFETY: MPI is initialized.
        unsafe {
            ffi::MPI_Abort(world(), code);
        }
        std::process::exit(code)
    }

    /// Waits until every rank gets here (bounded by nothing but MPI; use between calls).
    pub fn barrier(&self) -> Result<()> {
        // SAFETY: MPI is initialized.
        check("MPI_Barrier", unsafe { ffi::MPI_Barrier(world()) })
    }

    /// The largest of every rank's `x`.
    pub fn max_f64(&self, x: f64) -> Result<f64> {
        let mut out = 0.0f64;
        // SAFETY: one f64 in, one f64 out.
        check("MPI_Allreduce", unsafe {
            ffi::MPI_Allreduce(&x as *const f64 as *const _, &mut out as *mut f64 as *mut _, 1, ffi::RSMPI_DOUBLE, ffi::RSMPI_MAX, world())
        })?;
        Ok(out)
    }

    /// This rank's chunks of host Q, K and V (the whole arrays, e.g. read by every
    /// rank from a shared file system), uploaded in `dtype`.
    pub fn upload(&self, q: &[f32], k: &[f32], v: &[f32], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<RingShard> {
        self.upload_host(q, k, v, shape, dtype, opts)
    }

    fn upload_host<T: super::HostElem>(&self, q: &[T], k: &[T], v: &[T], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<RingShard> {
        super::check_host_lens(q.len(), k.len(), v.len(), &shape)?;
        shape.validate()?;
        let plan = Plan::masked(shape.seq_q, shape.seq_k, self.size, opts.placement, false, opts.mask.clone());
        super::upload_shard(&self.ctx, self.rank, &plan, shape, dtype, &|which, b, n, row, r: &Range<usize>| {
            super::chunk_bytes([q, k, v][which], b, n, row, r, dtype)
        })
        .map_err(|e| Error::Ring { device: self.rank, step: 0, source: Box::new(e) })
    }

    /// Runs this rank's part of the ring on its shard (every rank calls this with the
    /// same shape, dtype and options). Returns this rank's outputs (on its device) and
    /// its stats (per-device vectors hold this rank's entry only).
    pub fn forward_shard(&self, shard: &RingShard, shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<(RingShardOutput, RingStats)> {
        let t0 = Instant::now();
        shape.validate()?;
        if opts.order.is_some() {
            return Err(Error::InvalidArgument("RingOptions::order is not supported over MPI yet".into()));
        }
        let scale = check_scale(&shape, opts)?;
        let n = self.size;
        let plan = Plan::masked(shape.seq_q, shape.seq_k, n, opts.placement, opts.attention.causal, opts.mask.clone());
        if let Some(m) = &opts.mask {
            super::check_mask(m, &shape)?;
        }
        check_shard(shard, self.rank, &plan, &shape, dtype)?;
        let max_block =
            2 * plan.kv.chunks_per_block() as u64 * (plan.kv.max_chunk() * shape.batch * shape.kv_heads * shape.head_dim) as u64 * dtype.size();
        let piece = transport::piece_bytes(opts.piece_bytes, max_block.max(4));
        let abort = AtomicBool::new(false);
        let threads = transport::copy_threads(1);
        let job = scheduler::Job { plan: &plan, shape, dtype, scale, opts, piece, threads, abort: &abort };
        let pieces = transport::piece_count(max_block, piece);
        if pieces >= GATHER_TAG as usize {
            return Err(Error::InvalidArgument(format!(
                "{pieces} pieces per block over MPI (at most {}): use larger RingOptions::piece_bytes",
                GATHER_TAG - 1
            )));
        }
        let link = MpiLink {
            rank: self.rank,
            next: (self.rank + 1) % n,
            prev: (self.rank + n - 1) % n,
            send_bufs: (0..pieces).map(|_| vec![0u8; piece as usize]).collect(),
            recv_bufs: (0..pieces).map(|_| vec![0u8; piece as usize]).collect(),
            recvs: Vec::new(),
            threads,
        };
        let mut ws = std::mem::take(&mut *self.workspace.lock().unwrap_or_else(|p| p.into_inner()));
        let rep = scheduler::run_device(self.rank, &self.ctx, &job, shard, link, &mut ws).map_err(|f| Error::Ring {
            device: self.rank,
            step: f.step,
            source: Box::new(f.error),
        })?;
        *self.workspace.lock().unwrap_or_else(|p| p.into_inner()) = ws;
        let stats = RingStats::from_reports(&plan, opts.placement, std::slice::from_ref(&rep), piece, t0.elapsed().as_secs_f64());
        Ok((rep.output, stats))
    }

    /// Downloads every rank's outputs and assembles them on rank 0 in the caller's
    /// order: O (batch, seq_q, heads, head_dim) as f32 and LSE (batch, heads, seq_q).
    /// Every rank must call it; rank 0 gets `Some`, the others `None`.
    pub fn gather(&self, out: &RingShardOutput, shape: Shape) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
        let (b, h, d, nq) = (shape.batch, shape.heads, shape.head_dim, shape.seq_q);
        // Per own chunk: (start row, rows, O values, LSE values) as f32.
        let mut mine: Vec<(usize, usize, Vec<f32>, Vec<f32>)> = Vec::new();
        for ((r, o), l) in out.rows.iter().zip(&out.o).zip(&out.lse) {
            if let (Some(o), Some(l)) = (o, l) {
                mine.push((r.start, r.len(), o.to_f32_vec(&self.ctx)?, l.to_vec(&self.ctx)?));
            }
        }
        if self.rank != 0 {
            let header: Vec<u64> = std::iter::once(mine.len() as u64).chain(mine.iter().flat_map(|c| [c.0 as u64, c.1 as u64])).collect();
            send_bytes(bytemuck::cast_slice(&header), 0, GATHER_TAG)?;
            for c in &mine {
                send_bytes(bytemuck::cast_slice(&c.2), 0, GATHER_TAG + 1)?;
                send_bytes(bytemuck::cast_slice(&c.3), 0, GATHER_TAG + 2)?;
            }
            return Ok(None);
        }
        let mut o = vec![0.0f32; shape.q_len()];
        let mut lse = vec![f32::NEG_INFINITY; shape.lse_len()];
        let mut place = |start: usize, len: usize, co: &[f32], cl: &[f32]| -> Result<()> {
            if start + len > nq || co.len() != b * len * h * d || cl.len() != b * h * len {
                return Err(Error::ShapeMismatch {
                    what: "MPI ring output chunk",
                    expected: format!("rows within 0..{nq} of ({b}, rows, {h}, {d})"),
                    got: format!("rows {start}..{}, {} O and {} LSE values", start + len, co.len(), cl.len()),
                });
            }
            for bi in 0..b {
                let dst = (bi * nq + start) * h * d;
                o[dst..dst + len * h * d].copy_from_slice(&co[bi * len * h * d..(bi + 1) * len * h * d]);
                for hi in 0..h {
                    let dst = (bi * h + hi) * nq + start;
                    lse[dst..dst + len].copy_from_slice(&cl[(bi * h + hi) * len..(bi * h + hi + 1) * len]);
                }
            }
            Ok(())
        };
        for c in &mine {
            place(c.0, c.1, &c.2, &c.3)?;
        }
        for src in 1..self.size {
            let header: Vec<u64> = bytemuck::pod_collect_to_vec(&recv_bytes(src, GATHER_TAG)?);
            let count = *header.first().unwrap_or(&0) as usize;
            if header.len() != 1 + 2 * count {
                return Err(Error::InvalidArgument(format!("rank {src} sent a malformed output header")));
            }
            for c in 0..count {
                let (start, len) = (header[1 + 2 * c] as usize, header[2 + 2 * c] as usize);
                let co: Vec<f32> = bytemuck::pod_collect_to_vec(&recv_bytes(src, GATHER_TAG + 1)?);
                let cl: Vec<f32> = bytemuck::pod_collect_to_vec(&recv_bytes(src, GATHER_TAG + 2)?);
                place(start, len, &co, &cl)?;
            }
        }
        Ok(Some((o, lse)))
    }
}

/// Blocking send of `data` to `dest`: a length message, then parts of at most `MAX_MSG` bytes.
fn send_bytes(data: &[u8], dest: usize, tag: c_int) -> Result<()> {
    let len = data.len() as u64;
    // SAFETY: buffers outlive the blocking calls.
    unsafe {
        check("MPI_Send", ffi::MPI_Send(&len as *const u64 as *const _, 8, byte_type(), dest as c_int, tag, world()))?;
        for part in data.chunks(MAX_MSG) {
            check("MPI_Send", ffi::MPI_Send(part.as_ptr() as *const _, part.len() as c_int, byte_type(), dest as c_int, tag, world()))?;
        }
    }
    Ok(())
}

/// Blocking receive of what [`send_bytes`] sent.
fn recv_bytes(src: usize, tag: c_int) -> Result<Vec<u8>> {
    let mut len = 0u64;
    // SAFETY: buffers outlive the blocking calls; sizes match what the sender sends.
    unsafe {
        let mut st: ffi::MPI_Status = std::mem::zeroed();
        check("MPI_Recv", ffi::MPI_Recv(&mut len as *mut u64 as *mut _, 8, byte_type(), src as c_int, tag, world(), &mut st))?;
        let mut out = vec![0u8; len as usize];
        for part in out.chunks_mut(MAX_MSG) {
            check("MPI_Recv", ffi::MPI_Recv(part.as_mut_ptr() as *mut _, part.len() as c_int, byte_type(), src as c_int, tag, world(), &mut st))?;
        }
        Ok(out)
    }
}

/// A posted receive of one piece.
struct PostedRecv {
    req: ffi::MPI_Request,
    want: u64,
    done: bool,
}

/// The MPI link of one rank.
struct MpiLink {
    rank: usize,
    next: usize,
    prev: usize,
    /// Host buffers of the pieces in flight (reused; never reallocated while a request uses them).
    send_bufs: Vec<Vec<u8>>,
    recv_bufs: Vec<Vec<u8>>,
    /// The receives posted for this step's incoming block.
    recvs: Vec<PostedRecv>,
    threads: usize,
}

impl MpiLink {
    fn cancel_all(&mut self) {
        for r in &mut self.recvs {
            if !r.done {
                // SAFETY: a pending request of this link; cancelled and freed, its buffer stays alive.
                unsafe {
                    ffi::MPI_Cancel(&mut r.req);
                    ffi::MPI_Request_free(&mut r.req);
                }
                r.done = true;
            }
        }
    }
}

impl Drop for MpiLink {
    fn drop(&mut self) {
        self.cancel_all();
    }
}

fn test(req: &mut ffi::MPI_Request) -> std::result::Result<Option<ffi::MPI_Status>, SendError> {
    let mut flag: c_int = 0;
    // SAFETY: a live request; status is plain data.
    unsafe {
        let mut st: ffi::MPI_Status = std::mem::zeroed();
        check("MPI_Test", ffi::MPI_Test(req, &mut flag, &mut st)).map_err(SendError::Gpu)?;
        Ok((flag != 0).then_some(st))
    }
}

impl Link for MpiLink {
    fn post_receive(&mut self, _step: usize, segments: &[u64], piece: u64) -> std::result::Result<(), SendError> {
        let total: u64 = segments.iter().sum();
        let n = transport::piece_count(total, piece);
        if n > self.recv_bufs.len() {
            return Err(SendError::Gpu(Error::InvalidArgument(format!("MPI ring block of {total} bytes is larger than the receive buffers"))));
        }
        self.recvs.clear();
        for j in 0..n {
            let want = piece.min(total - j as u64 * piece);
            let mut req: ffi::MPI_Request = unsafe { ffi::RSMPI_REQUEST_NULL };
            // SAFETY: the buffer lives in self and is not touched until the request completes or is cancelled.
            check("MPI_Irecv", unsafe {
                ffi::MPI_Irecv(
                    self.recv_bufs[j].as_mut_ptr() as *mut _,
                    want as c_int,
                    byte_type(),
                    self.prev as c_int,
                    j as c_int,
                    world(),
                    &mut req,
                )
            })
            .map_err(SendError::Gpu)?;
            self.recvs.push(PostedRecv { req, want, done: false });
        }
        Ok(())
    }

    fn reclaim(&mut self, st: &mut SendStaging, _timeout: Duration, _abort: &AtomicBool) -> std::result::Result<(), LinkError> {
        // Sends complete inside `exchange`, and pieces are unmapped once copied out.
        for (j, m) in st.mapped.iter_mut().enumerate() {
            if *m {
                st.pieces[j].unmap();
                *m = false;
            }
        }
        Ok(())
    }

    fn exchange(
        &mut self,
        ctx: &GpuContext,
        send: Option<(&mut SendStaging, PendingSend)>,
        recv: Option<(&mut RecvStaging, &[(&wgpu::Buffer, u64)])>,
        timeout: Duration,
        _abort: &AtomicBool,
    ) -> std::result::Result<ExchangeTimes, SendError> {
        let t0 = Instant::now();
        let mut times = ExchangeTimes::default();
        let (mut st, mut pend) = match send {
            Some((st, p)) => (Some(st), p.pieces.into_iter().collect::<std::collections::VecDeque<_>>()),
            None => (None, Default::default()),
        };
        let (mut rt, segments) = match recv {
            Some((rt, segs)) => (Some(rt), segs),
            None => (None, &[][..]),
        };
        let lens: Vec<u64> = segments.iter().map(|s| s.1).collect();
        if rt.is_none() {
            self.cancel_all();
            self.recvs.clear();
        }
        let mut sends: Vec<ffi::MPI_Request> = Vec::new();
        let mut next_recv = 0usize;
        let mut last = Instant::now();
        let mut idle = 0u32;
        loop {
            let mut progress = false;
            // Outgoing: each piece once mapped -> host buffer -> MPI_Isend.
            if let Some(st) = st.as_deref_mut() {
                while let Some((_, _, _, rx)) = pend.front() {
                    match rx.try_recv() {
                        Ok(r) => {
                            let (j, len, _, _) = pend.pop_front().expect("front exists");
                            r.map_err(|e| SendError::Gpu(gpu_err(ctx, format!("mapping a ring staging buffer failed: {e}"))))?;
                            let buf = &mut self.send_bufs[j][..len as usize];
                            copy_host(ctx, &st.pieces[j], HostSide::Read(buf), self.threads).map_err(SendError::Gpu)?;
                            st.pieces[j].unmap();
                            st.mapped[j] = false;
                            let mut req: ffi::MPI_Request = unsafe { ffi::RSMPI_REQUEST_NULL };
                            // SAFETY: the buffer lives in self and is not written until this send completes (below).
                            check("MPI_Isend", unsafe {
                                ffi::MPI_Isend(buf.as_ptr() as *const _, len as c_int, byte_type(), self.next as c_int, j as c_int, world(), &mut req)
                            })
                            .map_err(SendError::Gpu)?;
                            sends.push(req);
                            progress = true;
                        }
                        Err(std::sync::mpsc::TryRecvError::Empty) => break,
                        Err(_) => return Err(SendError::Gpu(gpu_err(ctx, "a staging buffer's map callback was dropped".into()))),
                    }
                }
            }
            // Incoming: pieces in order as their receives complete.
            if let Some(rt) = rt.as_deref_mut() {
                while next_recv < self.recvs.len() {
                    let r = &mut self.recvs[next_recv];
                    let Some(status) = test(&mut r.req)? else { break };
                    r.done = true;
                    let mut count: c_int = 0;
                    // SAFETY: status of a completed receive.
                    check("MPI_Get_count", unsafe { ffi::MPI_Get_count(&status, byte_type(), &mut count) }).map_err(SendError::Gpu)?;
                    if count as u64 != r.want {
                        return Err(SendError::Gpu(Error::WrongSize {
                            what: "ring K/V piece from the previous rank",
                            expected: r.want,
                            got: count as u64,
                            unit: "bytes",
                        }));
                    }
                    let t1 = Instant::now();
                    let data = &self.recv_bufs[next_recv][..r.want as usize];
                    let threads = self.threads;
                    rt.store_piece(ctx, next_recv, &lens, segments, timeout, |local| copy_host(ctx, local, HostSide::Write(data), threads))
                        .map_err(SendError::Gpu)?;
                    times.recv += t1.elapsed();
                    next_recv += 1;
                    progress = true;
                }
            }
            // Sends in flight.
            let before = sends.len();
            let mut i = 0;
            while i < sends.len() {
                if test(&mut sends[i])?.is_some() {
                    sends.swap_remove(i);
                } else {
                    i += 1;
                }
            }
            progress |= sends.len() < before;
            let recv_left = rt.is_some() && next_recv < self.recvs.len();
            if pend.is_empty() && sends.is_empty() && !recv_left {
                break;
            }
            if progress {
                last = Instant::now();
                idle = 0;
                continue;
            }
            if last.elapsed() >= timeout {
                // Leave the requests to MPI_Abort / finalization: their buffers stay alive in self.
                let what = if !pend.is_empty() {
                    "its own GPU's staging copies"
                } else if !sends.is_empty() {
                    "the next rank to receive"
                } else {
                    "the previous rank to send"
                };
                for s in &mut sends {
                    // SAFETY: pending send of this link; cancel and free (best effort).
                    unsafe {
                        ffi::MPI_Cancel(s);
                        ffi::MPI_Request_free(s);
                    }
                }
                return Err(SendError::Gpu(Error::Timeout {
                    adapter: format!("rank {} ({}), waiting for {what}", self.rank, ctx.name()),
                    seconds: timeout.as_secs_f64(),
                }));
            }
            transport::idle_round(ctx, !pend.is_empty(), &mut idle)?;
        }
        times.wall = t0.elapsed();
        Ok(times)
    }
}

/// A shard of this rank from f16 host data (see [`MpiRing::upload`]).
impl MpiRing {
    pub fn upload_f16(&self, q: &[f16], k: &[f16], v: &[f16], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<RingShard> {
        self.upload_host(q, k, v, shape, dtype, opts)
    }
}
