//! The ring over MPI ranks (cargo feature `mpi`): each rank owns one or several
//! local devices; K/V blocks move between the devices of a rank through the
//! in-process transport and between ranks with non-blocking MPI sends and receives.
//!
//! With `L` devices per rank and `size` ranks, the ring has `size * L` devices; rank
//! `r`'s local device `l` is ring device `g = r * L + l`, and the placement
//! (`Plan`) is that of a `size * L`-device ring. Device `l` sends to device `l + 1`
//! of its rank through in-process channels (`transport::Outbox` /
//! `transport::Inbox`, as in [`super::RingAttention`]); the rank's last device sends
//! to the next rank's first device over MPI, and its first device receives from the
//! previous rank over MPI. Every device runs the same scheduler
//! (`scheduler::run_device`) in its own host thread (a rank with one device
//! runs it on the calling thread); a device's link is a sending half and a receiving
//! half (`transport::Link`) of whichever kind its neighbours need.
//!
//! Over MPI, per step:
//!
//! 1. the receiving device posts `MPI_Irecv` for every piece of the block the previous
//!    rank will send (into host buffers), *before* submitting the step's compute;
//! 2. the sending device copies the block it holds into its `MAP_READ` staging pieces
//!    on the GPU, submits the compute, and as each piece is mapped posts `MPI_Isend`
//!    to the next rank straight from the mapped staging memory (the piece stays mapped
//!    until the send completes; no host copy on the sending side);
//! 3. as each receive completes, the receiving device copies the piece into a mapped
//!    receive staging piece and submits the GPU copy into its other K/V slot.
//!
//! **Threads.** With one device per rank, MPI is called from the calling thread only
//! (`MPI_THREAD_FUNNELED`). With several, the rank's first device (receiving) and its
//! last device (sending) call MPI from their own threads at the same time, so MPI is
//! initialized with `MPI_THREAD_MULTIPLE`, and [`MpiRing::init_local`] fails with a
//! clear error if the library does not provide it (OpenMPI 4+ and MPICH do by
//! default; `ompi_info | grep THREAD_MULTIPLE` tells). Each MPI request is only ever
//! used by the thread that created it; collective calls (barrier, gather, reductions)
//! are made by the calling thread while no device thread runs. Calling MPI directly
//! from the two device threads keeps each direction's progress in the exchange loop
//! that also drives its GPU copies, with no extra hop through a proxy thread.
//!
//! Errors are returned (`MPI_ERRORS_RETURN` on the world communicator), and every wait
//! is bounded by [`RingOptions::timeout`]: a rank whose neighbour died or stalls fails
//! with [`Error::Ring`] naming the ring device (global index) and the step. A failed
//! rank cannot leave the others consistent, so the caller should then end the job
//! with [`MpiRing::abort`] (the CLI does); OpenMPI's launcher also ends the job when a
//! rank dies.

use std::ffi::c_int;
use std::ops::Range;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use half::f16;
use mpi::ffi;

use super::placement::Plan;
use super::scheduler::{self, DeviceRun};
use super::transport::{self, copy_into_mapped, Incoming, Link, Outgoing, RecvHalf, SendError, SendHalf, SendStaging};
use super::{check_scale, check_shard, RingGpuOutput, RingOptions, RingShard, RingStats};
use crate::context::{enumerate_adapters, sort_adapters, GpuContext};
use crate::error::{Error, Result};
use crate::tensor::{Dtype, Shape};

/// One rank's part of a ring over MPI ranks: its local devices, ring devices
/// `rank * L .. (rank + 1) * L` of `size * L` (`L` = [`MpiRing::devices_per_rank`]).
pub struct MpiRing {
    // Finalizes MPI when dropped.
    _universe: mpi::environment::Universe,
    rank: usize,
    size: usize,
    contexts: Vec<Arc<GpuContext>>,
    note: String,
    /// Per local device: the buffers of the last call (see `RingAttention`).
    workspaces: scheduler::Workspaces,
    /// Host memory of the in-process links between this rank's devices when they
    /// import host memory (shared staging; MPI hops keep their own).
    shared: transport::SharedCache,
    /// The mask in curve coordinates of the last `RingOptions::order` (see `resolve_order`).
    order_masks: Mutex<Option<super::OrderMask>>,
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

/// Tag of the input scatter ([`MpiRing::scatter`]): one message per receiving device.
const SCATTER_TAG: c_int = GATHER_TAG + 4;

impl MpiRing {
    /// Initializes MPI and opens this rank's device (one device per rank): see
    /// [`MpiRing::init_local`].
    pub fn init() -> Result<Self> {
        Self::init_local(1)
    }

    /// Initializes MPI and opens `devices_per_rank` devices for this rank (every rank
    /// must pass the same count; a mismatch or 0 is an error on every rank). The GPU
    /// adapters of the preferred backend are shared out by local rank (rank within the
    /// host): local rank `i` gets GPUs `i * L .. (i + 1) * L`, so a host with 4 GPUs runs
    /// 2 ranks of 2 devices, 4 ranks of 1 or 1 rank of 4 (with too few GPUs they are
    /// shared round-robin, several devices per GPU). With no GPU adapter (CPU-only hosts,
    /// CI) every rank opens `L` logical devices on the preferred adapter.
    ///
    /// With `L > 1`, MPI must provide `MPI_THREAD_MULTIPLE` (see the module docs).
    pub fn init_local(devices_per_rank: usize) -> Result<Self> {
        let universe = Self::init_mpi(devices_per_rank)?;
        let (rank, size, local) = Self::ranks()?;
        let l = devices_per_rank;
        let mut adapters = enumerate_adapters();
        adapters.retain(|a| {
            let t = a.get_info().device_type;
            matches!(t, wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu)
        });
        sort_adapters(&mut adapters);
        if let Some(b) = adapters.first().map(|a| a.get_info().backend) {
            adapters.retain(|a| a.get_info().backend == b);
        }
        let first = rank * l;
        let (contexts, note) = if adapters.is_empty() {
            let contexts = super::logical_contexts(GpuContext::new()?, l)?;
            let what = if l == 1 { "using".to_string() } else { format!("{l} logical devices on") };
            let note = format!("rank {rank}/{size} (ring devices {}): no GPU adapter, {what} {}", range(first, l), contexts[0].describe());
            (contexts, note)
        } else {
            let count = adapters.len();
            let picks: Vec<usize> = (0..l).map(|i| (local * l + i) % count).collect();
            let contexts = picks.iter().map(|&i| GpuContext::from_adapter(adapters[i].clone())).collect::<Result<Vec<_>>>()?;
            let shared = if local * l + l > count { " (more devices than GPUs on this host: GPUs shared)" } else { "" };
            let list: Vec<String> = picks.iter().zip(&contexts).map(|(i, c)| format!("GPU {i} of {count}: {}", c.describe())).collect();
            let note = format!("rank {rank}/{size} (local {local}, ring devices {}){shared}: {}", range(first, l), list.join("; "));
            (contexts, note)
        };
        Ok(Self::build(universe, rank, size, contexts, note))
    }

    /// Initializes MPI and uses `ctx` as this rank's only device.
    pub fn with_context(ctx: GpuContext) -> Result<Self> {
        Self::with_contexts(vec![ctx])
    }

    /// Initializes MPI and uses `contexts` as this rank's devices, in ring order (every
    /// rank must pass the same number; see [`MpiRing::init_local`]).
    pub fn with_contexts(contexts: Vec<GpuContext>) -> Result<Self> {
        let universe = Self::init_mpi(contexts.len())?;
        let (rank, size, _) = Self::ranks()?;
        let first = rank * contexts.len();
        let list: Vec<String> = contexts.iter().enumerate().map(|(i, c)| format!("device {}: {}", first + i, c.describe())).collect();
        let note = format!("rank {rank}/{size}: {}", list.join("; "));
        Ok(Self::build(universe, rank, size, contexts, note))
    }

    fn build(universe: mpi::environment::Universe, rank: usize, size: usize, contexts: Vec<GpuContext>, note: String) -> Self {
        let contexts = contexts.into_iter().map(Arc::new).collect();
        MpiRing {
            _universe: universe,
            rank,
            size,
            contexts,
            note,
            workspaces: Default::default(),
            shared: Default::default(),
            order_masks: Mutex::new(None),
        }
    }

    /// Initializes MPI for `l` devices per rank (`MPI_THREAD_MULTIPLE` for several,
    /// `MPI_THREAD_FUNNELED` for one) and checks, on every rank at once, that every
    /// rank asks for the same `l >= 1` and got the thread level it needs, so a bad
    /// count fails every rank instead of leaving some waiting.
    fn init_mpi(l: usize) -> Result<mpi::environment::Universe> {
        use mpi::Threading;
        let want = if l > 1 { Threading::Multiple } else { Threading::Funneled };
        let (universe, got) =
            mpi::initialize_with_threading(want).ok_or_else(|| Error::InvalidArgument("MPI is already initialized in this process".into()))?;
        let level = |t: Threading| match t {
            Threading::Single => 0,
            Threading::Funneled => 1,
            Threading::Serialized => 2,
            Threading::Multiple => 3,
        };
        // Errors come back as codes (and become Error values) instead of aborting.
        // SAFETY: plain MPI calls on the world communicator after initialization.
        check("MPI_Comm_set_errhandler", unsafe { ffi::MPI_Comm_set_errhandler(world(), ffi::RSMPI_ERRORS_RETURN) })?;
        // The minimum over the ranks of (l, -l, thread level sufficient).
        let mine = [l as i64, -(l as i64), i64::from(level(got) >= level(want))];
        let mut all = [0i64; 3];
        // SAFETY: three i64 in, three i64 out.
        check("MPI_Allreduce", unsafe {
            ffi::MPI_Allreduce(mine.as_ptr() as *const _, all.as_mut_ptr() as *mut _, 3, ffi::RSMPI_INT64_T, ffi::RSMPI_MIN, world())
        })?;
        let (min, max, threads_ok) = (all[0], -all[1], all[2] == 1);
        if min < 1 {
            return Err(Error::InvalidArgument(format!("devices per MPI rank must be at least 1 (this rank asked for {l})")));
        }
        if min != max {
            return Err(Error::InvalidArgument(format!(
                "every MPI rank must own the same number of devices: ranks asked for {min} to {max} (this rank {l})"
            )));
        }
        if !threads_ok {
            return Err(Error::InvalidArgument(if level(got) < level(want) {
                format!(
                    "{l} devices per MPI rank need MPI_THREAD_MULTIPLE (two device threads call MPI), but this MPI library provides only {got:?}: \
                     use one device per rank (one rank per GPU), or an MPI built with thread support"
                )
            } else {
                "another MPI rank did not get the thread level it needs (MPI_THREAD_MULTIPLE for several devices per rank)".to_string()
            }));
        }
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
    /// Number of ranks.
    pub fn size(&self) -> usize {
        self.size
    }
    /// Devices each rank owns (`L`).
    pub fn devices_per_rank(&self) -> usize {
        self.contexts.len()
    }
    /// Devices of the whole ring (`size * L`).
    pub fn devices(&self) -> usize {
        self.size * self.contexts.len()
    }
    /// Ring index of this rank's first device (`rank * L`); local device `l` is ring
    /// device `first_device() + l`.
    pub fn first_device(&self) -> usize {
        self.rank * self.contexts.len()
    }
    /// This rank's devices, in ring order.
    pub fn contexts(&self) -> &[Arc<GpuContext>] {
        &self.contexts
    }
    /// This rank's first device.
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.contexts[0]
    }
    /// Which devices this rank runs on, and why.
    pub fn describe(&self) -> &str {
        &self.note
    }
    /// Frees the buffers kept from the last call.
    /// How blocks travel between this rank's own devices (see [`super::StagingMemory`]):
    /// shared host memory where they all import it; MPI hops keep staging of their own.
    pub fn local_staging(&self) -> Result<super::StagingMemory> {
        self.shared.kind(&self.contexts)
    }

    pub fn release_buffers(&self) {
        self.workspaces.clear();
        self.shared.clear();
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

    /// Rank 0's `values` on every rank (`MPI_Bcast`; every rank passes a slice of the
    /// same length, the others' contents are overwritten).
    pub fn broadcast_u64(&self, values: &mut [u64]) -> Result<()> {
        // SAFETY: `values` is valid for its length on every rank; u64 = 8 bytes.
        check("MPI_Bcast", unsafe { ffi::MPI_Bcast(values.as_mut_ptr() as *mut _, (values.len() * 8) as c_int, byte_type(), 0, world()) })
    }

    /// The plan of a call: a ring of `size * L` devices.
    fn plan(&self, shape: &Shape, opts: &RingOptions, causal: bool) -> Plan {
        Plan::masked(shape.seq_q, shape.seq_k, self.devices(), opts.placement, causal, opts.mask.clone())
    }

    /// This rank's shards, one per local device in ring order, from host Q, K and V
    /// (the whole arrays, e.g. read by every rank from a shared file system): each
    /// device receives only its own chunks, in `dtype`. The devices upload in parallel.
    pub fn upload(&self, q: &[f32], k: &[f32], v: &[f32], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<Vec<RingShard>> {
        self.upload_host(q, k, v, shape, dtype, opts)
    }

    /// [`MpiRing::upload`] from f16 host data.
    pub fn upload_f16(&self, q: &[f16], k: &[f16], v: &[f16], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<Vec<RingShard>> {
        self.upload_host(q, k, v, shape, dtype, opts)
    }

    fn upload_host<T: super::HostElem>(&self, q: &[T], k: &[T], v: &[T], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<Vec<RingShard>> {
        super::check_host_lens(q.len(), k.len(), v.len(), &shape)?;
        shape.validate()?;
        let permuted;
        let (q, k, v) = match &opts.order {
            Some(p) => {
                permuted = super::permute_inputs(p, q, k, v, &shape)?;
                (&permuted.0[..], &permuted.1[..], &permuted.2[..])
            }
            None => (q, k, v),
        };
        let resolved = super::resolve_order(opts, &shape, &self.order_masks)?;
        let plan = self.plan(&shape, resolved.as_ref().unwrap_or(opts), false);
        self.upload_ordered(q, k, v, &plan, shape, dtype)
    }

    /// This rank's shards from host arrays already in the ring's token order.
    fn upload_ordered<T: super::HostElem>(&self, q: &[T], k: &[T], v: &[T], plan: &Plan, shape: Shape, dtype: Dtype) -> Result<Vec<RingShard>> {
        let bytes = |which: usize, b: usize, n: usize, row: usize, r: &Range<usize>| super::chunk_bytes([q, k, v][which], b, n, row, r, dtype);
        let bytes = &bytes;
        let first = self.first_device();
        std::thread::scope(|sc| {
            let hs: Vec<_> = self
                .contexts
                .iter()
                .enumerate()
                .map(|(l, ctx)| sc.spawn(move || super::upload_shard(ctx, first + l, plan, shape, dtype, bytes)))
                .collect();
            hs.into_iter()
                .enumerate()
                .map(|(l, h)| {
                    h.join().unwrap_or_else(|_| Err(Error::InvalidArgument("ring upload thread panicked".into()))).map_err(|e| Error::Ring {
                        device: first + l,
                        step: 0,
                        source: Box::new(e),
                    })
                })
                .collect()
        })
    }

    /// This rank's shards when only rank 0 holds the inputs: rank 0 passes
    /// `Some((q, k, v))` (the whole host arrays), every other rank `None`, all with the
    /// same shape, dtype and options. Rank 0 converts each device's chunks to `dtype`
    /// and sends them to the rank that owns the device (one message per device, in
    /// ring order), then uploads its own; the others upload what they receive. Memory
    /// on rank 0: the inputs plus one device's chunks at a time. The alternative, where
    /// every rank reads the inputs (or builds its own shard), is [`MpiRing::upload`].
    /// When rank 0's inputs are wrong (or missing) every rank returns an error: rank 0
    /// tells the others before returning its own.
    pub fn scatter(&self, host: Option<(&[f32], &[f32], &[f32])>, shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<Vec<RingShard>> {
        shape.validate()?;
        let resolved = super::resolve_order(opts, &shape, &self.order_masks)?;
        let plan = self.plan(&shape, resolved.as_ref().unwrap_or(opts), false);
        let l = self.contexts.len();
        let fail = |device: usize| move |e: Error| Error::Ring { device, step: 0, source: Box::new(e) };
        if self.rank == 0 {
            // Every message starts with a status byte: 1 = the chunks follow, 0 = rank 0
            // failed (the others then return an error instead of waiting forever).
            let prepared = match host {
                None => Err(Error::InvalidArgument("MpiRing::scatter: rank 0 must pass the inputs".into())),
                Some((q, k, v)) => super::check_host_lens(q.len(), k.len(), v.len(), &shape).and_then(|_| {
                    // With an order, the chunks are cut from the permuted arrays.
                    opts.order.as_ref().map(|p| super::permute_inputs(p, q, k, v, &shape)).transpose().map(|p| (q, k, v, p))
                }),
            };
            let (q, k, v, permuted) = match prepared {
                Ok(x) => x,
                Err(e) => {
                    for g in l..self.devices() {
                        send_bytes(&[0], g / l, SCATTER_TAG).map_err(fail(g))?;
                    }
                    return Err(e);
                }
            };
            let (pq, pk, pv) = permuted.as_ref().map_or((q, k, v), |x| (&x.0[..], &x.1[..], &x.2[..]));
            for g in l..self.devices() {
                let mut msg = vec![1u8];
                for (which, b, n, row, r) in shard_chunks(&plan, g, &shape) {
                    msg.extend_from_slice(&super::chunk_bytes([pq, pk, pv][which], b, n, row, &r, dtype));
                }
                send_bytes(&msg, g / l, SCATTER_TAG).map_err(fail(g))?;
            }
            // Rank 0's own devices: from the same (already ordered) arrays and plan.
            return self.upload_ordered(pq, pk, pv, &plan, shape, dtype);
        }
        // Other ranks receive their messages even when called wrongly, so rank 0 never
        // waits on them.
        let first = self.first_device();
        let es = dtype.size() as usize;
        let mut shards = Vec::with_capacity(l);
        for (i, ctx) in self.contexts.iter().enumerate() {
            let g = first + i;
            let msg = recv_bytes(0, SCATTER_TAG).map_err(fail(g))?;
            match msg.first() {
                Some(1) => {}
                _ => return Err(fail(g)(Error::InvalidArgument("MpiRing::scatter: rank 0 could not send the inputs (see its error)".into()))),
            }
            if host.is_some() {
                continue;
            }
            // Cut the message into the chunks it holds, in the order rank 0 wrote them.
            let mut parts = std::collections::HashMap::new();
            let mut at = 1;
            for (which, b, _, row, r) in shard_chunks(&plan, g, &shape) {
                let len = r.len() * row * es;
                let part = msg.get(at..at + len).ok_or_else(|| {
                    fail(g)(Error::WrongSize {
                        what: "scattered MPI input shard",
                        expected: (at + len - 1) as u64,
                        got: msg.len() as u64 - 1,
                        unit: "bytes",
                    })
                })?;
                parts.insert((which, b, r.start, r.end), part);
                at += len;
            }
            if at != msg.len() {
                return Err(fail(g)(Error::WrongSize {
                    what: "scattered MPI input shard",
                    expected: at as u64 - 1,
                    got: msg.len() as u64 - 1,
                    unit: "bytes",
                }));
            }
            let bytes = |which: usize, b: usize, _: usize, _: usize, r: &Range<usize>| -> Vec<u8> {
                parts.get(&(which, b, r.start, r.end)).map_or_else(Vec::new, |p| p.to_vec())
            };
            shards.push(super::upload_shard(ctx, g, &plan, shape, dtype, &bytes).map_err(fail(g))?);
        }
        if host.is_some() {
            return Err(Error::InvalidArgument(format!("MpiRing::scatter: only rank 0 passes inputs (this is rank {})", self.rank)));
        }
        Ok(shards)
    }

    /// Runs this rank's part of the ring on its shards (one per local device, as from
    /// [`MpiRing::upload`]; every rank calls this with the same shape, dtype and
    /// options). Returns this rank's outputs (one per local device, on that device)
    /// and its stats: the counts cover the whole ring, the per-device vectors and
    /// `bytes_moved` this rank's devices only.
    pub fn forward_shards(&self, shards: &[RingShard], shape: Shape, dtype: Dtype, opts: &RingOptions) -> Result<RingGpuOutput> {
        let t0 = Instant::now();
        shape.validate()?;
        let user_opts = opts;
        let resolved = super::resolve_order(opts, &shape, &self.order_masks)?;
        let opts = resolved.as_ref().unwrap_or(opts);
        let scale = check_scale(&shape, opts)?;
        let l = self.contexts.len();
        let plan = self.plan(&shape, opts, opts.attention.causal);
        if let Some(m) = &opts.mask {
            super::check_mask(m, &shape)?;
        }
        if shards.len() != l {
            return Err(Error::InvalidArgument(format!("{} shards for a rank of {l} devices", shards.len())));
        }
        let first = self.first_device();
        for (i, sh) in shards.iter().enumerate() {
            check_shard(sh, first + i, &plan, &shape, dtype)?;
        }
        let max_block = scheduler::max_block_bytes(&plan, &shape, dtype);
        let piece = transport::piece_bytes(opts.piece_bytes, max_block.max(4));
        let abort = AtomicBool::new(false);
        let threads = transport::copy_threads(l);
        let job = scheduler::Job { plan: &plan, shape, dtype, scale, opts, piece, threads, abort: &abort };
        let pieces = transport::piece_count(max_block, piece);
        if pieces >= GATHER_TAG as usize {
            return Err(Error::InvalidArgument(format!(
                "{pieces} pieces per block over MPI (at most {}): use larger RingOptions::piece_bytes",
                GATHER_TAG - 1
            )));
        }
        // In-process links between consecutive local devices; with several ranks, the
        // wrap-around one (last -> first) is replaced by MPI to the next rank / from the
        // previous one.
        let (outs, ins) = transport::ring_links(l, pieces);
        let (size, rank) = (self.size, self.rank);
        // The in-process links share host memory where every local device imports it
        // (the wrap-around link only with one rank).
        let (local, staging) = self.shared.staging(&self.contexts, max_block, piece, size == 1)?;
        let mut workspaces = self.workspaces.take(l);
        let devices: Vec<DeviceRun<'_, Box<dyn SendHalf + Send>, Box<dyn RecvHalf + Send>>> = self
            .contexts
            .iter()
            .zip(outs)
            .zip(ins)
            .zip(workspaces.iter_mut())
            .zip(staging)
            .enumerate()
            .map(|(i, ((((ctx, out), inbox), workspace), staging))| {
                let send: Box<dyn SendHalf + Send> =
                    if size > 1 && i == l - 1 { Box::new(MpiSend { rank, next: (rank + 1) % size, sends: Vec::new() }) } else { Box::new(out) };
                let recv: Box<dyn RecvHalf + Send> = if size > 1 && i == 0 {
                    Box::new(MpiRecv { rank, prev: (rank + size - 1) % size, bufs: host_bufs(pieces, piece), recvs: Vec::new(), threads })
                } else {
                    Box::new(inbox)
                };
                DeviceRun { index: first + i, ctx, shard: &shards[i], link: Link { send, recv }, workspace, staging }
            })
            .collect();
        // On failure every workspace and the shared links are dropped (buffers may be
        // mid-transfer).
        let reports = scheduler::run_devices(&job, devices).inspect_err(|_| self.shared.clear())?;
        self.workspaces.put(workspaces);
        // (Host copies happen on the MPI hops; the stats name the shared staging only
        // when every link was in process.)
        let reported = if size > 1 { super::StagingMemory::Device } else { local };
        let stats = RingStats::from_reports(&plan, opts.placement, &reports, (piece, reported), t0.elapsed().as_secs_f64());
        Ok(RingGpuOutput { shards: reports.into_iter().map(|r| r.output).collect(), stats, order: user_opts.order.clone() })
    }

    /// Downloads every rank's outputs and assembles them on rank 0 in the caller's
    /// order: O (batch, seq_q, heads, head_dim) as f32 and LSE (batch, heads, seq_q).
    /// Every rank must call it with its [`MpiRing::forward_shards`] output; rank 0 gets
    /// `Some`, the others `None`.
    pub fn gather(&self, out: &RingGpuOutput, shape: Shape) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
        if out.shards.len() != self.contexts.len() {
            return Err(Error::InvalidArgument(format!("{} output shards for a rank of {} devices", out.shards.len(), self.contexts.len())));
        }
        let (b, h, d, nq) = (shape.batch, shape.heads, shape.head_dim, shape.seq_q);
        // Per own chunk of every local device: (start row, rows, O values, LSE values) as f32.
        let mut mine: Vec<(usize, usize, Vec<f32>, Vec<f32>)> = Vec::new();
        for (ctx, sh) in self.contexts.iter().zip(&out.shards) {
            for ((r, o), l) in sh.rows.iter().zip(&sh.o).zip(&sh.lse) {
                if let (Some(o), Some(l)) = (o, l) {
                    mine.push((r.start, r.len(), o.to_f32_vec(ctx)?, l.to_vec(ctx)?));
                }
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
        if let Some(p) = &out.order {
            // Back to the caller's order (as `RingAttention::download`).
            return Ok(Some((p.unapply(&o, h * d)?, p.unapply(&lse, 1)?)));
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

/// The chunks of ring device `g`'s shard as (which: 0 q / 1 k / 2 v, batch index, rows of
/// the array, elements per row, rows), in the order [`MpiRing::scatter`] sends them.
fn shard_chunks(plan: &Plan, g: usize, shape: &Shape) -> Vec<(usize, usize, usize, usize, Range<usize>)> {
    let q_row = shape.heads * shape.head_dim;
    let kv_row = shape.kv_heads * shape.head_dim;
    let mut out = Vec::new();
    for (which, blocks, n, row) in
        [(0, plan.q.block(g), shape.seq_q, q_row), (1, plan.kv.block(g), shape.seq_k, kv_row), (2, plan.kv.block(g), shape.seq_k, kv_row)]
    {
        for r in blocks.iter().filter(|r| !r.is_empty()) {
            for b in 0..shape.batch {
                out.push((which, b, n, row, r.clone()));
            }
        }
    }
    out
}

/// `n` host buffers of `len` bytes for the pieces in flight.
fn host_bufs(n: usize, len: u64) -> Vec<Vec<u8>> {
    (0..n).map(|_| vec![0u8; len as usize]).collect()
}

/// Ring devices `first .. first + n`, for messages.
fn range(first: usize, n: usize) -> String {
    if n == 1 {
        first.to_string()
    } else {
        format!("{first}..{}", first + n - 1)
    }
}

/// The sending half of a rank's last device: pieces to the next rank's first device.
struct MpiSend {
    rank: usize,
    next: usize,
    /// Sends posted in the current exchange and not completed yet: the request, the
    /// staging piece it reads, and the mapped view of that piece (MPI reads the mapped
    /// memory directly, so the piece stays mapped until the send completes).
    sends: Vec<(ffi::MPI_Request, usize, wgpu::BufferView)>,
}

/// A posted receive of one piece.
struct PostedRecv {
    req: ffi::MPI_Request,
    want: u64,
    done: bool,
}

/// The receiving half of a rank's first device: pieces from the previous rank's last device.
struct MpiRecv {
    rank: usize,
    prev: usize,
    bufs: Vec<Vec<u8>>,
    /// The receives posted for this step's incoming block.
    recvs: Vec<PostedRecv>,
    threads: usize,
}

// SAFETY: MPI requests are plain handles (pointers in OpenMPI). A half and its
// requests are used by one thread at a time: the thread of the device it belongs to,
// and MPI is initialized with MPI_THREAD_MULTIPLE whenever two threads of a rank may
// call it at once (several devices per rank; see `MpiRing::init_mpi`).
unsafe impl Send for MpiSend {}
// SAFETY: as for `MpiSend`.
unsafe impl Send for MpiRecv {}

impl MpiRecv {
    /// Cancels and frees the receives still pending; returns whether there were any.
    fn cancel_all(&mut self) -> bool {
        let mut any = false;
        for r in &mut self.recvs {
            if !r.done {
                // SAFETY: a pending request of this half; cancelled and freed, its buffer stays alive.
                unsafe {
                    ffi::MPI_Cancel(&mut r.req);
                    ffi::MPI_Request_free(&mut r.req);
                }
                r.done = true;
                any = true;
            }
        }
        any
    }
}

impl Drop for MpiRecv {
    fn drop(&mut self) {
        if self.cancel_all() {
            // A cancelled receive may still be writing: never free its buffer.
            std::mem::forget(std::mem::take(&mut self.bufs));
        }
    }
}

impl Drop for MpiSend {
    fn drop(&mut self) {
        for (mut req, _, view) in self.sends.drain(..) {
            // SAFETY: a pending send of this half: freed (it completes, or not, in the
            // background); the mapped memory it reads is never unmapped or freed.
            unsafe {
                ffi::MPI_Request_free(&mut req);
            }
            std::mem::forget(view);
        }
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

impl SendHalf for MpiSend {
    fn reclaim(&mut self, _ctx: &GpuContext, st: &mut SendStaging, _all: bool, _timeout: Duration, _abort: &AtomicBool) -> transport::LinkResult {
        // Sends complete inside `exchange`, and pieces are unmapped once copied out.
        for (j, m) in st.mapped.iter_mut().enumerate() {
            if *m {
                st.pieces[j].unmap();
                *m = false;
            }
        }
        Ok(())
    }

    fn push(&mut self, ctx: &GpuContext, out: &mut Outgoing<'_>) -> std::result::Result<bool, SendError> {
        let mut progress = false;
        // Each piece once mapped -> MPI_Isend straight from the mapped staging memory
        // (host memory the GPU copied into; no host copy on this side).
        while let Some(p) = out.next_mapped(ctx)? {
            let (j, len) = (p.slot, p.len);
            let view = out.st.pieces[j]
                .get_mapped_range(..len)
                .map_err(|e| SendError::Gpu(transport::gpu_err(ctx, format!("reading a staging buffer: {e}"))))?;
            let mut req: ffi::MPI_Request = unsafe { ffi::RSMPI_REQUEST_NULL };
            // SAFETY: the view (and the mapping) lives in self until this send completes;
            // nothing writes the piece meanwhile (it is unmapped only after completion).
            check("MPI_Isend", unsafe {
                ffi::MPI_Isend(view.as_ptr() as *const _, len as c_int, byte_type(), self.next as c_int, j as c_int, world(), &mut req)
            })
            .map_err(SendError::Gpu)?;
            self.sends.push((req, j, view));
            progress = true;
        }
        // Sends in flight; a completed one releases its view and unmaps its piece.
        let mut i = 0;
        while i < self.sends.len() {
            if test(&mut self.sends[i].0)?.is_some() {
                let (_, j, view) = self.sends.swap_remove(i);
                drop(view);
                out.st.pieces[j].unmap();
                out.st.mapped[j] = false;
                progress = true;
            } else {
                i += 1;
            }
        }
        Ok(progress)
    }

    fn in_flight(&self) -> bool {
        !self.sends.is_empty()
    }

    fn timed_out(&mut self, ctx: &GpuContext, gpu_pending: bool, timeout: Duration) -> SendError {
        // The requests are left to MPI_Abort / finalization (see Drop): their buffers stay alive.
        let what = if gpu_pending { "its own GPU's staging copies" } else { "the next rank to receive" };
        SendError::Gpu(Error::Timeout { adapter: format!("rank {} ({}), waiting for {what}", self.rank, ctx.name()), seconds: timeout.as_secs_f64() })
    }
}

impl RecvHalf for MpiRecv {
    fn post_receive(&mut self, _step: usize, segments: &[u64], piece: u64) -> std::result::Result<(), SendError> {
        let total: u64 = segments.iter().sum();
        let n = transport::piece_count(total, piece);
        if n > self.bufs.len() {
            return Err(SendError::Gpu(Error::InvalidArgument(format!("MPI ring block of {total} bytes is larger than the receive buffers"))));
        }
        if self.recvs.iter().any(|r| !r.done) {
            return Err(SendError::Gpu(Error::InvalidArgument("MPI ring: receives of an earlier step are still pending".into())));
        }
        self.recvs.clear();
        for j in 0..n {
            let want = piece.min(total - j as u64 * piece);
            let mut req: ffi::MPI_Request = unsafe { ffi::RSMPI_REQUEST_NULL };
            // SAFETY: the buffer lives in self and is not touched until the request completes or is cancelled.
            check("MPI_Irecv", unsafe {
                ffi::MPI_Irecv(self.bufs[j].as_mut_ptr() as *mut _, want as c_int, byte_type(), self.prev as c_int, j as c_int, world(), &mut req)
            })
            .map_err(SendError::Gpu)?;
            self.recvs.push(PostedRecv { req, want, done: false });
        }
        Ok(())
    }

    fn no_receive(&mut self) {
        self.cancel_all();
        self.recvs.clear();
    }

    fn pull(&mut self, ctx: &GpuContext, inc: &mut Incoming<'_>, timeout: Duration) -> std::result::Result<bool, SendError> {
        if self.recvs.len() != inc.expect {
            return Err(SendError::Gpu(Error::InvalidArgument(format!(
                "MPI ring: {} receives posted for a block of {} pieces",
                self.recvs.len(),
                inc.expect
            ))));
        }
        let mut progress = false;
        // Pieces in order as their receives complete.
        while inc.received < inc.expect {
            let j = inc.received;
            let r = &mut self.recvs[j];
            let Some(status) = test(&mut r.req)? else { break };
            r.done = true;
            let mut count: c_int = 0;
            // SAFETY: status of a completed receive.
            check("MPI_Get_count", unsafe { ffi::MPI_Get_count(&status, byte_type(), &mut count) }).map_err(SendError::Gpu)?;
            if count as u64 != r.want || r.want != inc.next_len() {
                return Err(SendError::Gpu(Error::WrongSize {
                    what: "ring K/V piece from the previous rank",
                    expected: inc.next_len(),
                    got: count as u64,
                    unit: "bytes",
                }));
            }
            let t1 = Instant::now();
            let data = &self.bufs[j][..r.want as usize];
            let threads = self.threads;
            let times = inc
                .rt
                .store_piece(ctx, j, &inc.lens, inc.segments, timeout, |local| copy_into_mapped(ctx, local, data, threads))
                .map_err(SendError::Gpu)?;
            inc.stored(t1, times);
            progress = true;
        }
        Ok(progress)
    }

    fn timed_out(&mut self, ctx: &GpuContext, timeout: Duration) -> SendError {
        SendError::Gpu(Error::Timeout {
            adapter: format!("rank {} ({}), waiting for the previous rank to send", self.rank, ctx.name()),
            seconds: timeout.as_secs_f64(),
        })
    }
}
