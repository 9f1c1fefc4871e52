//! Moving K/V blocks from one device to the next: device -> host -> device, in pieces,
//! through staging buffers that stay mapped between uses.
//!
//! wgpu has no peer-to-peer copy between devices (not even between two devices of
//! one adapter). A block (the concatenated bytes of its K and V chunks) is cut into
//! pieces of at most `piece` bytes, and each piece travels on its own:
//!
//! 1. the sender copies the piece on its GPU into one of its `MAP_READ` pieces, one
//!    submission per piece, and maps it (submitted before the step's compute);
//! 2. once a piece is mapped, the sender hands the *mapped buffer itself* to the
//!    receiver (no host copy yet) and goes on with the next piece;
//! 3. the receiver copies the piece straight from the sender's mapped memory into one
//!    of its own receive pieces (mapped ahead of time; see [`StagingMemory`] for where
//!    they live), with several host threads
//!    for large pieces, acknowledges it (so the sender can unmap and reuse it), unmaps
//!    its piece, submits a GPU copy into the K/V slot and maps the piece again for
//!    the next step (the map completes when that copy has run).
//!
//! So each byte is copied once on the host (mapped to mapped), piece `i` is memcpy'd
//! while piece `i + 1` is still on its way out of the sender and piece `i - 1` is on
//! its way into the receiver's GPU, and no buffer is created after the first call.
//! Each device's thread is the only one that polls, submits to, maps or unmaps its
//! own device; the only cross-device access is reading the sender's mapped range
//! (wgpu buffers are `Sync`), which keeps GL adapters (one context lock) safe too.
//!
//! The channels double as fault propagation: when a device thread fails it drops its
//! ends, and its neighbours see a disconnected channel at once instead of waiting
//! for a timeout.
//!
//! Shared staging ([`StagingMemory::Shared`], the default where every device imports
//! host memory) skips the host copy: each piece is host memory both neighbours import,
//! the sender's GPU copies into it and the receiver's GPU copies out of it. On devices
//! with DMA queues ([`crate::dma`]) those two copies run there, beside the compute, and
//! the receiver's goes straight into the K/V slot; elsewhere they run on wgpu's queue
//! and the receiver's lands in a landing buffer first ([`RecvStaging::take_piece`]).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::context::GpuContext;
use crate::dma::{DmaCopy, DmaQueue, DmaSubmission};
use crate::error::{Error, Result};

/// Default size of one piece of a block in flight (a multiple of 256).
pub(crate) const DEFAULT_PIECE_BYTES: u64 = 16 << 20;

/// Pieces smaller than this are copied by one host thread.
const PARALLEL_COPY_MIN: u64 = 4 << 20;

/// Where a device's receive staging lives (`RINGATTN_RING_STAGING`).
///
/// The default is `MAP_WRITE` buffers, the portable choice. On a discrete GPU with a
/// resizable BAR, wgpu's Vulkan backend puts those in device-local, host-visible
/// memory, so the host copy into them writes across PCIe (write-combined: ~30 GB/s
/// with 8 threads on an H200 host, less with several GPUs writing at once) and the
/// GPU's copy into the K/V slot is a fast device-local copy.
///
/// With `MAPPABLE_PRIMARY_BUFFERS` on Vulkan, a buffer created `MAP_READ | COPY_SRC`
/// lives in host-cached, coherent system memory instead: the host copy runs at host
/// memory speed (~60 GB/s) and the GPU pulls the piece by DMA (~46 GB/s), on the same
/// queue as its outgoing copies and its compute. wgpu maps such a buffer for reading;
/// the receiver writes into the mapping, which Vulkan makes visible to the GPU at the
/// next submission (coherent memory). That is outside what WebGPU specifies, so it is
/// opt-in (`host`, or `mixed`: every other piece in host memory, splitting the load
/// between the CPU's PCIe writes and the GPU's DMA), and each device runs a self-test
/// first (a pattern through such a buffer and back); an adapter that cannot do it
/// gets a clear error. Measured on 2 x H200 (BENCHMARKS.md): `device` 11.2 GB/s per
/// link per direction, `host` 7.5 (16 MiB pieces).
///
/// `shared` (the default where every device of the ring has it) goes further: each
/// piece of a link is one host allocation imported into *both* devices (Vulkan
/// `VK_EXT_external_memory_host`, see [`crate::hostmem`]). The sender's GPU copies
/// the piece into it, the receiver's GPU copies it out: no host copy and no mapping at
/// all, each byte crosses PCIe twice by DMA. A link has two sets of pieces used in
/// turn, so a step's copies out never wait for the receiver's copies of the step
/// before. Links between ranks of an MPI ring keep their own staging (`device`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StagingMemory {
    /// `MAP_WRITE` buffers (on discrete GPUs usually device memory behind the BAR).
    #[default]
    Device,
    /// `MAP_READ | COPY_SRC` buffers in system memory (Vulkan, self-tested).
    Host,
    /// Odd pieces in host memory, even pieces in `MAP_WRITE` buffers.
    Mixed,
    /// Host memory imported into the sending and the receiving device (zero copy).
    Shared,
}

impl StagingMemory {
    pub fn name(self) -> &'static str {
        match self {
            StagingMemory::Device => "device (MAP_WRITE)",
            StagingMemory::Host => "host (MAP_READ|COPY_SRC)",
            StagingMemory::Mixed => "mixed (odd pieces in host memory)",
            StagingMemory::Shared => "shared (host memory imported into both devices)",
        }
    }

    /// Whether piece `j` of a device's own receive staging lives in host memory.
    fn host_piece(self, j: usize) -> bool {
        match self {
            StagingMemory::Device | StagingMemory::Shared => false,
            StagingMemory::Host => true,
            StagingMemory::Mixed => j % 2 == 1,
        }
    }

    /// The kind `RINGATTN_RING_STAGING` asks for (None: unset or empty, the default).
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var("RINGATTN_RING_STAGING").unwrap_or_default().as_str() {
            "" => Ok(None),
            "device" => Ok(Some(StagingMemory::Device)),
            "host" => Ok(Some(StagingMemory::Host)),
            "mixed" => Ok(Some(StagingMemory::Mixed)),
            "shared" => Ok(Some(StagingMemory::Shared)),
            other => Err(Error::InvalidArgument(format!("RINGATTN_RING_STAGING={other}: expected shared, device, host or mixed"))),
        }
    }
}

/// The staging of an in-process ring over `contexts`: what `RINGATTN_RING_STAGING`
/// asks for (checked on every device), else `shared` where every device can import
/// host memory ([`GpuContext::host_import_alignment`]), else `device`.
pub fn ring_staging(contexts: &[Arc<GpuContext>]) -> Result<StagingMemory> {
    // Every device answers the same unless the variable is unset and only some of them
    // can import host memory: then the ring stays with its own staging.
    let kinds = contexts.iter().map(|c| recv_staging_memory(c)).collect::<Result<Vec<_>>>()?;
    Ok(match kinds.first() {
        Some(&k) if kinds.iter().all(|&x| x == k) => k,
        _ => StagingMemory::Device,
    })
}

/// Where `ctx`'s ring receive staging lives: what `RINGATTN_RING_STAGING` asks for
/// (unset: `shared` where `ctx` can import host memory, else `device`), after the
/// host-memory self-test (run once per context) where it asks for host memory. A ring
/// uses `shared` only when every device has it ([`RingAttention::staging`](super::RingAttention::staging)).
pub fn recv_staging_memory(ctx: &GpuContext) -> Result<StagingMemory> {
    let shared_ok = ctx.host_import_alignment().is_some();
    let want = match StagingMemory::from_env()? {
        None => return Ok(if shared_ok { StagingMemory::Shared } else { StagingMemory::Device }),
        Some(w) => w,
    };
    if want == StagingMemory::Device {
        return Ok(want);
    }
    if want == StagingMemory::Shared {
        return if shared_ok {
            Ok(want)
        } else {
            Err(Error::InvalidArgument(format!(
                "RINGATTN_RING_STAGING=shared: {} cannot import host memory (needs Vulkan with VK_EXT_external_memory_host, and RINGATTN_HOST_IMPORT not 0); use device",
                ctx.describe()
            )))
        };
    }
    let host = *ctx.host_staging.get_or_init(|| {
        ctx.info().backend == wgpu::Backend::Vulkan
            && ctx.device().features().contains(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS)
            && host_staging_self_test(ctx).unwrap_or(false)
    });
    if host {
        Ok(want)
    } else {
        Err(Error::InvalidArgument(format!(
            "RINGATTN_RING_STAGING={}: {} cannot stage in host memory (needs Vulkan with MAPPABLE_PRIMARY_BUFFERS and a passing self-test); use device",
            if want == StagingMemory::Host { "host" } else { "mixed" },
            ctx.describe()
        )))
    }
}

/// Writes a pattern into a read-mapped `MAP_READ | COPY_SRC` buffer, copies it on the
/// GPU into a second buffer and reads that back: true when every byte arrived.
fn host_staging_self_test(ctx: &GpuContext) -> Result<bool> {
    const LEN: u64 = 1 << 16;
    let make = |usage| {
        ctx.scoped(|| {
            ctx.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("ringattn staging self-test"),
                size: LEN,
                usage,
                mapped_at_creation: false,
            })
        })
    };
    let src = make(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_SRC)?;
    let dst = make(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST)?;
    let pattern: Vec<u8> = (0..LEN).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8 | 1).collect();
    wait_mapped(ctx, &map_piece(&src, wgpu::MapMode::Read, LEN), None, crate::context::DEFAULT_TIMEOUT)?;
    src.get_mapped_range_mut(..).map_err(|e| gpu_err(ctx, e.to_string()))?.copy_from_slice(&pattern);
    src.unmap();
    let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn staging self-test") });
    enc.copy_buffer_to_buffer(&src, 0, &dst, 0, LEN);
    let idx = ctx.scoped(|| ctx.queue().submit([enc.finish()]))?;
    wait_mapped(ctx, &map_piece(&dst, wgpu::MapMode::Read, LEN), Some(idx), crate::context::DEFAULT_TIMEOUT)?;
    let ok = *dst.get_mapped_range(..).map_err(|e| gpu_err(ctx, e.to_string()))? == pattern[..];
    dst.unmap();
    Ok(ok)
}

/// Why a hand-off failed.
#[derive(Debug)]
pub(crate) enum LinkError {
    /// The neighbour's thread ended (it failed, or the ring is aborting).
    PeerGone,
    /// The neighbour did not hand anything over in time.
    Timeout,
}

/// The result of waiting on a neighbour.
pub(crate) type LinkResult = std::result::Result<(), LinkError>;

/// A piece of the sender, ready: mapped (own staging), or written into host memory
/// both devices import (shared staging), handed to the receiver.
pub(crate) struct PieceMsg {
    /// Position of the piece in its block.
    pub index: usize,
    /// The staging piece it is in (shared staging: the receiver's import of the same
    /// host memory has the same slot).
    pub slot: usize,
    pub len: u64,
    pub buffer: Arc<wgpu::Buffer>,
}

/// The sending end of the link from one device to the next.
pub(crate) struct Outbox {
    tx: SyncSender<PieceMsg>,
    acks: Receiver<usize>,
}

/// The receiving end of the link from the previous device.
pub(crate) struct Inbox {
    rx: Receiver<PieceMsg>,
    acks: Sender<usize>,
}

/// One link per device: `outboxes[i]` sends to `inboxes[(i + 1) % n]`. `pieces` is
/// the most pieces one block may have (the sender never has more in flight).
pub(crate) fn ring_links(n: usize, pieces: usize) -> (Vec<Outbox>, Vec<Inbox>) {
    let mut outs = Vec::with_capacity(n);
    let mut ins: Vec<Option<Inbox>> = (0..n).map(|_| None).collect();
    for i in 0..n {
        let (tx, rx) = sync_channel(pieces.max(1));
        let (atx, arx) = channel();
        outs.push(Outbox { tx, acks: arx });
        ins[(i + 1) % n] = Some(Inbox { rx, acks: atx });
    }
    (outs, ins.into_iter().map(|x| x.expect("every device has an inbox")).collect())
}

fn link_err(e: RecvTimeoutError) -> LinkError {
    match e {
        RecvTimeoutError::Timeout => LinkError::Timeout,
        RecvTimeoutError::Disconnected => LinkError::PeerGone,
    }
}

/// Waits on a channel in short slices, polling `ctx`'s device between them (so callbacks
/// this device owes its neighbours run while it waits, see [`SendStaging::reclaim`]).
fn recv_polling<T>(rx: &Receiver<T>, ctx: &GpuContext, timeout: Duration, abort: &AtomicBool) -> std::result::Result<T, LinkError> {
    let t0 = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(1).min(timeout)) {
            Ok(x) => return Ok(x),
            Err(RecvTimeoutError::Timeout) => {
                let _ = ctx.device().poll(wgpu::PollType::Poll);
                if abort.load(Ordering::Relaxed) {
                    return Err(LinkError::PeerGone);
                }
                if t0.elapsed() >= timeout {
                    return Err(LinkError::Timeout);
                }
            }
            Err(e) => return Err(link_err(e)),
        }
    }
}

/// Piece size for blocks of at most `max_block` bytes: `requested` (default
/// [`DEFAULT_PIECE_BYTES`]) rounded up to 256 bytes, at most the block.
pub(crate) fn piece_bytes(requested: Option<u64>, max_block: u64) -> u64 {
    let p = requested.unwrap_or(DEFAULT_PIECE_BYTES).max(256).div_ceil(256) * 256;
    p.min(max_block.div_ceil(4) * 4).max(4)
}

/// Number of pieces of a block of `total` bytes.
pub(crate) fn piece_count(total: u64, piece: u64) -> usize {
    total.div_ceil(piece) as usize
}

/// The parts of piece `j` of a block made of consecutive segments of `lens` bytes:
/// (segment, offset in the segment, offset in the piece, bytes).
pub(crate) fn piece_parts(lens: &[u64], piece: u64, j: usize) -> Vec<(usize, u64, u64, u64)> {
    let (p0, p1) = (j as u64 * piece, (j as u64 + 1) * piece);
    let mut out = Vec::new();
    let mut s0 = 0u64;
    for (i, &len) in lens.iter().enumerate() {
        let s1 = s0 + len;
        let (a, b) = (s0.max(p0), s1.min(p1));
        if a < b {
            out.push((i, a - s0, a - p0, b - a));
        }
        s0 = s1;
    }
    out
}

pub(crate) fn gpu_err(ctx: &GpuContext, message: String) -> Error {
    Error::Gpu { adapter: ctx.name().to_string(), message }
}

type MapResult = std::result::Result<(), wgpu::BufferAsyncError>;

/// Waits (at most `timeout`) for a `map_async` whose callback reports on `rx` and
/// that completes with submission `index` (None: whatever is queued now).
fn wait_mapped(ctx: &GpuContext, rx: &Receiver<MapResult>, index: Option<wgpu::SubmissionIndex>, timeout: Duration) -> Result<()> {
    let r = match rx.try_recv() {
        Ok(r) => r,
        Err(_) => {
            ctx.poll_wait(index, timeout)?;
            // The callback runs inside poll once the submission is done; backends that
            // deliver it later get a few more polls.
            let t0 = Instant::now();
            loop {
                match rx.try_recv() {
                    Ok(r) => break r,
                    Err(TryRecvError::Disconnected) => return Err(gpu_err(ctx, "a staging buffer's map callback was dropped".into())),
                    Err(TryRecvError::Empty) => {
                        if t0.elapsed() > Duration::from_secs(5).min(timeout) {
                            return Err(Error::Timeout { adapter: ctx.name().to_string(), seconds: timeout.as_secs_f64() });
                        }
                        let _ = ctx.device().poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(Duration::from_millis(100)) });
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            }
        }
    };
    r.map_err(|e| gpu_err(ctx, format!("mapping a ring staging buffer failed: {e}")))
}

fn map_piece(buffer: &wgpu::Buffer, mode: wgpu::MapMode, len: u64) -> Receiver<MapResult> {
    let (tx, rx) = channel();
    buffer.map_async(mode, ..len, move |r| {
        let _ = tx.send(r);
    });
    rx
}

/// One part of a mapped-to-mapped copy: bytes `range` of `src` into `dst`.
fn copy_part(src: &wgpu::Buffer, dst: &wgpu::Buffer, range: Range<u64>) -> std::result::Result<(), String> {
    let s = src.get_mapped_range(range.clone()).map_err(|e| format!("reading a neighbour's staging buffer: {e}"))?;
    let mut d = dst.get_mapped_range_mut(range).map_err(|e| format!("writing a staging buffer: {e}"))?;
    d.copy_from_slice(&s);
    Ok(())
}

type CopyJob = (Arc<wgpu::Buffer>, Arc<wgpu::Buffer>, Range<u64>, Sender<std::result::Result<(), String>>);

/// Host threads kept for the receiver's mapped-to-mapped copies (starting threads for
/// every piece cost ~0.1-0.2 ms, a third of a 16 MiB copy at host memory speed). The
/// calling thread copies one part itself; the workers end when the pool is dropped.
pub(crate) struct CopyPool {
    workers: Vec<(Sender<CopyJob>, std::thread::JoinHandle<()>)>,
}

impl CopyPool {
    /// A pool that copies with `threads` threads in all (the caller's included).
    pub fn new(threads: usize) -> Self {
        let workers = (1..threads.max(1))
            .filter_map(|i| {
                let (tx, rx) = channel::<CopyJob>();
                let h = std::thread::Builder::new()
                    .name(format!("ringattn-copy-{i}"))
                    .spawn(move || {
                        for (src, dst, range, done) in rx {
                            let _ = done.send(copy_part(&src, &dst, range));
                        }
                    })
                    .ok()?;
                Some((tx, h))
            })
            .collect();
        CopyPool { workers }
    }

    /// Copies `len` bytes from the mapped `src` into the mapped `dst`, cut at 64 KiB
    /// boundaries into one part per thread (small copies: one part, this thread).
    pub fn copy(&self, ctx: &GpuContext, src: &Arc<wgpu::Buffer>, dst: &Arc<wgpu::Buffer>, len: u64) -> Result<()> {
        let threads = if len < PARALLEL_COPY_MIN { 1 } else { self.workers.len() as u64 + 1 };
        let unit = 64 << 10;
        let per = (len.div_ceil(threads)).div_ceil(unit) * unit;
        let (done_tx, done_rx) = channel();
        let mut sent = 0;
        for (t, (tx, _)) in self.workers.iter().enumerate().take(threads as usize - 1) {
            let (a, b) = ((t as u64 + 1) * per, ((t as u64 + 2) * per).min(len));
            if a < b && tx.send((src.clone(), dst.clone(), a..b, done_tx.clone())).is_ok() {
                sent += 1;
            } else if a < b {
                copy_part(src, dst, a..b).map_err(|m| gpu_err(ctx, m))?;
            }
        }
        drop(done_tx);
        let mine = copy_part(src, dst, 0..per.min(len));
        let mut first_err = mine.err();
        for _ in 0..sent {
            match done_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(m)) => first_err = first_err.or(Some(m)),
                Err(_) => first_err = first_err.or(Some("a staging copy thread ended".into())),
            }
        }
        first_err.map_or(Ok(()), |m| Err(gpu_err(ctx, m)))
    }
}

impl Drop for CopyPool {
    fn drop(&mut self) {
        for (tx, h) in self.workers.drain(..) {
            drop(tx);
            let _ = h.join();
        }
    }
}

/// Copies `src` into the start of the mapped `buf` with up to `threads` host threads
/// (the MPI receiver: a received piece into its receive staging).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) fn copy_into_mapped(ctx: &GpuContext, buf: &wgpu::Buffer, src: &[u8], threads: usize) -> Result<()> {
    let len = src.len() as u64;
    if len == 0 {
        return Ok(());
    }
    let unit = 64 << 10;
    let threads = if len < PARALLEL_COPY_MIN { 1 } else { threads.max(1) };
    let per = (len.div_ceil(threads as u64)).div_ceil(unit) * unit;
    let one = |a: u64, part: &[u8]| -> Result<()> {
        let mut v = buf.get_mapped_range_mut(a..a + part.len() as u64).map_err(|e| gpu_err(ctx, format!("writing a staging buffer: {e}")))?;
        v.copy_from_slice(part);
        Ok(())
    };
    if threads == 1 {
        return one(0, src);
    }
    std::thread::scope(|sc| {
        let hs: Vec<_> = src.chunks(per as usize).enumerate().map(|(i, c)| sc.spawn(move || one(i as u64 * per, c))).collect();
        hs.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| Err(gpu_err(ctx, "a staging copy thread panicked".into()))))
    })
}

/// Host threads each receiver uses to copy a piece: `RINGATTN_RING_COPY_THREADS` if
/// set, else the machine's cores shared by the devices' receivers, at most 8.
pub(crate) fn copy_threads(devices: usize) -> usize {
    if let Some(n) = std::env::var("RINGATTN_RING_COPY_THREADS").ok().and_then(|v| v.parse::<usize>().ok()) {
        return n.clamp(1, 64);
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cores / devices.max(1)).clamp(1, 8)
}

/// The sender's side: `MAP_READ` pieces (own staging) or its imports of the host
/// memory it shares with the receiver (shared staging), reused for every outgoing block.
pub(crate) struct SendStaging {
    pub(crate) pieces: Vec<Arc<wgpu::Buffer>>,
    pub(crate) piece: u64,
    /// Pieces handed to the receiver and not acknowledged yet.
    in_flight: Vec<bool>,
    /// Pieces acknowledged but still mapped.
    pub(crate) mapped: Vec<bool>,
    /// Pieces per set; `pieces` holds `pieces.len() / per_set` sets used in turn.
    per_set: usize,
    /// The set the next block goes into.
    set: usize,
    /// Host memory shared with the receiver: a piece is ready when its copy has run (no map).
    shared: bool,
}

/// A send begun by [`SendStaging::begin`]: one submission and map per piece.
pub(crate) struct PendingSend {
    /// In piece order.
    pub(crate) pieces: Vec<PendingPiece>,
}

impl PendingSend {
    pub fn bytes(&self) -> u64 {
        self.pieces.iter().map(|p| p.len).sum()
    }
}

impl SendStaging {
    /// Staging for blocks of at most `max_block` bytes in pieces of `piece` bytes.
    pub fn new(ctx: &GpuContext, max_block: u64, piece: u64) -> Result<Self> {
        let n = piece_count(max_block, piece);
        let pieces = (0..n)
            .map(|j| {
                let len = piece.min(max_block - j as u64 * piece);
                ctx.create_buffer("ringattn ring send piece", len.max(4), wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST).map(Arc::new)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SendStaging { in_flight: vec![false; n], mapped: vec![false; n], pieces, piece, per_set: n, set: 0, shared: false })
    }

    /// Shared staging: this device's imports of a link's host pieces, `per_set` per
    /// set (see [`shared_links`]).
    pub fn shared(pieces: Vec<Arc<wgpu::Buffer>>, piece: u64, per_set: usize) -> Self {
        let n = pieces.len();
        SendStaging { in_flight: vec![false; n], mapped: vec![false; n], pieces, piece, per_set: per_set.max(1), set: 0, shared: true }
    }

    /// Whether this staging's copies run on `ctx`'s DMA queue (shared staging on a
    /// device that has one).
    pub fn uses_dma(&self, ctx: &GpuContext) -> bool {
        self.shared && ctx.dma().is_some()
    }

    /// Slots of the set the next block goes into.
    fn next_set(&self) -> Range<usize> {
        self.set * self.per_set..(self.set + 1) * self.per_set
    }

    pub fn bytes(&self) -> u64 {
        self.pieces.iter().map(|b| b.size()).sum()
    }

    /// Waits until the receiver has copied the pieces sent earlier into the set the
    /// next block uses (`all`: into every set, before the staging is left idle), and
    /// unmaps them. With shared staging the receiver acknowledges a piece from a
    /// callback of its own device, which runs when that device is polled; this device
    /// is polled meanwhile, so two devices waiting on each other both make progress.
    pub fn reclaim(&mut self, ctx: &GpuContext, out: &Outbox, all: bool, timeout: Duration, abort: &AtomicBool) -> LinkResult {
        let wait = if all { 0..self.pieces.len() } else { self.next_set() };
        while self.in_flight[wait.clone()].iter().any(|&f| f) {
            let j = recv_polling(&out.acks, ctx, timeout, abort)?;
            if let Some(f) = self.in_flight.get_mut(j) {
                *f = false;
            }
        }
        for (j, m) in self.mapped.iter_mut().enumerate() {
            if *m {
                self.pieces[j].unmap();
                *m = false;
            }
        }
        Ok(())
    }

    /// Submits the copies of a block (consecutive segments `(buffer, bytes)`, each read
    /// from offset 0) into the pieces of the next set, one submission per piece, and
    /// maps each piece (shared staging: asks to be told when its copy has run).
    /// Call [`SendStaging::reclaim`] first.
    pub fn begin(&mut self, ctx: &GpuContext, segments: &[(&wgpu::Buffer, u64)]) -> Result<PendingSend> {
        let lens: Vec<u64> = segments.iter().map(|s| s.1).collect();
        let total: u64 = lens.iter().sum();
        let n = piece_count(total, self.piece);
        if n > self.per_set {
            return Err(Error::InvalidArgument(format!("ring block of {total} bytes is larger than the send staging")));
        }
        let set = self.next_set();
        if self.mapped[set.clone()].iter().chain(&self.in_flight[set.clone()]).any(|&m| m) {
            return Err(Error::InvalidArgument("ring send staging still in use (reclaim it first)".into()));
        }
        let mut pieces = Vec::with_capacity(n);
        let dma = if self.uses_dma(ctx) { ctx.dma() } else { None };
        for j in 0..n {
            let slot = set.start + j;
            let parts = piece_parts(&lens, self.piece, j);
            let len = parts.iter().map(|&(_, _, dst_off, bytes)| dst_off + bytes).max().unwrap_or(0);
            if let Some(q) = dma {
                // Shared staging on a device with a DMA queue: the copy runs there, beside
                // the compute (crate::dma).
                let copies: Vec<DmaCopy<'_>> =
                    parts.iter().map(|&(seg, src_off, dst_off, bytes)| (segments[seg].0, src_off, &*self.pieces[slot], dst_off, bytes)).collect();
                pieces.push(PendingPiece { index: j, slot, len, ready: Ready::Dma(q.submit(&copies)?) });
                continue;
            }
            let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring send") });
            for (seg, src_off, dst_off, bytes) in parts {
                enc.copy_buffer_to_buffer(segments[seg].0, src_off, &self.pieces[slot], dst_off, bytes);
            }
            ctx.scoped(|| ctx.queue().submit([enc.finish()]))?;
            let rx = if self.shared {
                let (tx, rx) = channel();
                ctx.queue().on_submitted_work_done(move || {
                    let _ = tx.send(Ok(()));
                });
                rx
            } else {
                self.mapped[slot] = true;
                map_piece(&self.pieces[slot], wgpu::MapMode::Read, len)
            };
            pieces.push(PendingPiece { index: j, slot, len, ready: Ready::Map(rx) });
        }
        self.set = (self.set + 1) % (self.pieces.len() / self.per_set).max(1);
        Ok(PendingSend { pieces })
    }
}

/// Why a send failed: on this device's GPU, or on the link.
pub(crate) enum SendError {
    Gpu(Error),
    Link(LinkError),
}

/// The receiver's side: pieces in [`StagingMemory`], mapped ahead of time and again
/// after each use.
pub(crate) struct RecvStaging {
    pieces: Vec<Arc<wgpu::Buffer>>,
    pub(crate) piece: u64,
    /// How each piece is mapped (Write for `MAP_WRITE` pieces, Read for host ones).
    modes: Vec<wgpu::MapMode>,
    /// Per piece: the pending map (its callback and the submission it waits for),
    /// or None when the piece is mapped.
    pending: Vec<Option<(Receiver<MapResult>, Option<wgpu::SubmissionIndex>)>>,
    pool: Arc<CopyPool>,
    /// Shared staging: the pieces are this device's imports of host memory shared with
    /// the sender, and this device-memory buffer of one block is where they land first
    /// (see [`RecvStaging::take_piece`]).
    landing: Option<Arc<wgpu::Buffer>>,
    /// Shared staging on a device with a DMA queue (no landing buffer): the pieces'
    /// copies run there, straight into the K/V slot.
    dma: Option<Arc<DmaQueue>>,
    /// The DMA copies submitted and not seen complete, with the staging slot each
    /// piece came from (acknowledged once its copy has run).
    dma_pending: std::collections::VecDeque<(DmaSubmission, usize)>,
    /// With a DMA queue: set once the slot the next block goes into is free (the wgpu
    /// work that read it has completed; the scheduler sets it per step). Pieces wait in
    /// the channel until then.
    pub(crate) gate: Option<Arc<AtomicBool>>,
}

impl RecvStaging {
    pub fn new(ctx: &GpuContext, max_block: u64, piece: u64, threads: usize) -> Result<Self> {
        let n = piece_count(max_block, piece);
        let memory = recv_staging_memory(ctx)?;
        let mut pieces = Vec::with_capacity(n);
        let mut pending = Vec::with_capacity(n);
        let mut modes = Vec::with_capacity(n);
        for j in 0..n {
            let (usage, mode) = if memory.host_piece(j) {
                (wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_SRC, wgpu::MapMode::Read)
            } else {
                (wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC, wgpu::MapMode::Write)
            };
            modes.push(mode);
            let len = piece.min(max_block - j as u64 * piece).max(4);
            let b = Arc::new(ctx.create_buffer("ringattn ring recv piece", len, usage)?);
            pending.push(map_piece(&b, mode, len));
            pieces.push(b);
        }
        // Map every piece now, before any compute is queued (a later first map would
        // wait for it).
        for rx in &pending {
            wait_mapped(ctx, rx, None, crate::context::DEFAULT_TIMEOUT)?;
        }
        Ok(RecvStaging {
            pieces,
            piece,
            modes,
            pending: (0..n).map(|_| None).collect(),
            pool: Arc::new(CopyPool::new(threads)),
            landing: None,
            dma: None,
            dma_pending: Default::default(),
            gate: None,
        })
    }

    /// Shared staging: this device's imports of a link's host pieces, and its landing
    /// buffer or its DMA queue (see [`shared_links`]).
    pub fn shared(pieces: Vec<Arc<wgpu::Buffer>>, piece: u64, landing: Landing) -> Self {
        let n = pieces.len();
        let (landing, dma) = match landing {
            Landing::Buffer(b) => (Some(b), None),
            Landing::Dma(q) => (None, Some(q)),
        };
        RecvStaging {
            pieces,
            piece,
            modes: vec![wgpu::MapMode::Read; n],
            pending: (0..n).map(|_| None).collect(),
            pool: Arc::new(CopyPool::new(1)),
            landing,
            dma,
            dma_pending: Default::default(),
            gate: None,
        }
    }

    /// Whether the pieces' copies run on the device's DMA queue.
    pub fn uses_dma(&self) -> bool {
        self.dma.is_some()
    }

    /// Whether pieces may be copied into the slot now (see [`RecvStaging::gate`]).
    fn gate_open(&self) -> bool {
        self.gate.as_ref().is_none_or(|g| g.load(Ordering::Acquire))
    }

    /// Acknowledges every piece whose DMA copy has run, in order; returns whether any had.
    fn settle(&mut self, acks: &Sender<usize>) -> Result<bool> {
        let mut progress = false;
        while let Some((sub, _)) = self.dma_pending.front_mut() {
            if !sub.poll()? {
                break;
            }
            let (_, slot) = self.dma_pending.pop_front().expect("front exists");
            // A sender that has finished no longer listens, which is fine.
            let _ = acks.send(slot);
            progress = true;
        }
        Ok(progress)
    }

    /// Whether DMA copies of received pieces have not been seen complete.
    fn dma_busy(&self) -> bool {
        !self.dma_pending.is_empty()
    }

    /// Device memory of shared staging (the landing buffer; 0 for staging of its own,
    /// which [`RecvStaging::bytes`] counts).
    pub fn landing_bytes(&self) -> u64 {
        self.landing.as_ref().map_or(0, |b| b.size())
    }

    pub fn bytes(&self) -> u64 {
        self.pieces.iter().map(|b| b.size()).sum()
    }

    /// Copies one received piece (piece `msg.index` of a block of `expect`) into place.
    ///
    /// Own staging: waits for the local piece to be mapped, copies from the sender's
    /// mapped piece, acknowledges, unmaps, submits the GPU copy into the segments and maps
    /// the local piece again; returns the times of [`RecvStaging::store_piece`].
    ///
    /// Shared staging: the piece is already in this device's view of the host memory.
    /// Its DMA goes into the landing buffer, which nothing but these copies touches, so
    /// it needs no barrier against the step's compute and runs while that compute does
    /// (a copy straight into the K/V slot would wait behind the compute that read the
    /// slot before: wgpu orders it with a barrier). The piece is acknowledged once its
    /// copy has run; after the block's last piece one more copy moves the whole block
    /// from the landing buffer into the slot (device memory, ~0.1 ms per 128 MiB).
    /// Nothing is copied on the host.
    #[allow(clippy::too_many_arguments)]
    fn take_piece(
        &mut self,
        ctx: &GpuContext,
        msg: PieceMsg,
        expect: usize,
        lens: &[u64],
        segments: &[(&wgpu::Buffer, u64)],
        acks: &Sender<usize>,
        timeout: Duration,
    ) -> Result<(Duration, Duration)> {
        if let Some(q) = &self.dma {
            let local = self.pieces.get(msg.slot).ok_or_else(|| gpu_err(ctx, format!("ring piece slot {} out of range", msg.slot)))?;
            let copies: Vec<DmaCopy<'_>> = piece_parts(lens, self.piece, msg.index)
                .into_iter()
                .map(|(seg, dst_off, src_off, bytes)| (&**local, src_off, segments[seg].0, dst_off, bytes))
                .collect();
            let sub = q.submit(&copies)?;
            self.dma_pending.push_back((sub, msg.slot));
            return Ok((Duration::ZERO, Duration::ZERO));
        }
        if let Some(landing) = &self.landing {
            let local = self.pieces.get(msg.slot).ok_or_else(|| gpu_err(ctx, format!("ring piece slot {} out of range", msg.slot)))?.clone();
            let at = msg.index as u64 * self.piece;
            let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring recv") });
            enc.copy_buffer_to_buffer(&local, 0, landing, at, msg.len);
            ctx.scoped(|| ctx.queue().submit([enc.finish()]))?;
            let (acks, slot) = (acks.clone(), msg.slot);
            ctx.queue().on_submitted_work_done(move || {
                let _ = acks.send(slot);
            });
            if msg.index + 1 == expect {
                let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring land") });
                for j in 0..expect {
                    for (seg, dst_off, src_off, bytes) in piece_parts(lens, self.piece, j) {
                        enc.copy_buffer_to_buffer(landing, j as u64 * self.piece + src_off, segments[seg].0, dst_off, bytes);
                    }
                }
                ctx.scoped(|| ctx.queue().submit([enc.finish()]))?;
            }
            return Ok((Duration::ZERO, Duration::ZERO));
        }
        let j = msg.index;
        let pool = self.pool.clone();
        self.store_piece(ctx, j, lens, segments, timeout, |local| {
            pool.copy(ctx, &msg.buffer, local, msg.len)?;
            drop(msg);
            // The sender may unmap and reuse its piece now; a sender that has finished no
            // longer listens, which is fine.
            let _ = acks.send(j);
            Ok(())
        })
    }

    /// Piece `j` of a block of consecutive segments: waits for the local piece to be
    /// mapped, lets `fill` write it, unmaps it, submits the GPU copy into the segments
    /// and maps the piece again for its next use. Returns how long `fill` took (the
    /// host copy) and how long the local piece's map was waited for.
    pub(crate) fn store_piece(
        &mut self,
        ctx: &GpuContext,
        j: usize,
        lens: &[u64],
        segments: &[(&wgpu::Buffer, u64)],
        timeout: Duration,
        fill: impl FnOnce(&Arc<wgpu::Buffer>) -> Result<()>,
    ) -> Result<(Duration, Duration)> {
        let t = Instant::now();
        if let Some((rx, idx)) = self.pending[j].take() {
            wait_mapped(ctx, &rx, idx, timeout)?;
        }
        let waited = t.elapsed();
        let local = self.pieces[j].clone();
        let t = Instant::now();
        fill(&local)?;
        let filled = t.elapsed();
        local.unmap();
        let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ring recv") });
        for (seg, dst_off, src_off, bytes) in piece_parts(lens, self.piece, j) {
            enc.copy_buffer_to_buffer(&local, src_off, segments[seg].0, dst_off, bytes);
        }
        let idx = ctx.scoped(|| ctx.queue().submit([enc.finish()]))?;
        self.pending[j] = Some((map_piece(&local, self.modes[j], local.size()), Some(idx)));
        Ok((filled, waited))
    }
}

/// Where a shared-staging receiver's GPU copies the pieces: into a landing buffer in
/// device memory on wgpu's queue, or on its DMA queue straight into the K/V slot.
#[derive(Clone)]
pub(crate) enum Landing {
    Buffer(Arc<wgpu::Buffer>),
    Dma(Arc<DmaQueue>),
}

/// Blocks up to this size get two sets of shared pieces per link, used in turn (a
/// step's copies out never wait for the receiver's copies of the step before); larger
/// blocks get one set: their steps compute for seconds, so that wait is noise, while
/// pinning twice the host memory costs ~0.5 s per GiB at the first call.
const SHARED_TWO_SETS_MAX: u64 = 256 << 20;

/// The host memory of one link of a shared-staging ring: every piece one host block,
/// imported into the sender (`send`) and the receiver (`recv`), same slot on both.
pub(crate) struct SharedLink {
    pub send: Vec<Arc<wgpu::Buffer>>,
    pub recv: Vec<Arc<wgpu::Buffer>>,
    /// Where the receiver's copies go first: its landing buffer (device memory, one
    /// block), or straight into the slot from its DMA queue.
    pub landing: Landing,
    /// Pieces per set.
    pub per_set: usize,
    /// Host bytes of the link.
    pub bytes: u64,
}

/// [`SharedLink`]s between consecutive devices of `contexts` (link `i`: device `i` to
/// device `i + 1`; with `wrap`, also the last to the first), for blocks of at most
/// `max_block` bytes in pieces of `piece`. The links are set up in parallel (importing
/// host memory pins it, page by page).
pub(crate) fn shared_links(contexts: &[Arc<GpuContext>], max_block: u64, piece: u64, wrap: bool) -> Result<Vec<SharedLink>> {
    let n = contexts.len();
    let links = if wrap { n } else { n.saturating_sub(1) };
    let per_set = piece_count(max_block, piece).max(1);
    let sets = if max_block <= SHARED_TWO_SETS_MAX { 2 } else { 1 };
    let one = |i: usize| -> Result<SharedLink> {
        let (a, b) = (&contexts[i], &contexts[(i + 1) % n]);
        let align = match (a.host_import_alignment(), b.host_import_alignment()) {
            (Some(x), Some(y)) => x.max(y),
            _ => return Err(gpu_err(a, "shared ring staging needs devices that import host memory".into())),
        };
        let landing = match b.dma_in() {
            Some(q) => Landing::Dma(q.clone()),
            None => Landing::Buffer(Arc::new(b.create_buffer(
                "ringattn ring landing",
                max_block.max(4),
                wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            )?)),
        };
        let mut link = SharedLink { send: Vec::new(), recv: Vec::new(), landing, per_set, bytes: 0 };
        for _ in 0..sets {
            for j in 0..per_set {
                let len = piece.min(max_block - (j as u64 * piece).min(max_block)).max(4);
                let block = crate::hostmem::HostBlock::new(len, align)?;
                link.bytes += block.len();
                link.send.push(Arc::new(crate::hostmem::import(a, &block, "ringattn ring shared piece (send)")?));
                link.recv.push(Arc::new(crate::hostmem::import(b, &block, "ringattn ring shared piece (recv)")?));
            }
        }
        Ok(link)
    };
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..links).map(|i| sc.spawn(move || one(i))).collect();
        hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Error::InvalidArgument("shared staging setup thread panicked".into())))).collect()
    })
}

/// A device's shared staging for one call: its sending half's (to the next device) and
/// its receiving half's (from the previous one), each where that link is in process and
/// shared; `None` where the device uses staging of its own.
pub(crate) type SharedStaging = (Option<SendStaging>, Option<RecvStaging>);

/// (block bytes, piece bytes, wrap, the links).
type KeptLinks = (u64, u64, bool, Arc<Vec<SharedLink>>);

/// The shared links of a ring, kept for the next call with the same (block bytes,
/// piece bytes, wrap); dropped after a failed call. When setting them up fails and
/// `RINGATTN_RING_STAGING` did not ask for `shared` by name, the ring falls back to
/// staging of its own for good and keeps the reason.
#[derive(Default)]
pub(crate) struct SharedCache {
    links: std::sync::Mutex<Option<KeptLinks>>,
    gave_up: std::sync::Mutex<Option<String>>,
}

impl SharedCache {
    /// How blocks travel between consecutive devices of `contexts` (in process):
    /// [`ring_staging`], or `Device` for fewer than two devices or once setting up shared
    /// links has failed.
    pub fn kind(&self, contexts: &[Arc<GpuContext>]) -> Result<StagingMemory> {
        if contexts.len() < 2 {
            return Ok(StagingMemory::Device);
        }
        Ok(match ring_staging(contexts)? {
            StagingMemory::Shared if self.gave_up().is_some() => StagingMemory::Device,
            k => k,
        })
    }

    /// The staging of a call moving blocks of at most `max_block` bytes in pieces of
    /// `piece` between consecutive devices of `contexts` ([`SharedCache::kind`], after
    /// any fallback this call made), and per device its [`SharedStaging`] (all `None`
    /// unless shared). `wrap`: the last device sends to the first in process (an MPI
    /// rank's local devices with other ranks around: no).
    pub fn staging(&self, contexts: &[Arc<GpuContext>], max_block: u64, piece: u64, wrap: bool) -> Result<(StagingMemory, Vec<SharedStaging>)> {
        let n = contexts.len();
        let own = |kind| Ok((kind, (0..n).map(|_| (None, None)).collect()));
        let kind = self.kind(contexts)?;
        if kind != StagingMemory::Shared {
            return own(kind);
        }
        let mut kept = self.links.lock().unwrap_or_else(|p| p.into_inner());
        let links = match kept.as_ref() {
            Some((b, p, w, l)) if (*b, *p, *w) == (max_block, piece, wrap) => l.clone(),
            _ => {
                *kept = None; // free the old host memory first
                match shared_links(contexts, max_block, piece, wrap) {
                    Ok(l) => {
                        let l = Arc::new(l);
                        *kept = Some((max_block, piece, wrap, l.clone()));
                        l
                    }
                    Err(e) if !matches!(StagingMemory::from_env(), Ok(Some(StagingMemory::Shared))) => {
                        *self.gave_up.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                        return own(StagingMemory::Device);
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let send = |l: &SharedLink| SendStaging::shared(l.send.clone(), piece, l.per_set);
        let recv = |l: &SharedLink| RecvStaging::shared(l.recv.clone(), piece, l.landing.clone());
        let per_device = (0..n).map(|i| (links.get(i).map(send), if i > 0 || wrap { links.get((i + n - 1) % n).map(recv) } else { None }));
        Ok((StagingMemory::Shared, per_device.collect()))
    }

    /// Host bytes of the links kept (0 without any).
    pub fn bytes(&self) -> u64 {
        self.links.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map_or(0, |(_, _, _, l)| l.iter().map(|x| x.bytes).sum())
    }

    pub fn clear(&self) {
        *self.links.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Why shared staging was given up, if it was.
    pub fn gave_up(&self) -> Option<String> {
        self.gave_up.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The consecutive (buffer, bytes) segments a block is read from or written to.
pub(crate) type Segments<'a> = &'a [(&'a wgpu::Buffer, u64)];

/// Host time one exchange of a ring step (sending and receiving one block) spent.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExchangeTimes {
    /// Storing received pieces: waiting for the local staging piece, copying (mapped
    /// to mapped), submitting the GPU copies.
    pub recv: Duration,
    /// Of `recv`: the host copies alone.
    pub copy: Duration,
    /// Of `recv`: waiting for local staging pieces to be mapped again.
    pub wait_local: Duration,
    /// From the start of the exchange to the first incoming piece.
    pub first_in: Duration,
    /// From the start of the exchange to the last outgoing piece handed over.
    pub last_out: Duration,
    /// The whole exchange, waits included.
    pub wall: Duration,
}

impl ExchangeTimes {
    /// Adds `o` field by field (totals over steps).
    pub fn add(&mut self, o: &ExchangeTimes) {
        self.recv += o.recv;
        self.copy += o.copy;
        self.wait_local += o.wait_local;
        self.first_in += o.first_in;
        self.last_out += o.last_out;
        self.wall += o.wall;
    }
}

/// A piece of a send begun by [`SendStaging::begin`].
pub(crate) struct PendingPiece {
    /// Position in the block.
    pub index: usize,
    /// Staging piece it is copied into.
    pub slot: usize,
    pub len: u64,
    /// Tells when the piece is ready (its map, or with shared staging its copy, done).
    ready: Ready,
}

/// How a piece being sent tells that it is ready.
enum Ready {
    /// A map callback (own staging), or with shared staging a callback of the copy's
    /// submission on wgpu's queue.
    Map(Receiver<MapResult>),
    /// Its copy on the device's DMA queue.
    Dma(DmaSubmission),
}

/// The outgoing side of one exchange: the send staging and the pieces not handed
/// over yet, in order.
pub(crate) struct Outgoing<'a> {
    pub st: &'a mut SendStaging,
    pend: std::collections::VecDeque<PendingPiece>,
}

impl Outgoing<'_> {
    /// The next piece, once it is ready (mapped; shared staging: copied). The piece is
    /// then the caller's to hand over.
    pub fn next_mapped(&mut self, ctx: &GpuContext) -> std::result::Result<Option<PendingPiece>, SendError> {
        let Some(p) = self.pend.front_mut() else { return Ok(None) };
        let ready = match &mut p.ready {
            Ready::Map(rx) => match rx.try_recv() {
                Ok(r) => {
                    r.map_err(|e| SendError::Gpu(gpu_err(ctx, format!("mapping a ring staging buffer failed: {e}"))))?;
                    true
                }
                Err(TryRecvError::Empty) => false,
                Err(TryRecvError::Disconnected) => return Err(SendError::Gpu(gpu_err(ctx, "a staging buffer's map callback was dropped".into()))),
            },
            Ready::Dma(sub) => sub.poll().map_err(SendError::Gpu)?,
        };
        Ok(if ready { self.pend.pop_front() } else { None })
    }

    /// Whether pieces still wait for their GPU copy and map.
    fn gpu_pending(&self) -> bool {
        !self.pend.is_empty()
    }
}

/// The incoming side of one exchange: the receive staging, the segments the block
/// goes to, and how many of its pieces are stored.
pub(crate) struct Incoming<'a> {
    pub rt: &'a mut RecvStaging,
    pub segments: Segments<'a>,
    pub lens: Vec<u64>,
    pub total: u64,
    /// Pieces of the block.
    pub expect: usize,
    /// Pieces stored so far (they arrive, and are stored, in order).
    pub received: usize,
    /// Host time storing them, and of it the copies and the waits for local pieces.
    pub time: Duration,
    pub copy: Duration,
    pub wait_local: Duration,
    /// When the first piece arrived.
    pub first: Option<Instant>,
}

impl<'a> Incoming<'a> {
    fn new(rt: &'a mut RecvStaging, segments: Segments<'a>) -> std::result::Result<Self, SendError> {
        let lens: Vec<u64> = segments.iter().map(|s| s.1).collect();
        let total: u64 = lens.iter().sum();
        let expect = piece_count(total, rt.piece);
        if expect > rt.pieces.len() {
            return Err(SendError::Gpu(Error::InvalidArgument(format!("ring block of {total} bytes is larger than the receive staging"))));
        }
        Ok(Incoming {
            rt,
            segments,
            lens,
            total,
            expect,
            received: 0,
            time: Duration::ZERO,
            copy: Duration::ZERO,
            wait_local: Duration::ZERO,
            first: None,
        })
    }

    /// Counts one stored piece that arrived at `arrived`, with the (host copy, wait for
    /// the local piece) times [`RecvStaging::store_piece`] returned.
    pub fn stored(&mut self, arrived: Instant, (copy, wait): (Duration, Duration)) {
        self.first.get_or_insert(arrived);
        self.received += 1;
        self.time += arrived.elapsed();
        self.copy += copy;
        self.wait_local += wait;
    }

    /// Bytes of the next piece.
    pub fn next_len(&self) -> u64 {
        self.rt.piece.min(self.total - self.received as u64 * self.rt.piece)
    }
}

/// The sending half of a device's link: hands the pieces of its blocks to the next
/// device (through an in-process channel, [`Outbox`], or over MPI).
pub(crate) trait SendHalf {
    /// Makes the send staging's next set reusable (the block sent from it earlier has
    /// left it; `all`: every set, at the end of a call).
    fn reclaim(&mut self, ctx: &GpuContext, st: &mut SendStaging, all: bool, timeout: Duration, abort: &AtomicBool) -> LinkResult;
    /// Hands over every piece of `out` whose map has completed and advances the
    /// transfers in flight; returns whether anything moved. Never blocks.
    fn push(&mut self, ctx: &GpuContext, out: &mut Outgoing<'_>) -> std::result::Result<bool, SendError>;
    /// Whether transfers handed over must still complete before the exchange ends.
    fn in_flight(&self) -> bool {
        false
    }
    /// The error of an exchange whose sending made no progress for `timeout`
    /// (`gpu_pending`: pieces still wait for their GPU copy).
    fn timed_out(&mut self, ctx: &GpuContext, gpu_pending: bool, timeout: Duration) -> SendError;
}

/// The receiving half of a device's link: stores the pieces of the blocks the
/// previous device sends (from an in-process channel, [`Inbox`], or over MPI).
pub(crate) trait RecvHalf {
    /// Called at the start of every step, before the compute is submitted, with the
    /// sizes of the segments of the block that will arrive at this step (only when one
    /// will). Transports that can post their receives early do it here.
    fn post_receive(&mut self, _step: usize, _segments: &[u64], _piece: u64) -> std::result::Result<(), SendError> {
        Ok(())
    }
    /// Called by an exchange that receives nothing.
    fn no_receive(&mut self) {}
    /// Stores every piece of `inc` that has arrived, in order; returns whether any
    /// did. Never blocks on the previous device.
    fn pull(&mut self, ctx: &GpuContext, inc: &mut Incoming<'_>, timeout: Duration) -> std::result::Result<bool, SendError>;
    /// The error of an exchange whose receiving made no progress for `timeout`.
    fn timed_out(&mut self, ctx: &GpuContext, timeout: Duration) -> SendError;
}

impl<T: SendHalf + ?Sized> SendHalf for Box<T> {
    fn reclaim(&mut self, ctx: &GpuContext, st: &mut SendStaging, all: bool, timeout: Duration, abort: &AtomicBool) -> LinkResult {
        (**self).reclaim(ctx, st, all, timeout, abort)
    }
    fn push(&mut self, ctx: &GpuContext, out: &mut Outgoing<'_>) -> std::result::Result<bool, SendError> {
        (**self).push(ctx, out)
    }
    fn in_flight(&self) -> bool {
        (**self).in_flight()
    }
    fn timed_out(&mut self, ctx: &GpuContext, gpu_pending: bool, timeout: Duration) -> SendError {
        (**self).timed_out(ctx, gpu_pending, timeout)
    }
}

impl<T: RecvHalf + ?Sized> RecvHalf for Box<T> {
    fn post_receive(&mut self, step: usize, segments: &[u64], piece: u64) -> std::result::Result<(), SendError> {
        (**self).post_receive(step, segments, piece)
    }
    fn no_receive(&mut self) {
        (**self).no_receive()
    }
    fn pull(&mut self, ctx: &GpuContext, inc: &mut Incoming<'_>, timeout: Duration) -> std::result::Result<bool, SendError> {
        (**self).pull(ctx, inc, timeout)
    }
    fn timed_out(&mut self, ctx: &GpuContext, timeout: Duration) -> SendError {
        (**self).timed_out(ctx, timeout)
    }
}

/// How one device's K/V blocks reach the next device and arrive from the previous
/// one: a sending half and a receiving half, of the same kind or not. In process,
/// `Link<Outbox, Inbox>` (channels to the next and from the previous device's
/// thread); over MPI a rank's last device sends over MPI and receives in process.
pub(crate) struct Link<S, R> {
    pub send: S,
    pub recv: R,
}

impl<S: SendHalf, R: RecvHalf> Link<S, R> {
    /// See [`SendHalf::reclaim`].
    pub fn reclaim(&mut self, ctx: &GpuContext, st: &mut SendStaging, all: bool, timeout: Duration, abort: &AtomicBool) -> LinkResult {
        self.send.reclaim(ctx, st, all, timeout, abort)
    }

    /// See [`RecvHalf::post_receive`].
    pub fn post_receive(&mut self, step: usize, segments: &[u64], piece: u64) -> std::result::Result<(), SendError> {
        self.recv.post_receive(step, segments, piece)
    }

    /// Sends and receives at once: hands each outgoing piece of `send` to the next
    /// device as soon as its map completes, and stores each incoming piece into
    /// `recv`'s segments as soon as it arrives, in one loop, so neither direction waits
    /// for the other. The device is polled without blocking (a blocking poll would hold
    /// the device while another piece is ready). Fails when nothing moved for
    /// `timeout`, or with [`LinkError::PeerGone`] once `abort` is set.
    pub fn exchange(
        &mut self,
        ctx: &GpuContext,
        send: Option<(&mut SendStaging, PendingSend)>,
        recv: Option<(&mut RecvStaging, Segments<'_>)>,
        timeout: Duration,
        abort: &AtomicBool,
    ) -> std::result::Result<ExchangeTimes, SendError> {
        let t0 = Instant::now();
        let mut out = send.map(|(st, p)| Outgoing { st, pend: p.pieces.into() });
        let mut inc = match recv {
            Some((rt, segs)) => Some(Incoming::new(rt, segs)?),
            None => {
                self.recv.no_receive();
                None
            }
        };
        let mut last_progress = Instant::now();
        let mut idle_rounds = 0u32;
        let mut last_out = Duration::ZERO;
        loop {
            let mut progress = false;
            if let Some(o) = out.as_mut() {
                let was_pending = o.gpu_pending();
                progress |= self.send.push(ctx, o)?;
                if was_pending && !o.gpu_pending() {
                    last_out = t0.elapsed();
                }
            }
            if let Some(i) = inc.as_mut() {
                progress |= self.recv.pull(ctx, i, timeout)?;
            }
            let gpu_pending = out.as_ref().is_some_and(|o| o.gpu_pending());
            let sending = gpu_pending || self.send.in_flight();
            // With a DMA queue the block is in place once its last copy has run.
            let receiving = inc.as_ref().is_some_and(|i| i.received < i.expect || i.rt.dma_busy());
            if !sending && !receiving {
                break;
            }
            if progress {
                last_progress = Instant::now();
                idle_rounds = 0;
                continue;
            }
            if abort.load(Ordering::Relaxed) {
                return Err(SendError::Link(LinkError::PeerGone));
            }
            if last_progress.elapsed() >= timeout {
                return Err(if sending { self.send.timed_out(ctx, gpu_pending, timeout) } else { self.recv.timed_out(ctx, timeout) });
            }
            idle_round(ctx, gpu_pending, &mut idle_rounds)?;
        }
        let (recv, copy, wait_local, first_in) =
            inc.map_or(Default::default(), |i| (i.time, i.copy, i.wait_local, i.first.map_or(Duration::ZERO, |f| f - t0)));
        Ok(ExchangeTimes { recv, copy, wait_local, first_in, last_out, wall: t0.elapsed() })
    }
}

/// One idle round of an exchange loop: polls the device (and checks it is alive when
/// GPU work of the exchange is pending), then spins briefly or sleeps a short slice.
/// The poll runs in every round, also while the exchange only waits for the previous
/// device: callbacks of this device that its neighbours wait for (with shared staging,
/// its acknowledgements of the pieces it copied, which the previous device needs before
/// it sends into that staging again) run only when the device is polled or submits to.
/// Polling only with pieces of its own pending deadlocked a causal contiguous ring of 4
/// H200s at 256K tokens (thirty-fourth session): the last device, which only receives,
/// waited for a block that its sender held back for those acknowledgements.
pub(crate) fn idle_round(ctx: &GpuContext, gpu_pending: bool, idle_rounds: &mut u32) -> std::result::Result<(), SendError> {
    let _ = ctx.device().poll(wgpu::PollType::Poll);
    if gpu_pending {
        ctx.check_alive().map_err(SendError::Gpu)?;
    }
    *idle_rounds += 1;
    if *idle_rounds < 64 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(Duration::from_micros(50));
    }
    Ok(())
}

/// In process, a piece is handed over as the sender's mapped buffer itself; the
/// receiver acknowledges it once copied ([`SendStaging::reclaim`] waits for that).
impl SendHalf for Outbox {
    fn reclaim(&mut self, ctx: &GpuContext, st: &mut SendStaging, all: bool, timeout: Duration, abort: &AtomicBool) -> LinkResult {
        st.reclaim(ctx, self, all, timeout, abort)
    }

    fn push(&mut self, ctx: &GpuContext, out: &mut Outgoing<'_>) -> std::result::Result<bool, SendError> {
        let mut progress = false;
        while let Some(p) = out.next_mapped(ctx)? {
            out.st.in_flight[p.slot] = true;
            let msg = PieceMsg { index: p.index, slot: p.slot, len: p.len, buffer: out.st.pieces[p.slot].clone() };
            self.tx.send(msg).map_err(|_| SendError::Link(LinkError::PeerGone))?;
            progress = true;
        }
        Ok(progress)
    }

    fn timed_out(&mut self, ctx: &GpuContext, _gpu_pending: bool, timeout: Duration) -> SendError {
        // Handing over never waits for the receiver: only the GPU can be late.
        SendError::Gpu(Error::Timeout { adapter: ctx.name().to_string(), seconds: timeout.as_secs_f64() })
    }
}

impl RecvHalf for Inbox {
    fn pull(&mut self, ctx: &GpuContext, inc: &mut Incoming<'_>, timeout: Duration) -> std::result::Result<bool, SendError> {
        let mut progress = inc.rt.settle(&self.acks).map_err(SendError::Gpu)?;
        while inc.received < inc.expect && inc.rt.gate_open() {
            match self.rx.try_recv() {
                Ok(msg) => {
                    let t1 = Instant::now();
                    let want = inc.next_len();
                    if msg.index != inc.received || msg.len != want {
                        return Err(SendError::Gpu(Error::WrongSize {
                            what: "ring K/V piece from the previous device",
                            expected: want,
                            got: msg.len,
                            unit: "bytes",
                        }));
                    }
                    let times = inc.rt.take_piece(ctx, msg, inc.expect, &inc.lens, inc.segments, &self.acks, timeout).map_err(SendError::Gpu)?;
                    inc.stored(t1, times);
                    progress = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err(SendError::Link(LinkError::PeerGone)),
            }
        }
        Ok(progress)
    }

    fn timed_out(&mut self, _ctx: &GpuContext, _timeout: Duration) -> SendError {
        SendError::Link(LinkError::Timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_every_segment_byte_once() {
        for lens in [vec![12u64, 12, 40, 40], vec![4], vec![1000, 1000], vec![8, 0, 8]] {
            let total: u64 = lens.iter().sum();
            for piece in [4u64, 8, 12, 256, 1 << 20] {
                let n = piece_count(total, piece);
                let mut seen = vec![0u32; total as usize];
                for j in 0..n {
                    let mut in_piece = 0;
                    for (seg, seg_off, piece_off, bytes) in piece_parts(&lens, piece, j) {
                        assert!(seg_off + bytes <= lens[seg] && piece_off + bytes <= piece);
                        assert_eq!(piece_off, in_piece, "parts of a piece are consecutive");
                        in_piece += bytes;
                        let start: u64 = lens[..seg].iter().sum::<u64>() + seg_off;
                        assert_eq!(start, j as u64 * piece + piece_off);
                        for b in start..start + bytes {
                            seen[b as usize] += 1;
                        }
                    }
                }
                assert!(seen.iter().all(|&c| c == 1), "lens {lens:?} piece {piece}");
            }
        }
    }

    /// A device waiting in an exchange for the previous device's next piece must keep
    /// its own callbacks running: with shared staging its acknowledgements of the pieces
    /// it copied are callbacks of its device (`take_piece`), and the previous device
    /// sends its next block into that staging only once they arrive (`reclaim`). Here
    /// the previous device (a thread that never polls this device) sends the piece only
    /// after such a callback has run; an exchange that polls its device only while
    /// pieces of its own are pending waits for ever (the 4-GPU causal ring's deadlock).
    #[test]
    fn a_receiving_exchange_runs_its_devices_callbacks() {
        let ctx = GpuContext::new().expect("an adapter (lavapipe in CI)");
        let (mut outs, mut ins) = ring_links(2, 1);
        let (out, inbox) = (outs.remove(0), ins.remove(1));
        let len = 256u64;
        let usage = wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let piece = Arc::new(ctx.create_buffer("test piece", len, usage).unwrap());
        let landing = Arc::new(ctx.create_buffer("test landing", len, usage).unwrap());
        let slot = ctx.create_buffer("test slot", len, usage).unwrap();
        let mut rt = RecvStaging::shared(vec![piece.clone()], len, Landing::Buffer(landing));
        // An acknowledgement this device owes from earlier: a callback of its queue.
        ctx.queue().submit([ctx.device().create_command_encoder(&Default::default()).finish()]);
        let ack = inbox.acks.clone();
        ctx.queue().on_submitted_work_done(move || {
            let _ = ack.send(0);
        });
        let sender = std::thread::spawn(move || {
            let acked = out.acks.recv_timeout(Duration::from_secs(8)).is_ok();
            if acked {
                out.tx.send(PieceMsg { index: 0, slot: 0, len, buffer: piece }).unwrap();
            }
            (acked, out)
        });
        let mut link = Link { send: NoSend, recv: inbox };
        let segs = [(&slot, len)];
        let r = link.exchange(&ctx, None, Some((&mut rt, &segs[..])), Duration::from_secs(5), &AtomicBool::new(false));
        let (acked, _out) = sender.join().unwrap();
        assert!(r.is_ok() && acked, "the exchange did not run its device's acknowledgement while it waited (acked: {acked})");
    }

    /// A sending half with nothing to send.
    struct NoSend;
    impl SendHalf for NoSend {
        fn reclaim(&mut self, _: &GpuContext, _: &mut SendStaging, _: bool, _: Duration, _: &AtomicBool) -> LinkResult {
            Ok(())
        }
        fn push(&mut self, _: &GpuContext, _: &mut Outgoing<'_>) -> std::result::Result<bool, SendError> {
            Ok(false)
        }
        fn timed_out(&mut self, ctx: &GpuContext, _: bool, timeout: Duration) -> SendError {
            SendError::Gpu(Error::Timeout { adapter: ctx.name().to_string(), seconds: timeout.as_secs_f64() })
        }
    }

    #[test]
    fn piece_sizes_are_aligned_and_bounded() {
        assert_eq!(piece_bytes(None, 1 << 30), DEFAULT_PIECE_BYTES);
        assert_eq!(piece_bytes(Some(1000), 1 << 30), 1024);
        assert_eq!(piece_bytes(Some(1 << 30), 4096), 4096);
        assert_eq!(piece_bytes(None, 10), 12);
        assert_eq!(piece_count(0, 256), 0);
        assert_eq!(piece_count(257, 256), 2);
    }
}
