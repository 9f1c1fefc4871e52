//! Moving K/V blocks from one device to the next: device -> host -> device.
//!
//! wgpu has no peer-to-peer copy between devices (not even between two devices of
//! one adapter), so a block is copied into a `MAP_READ` staging buffer, mapped,
//! copied into a host `Vec`, handed to the next device's thread, and written into
//! that device's *incoming* K/V slot with `queue.write_buffer`. The incoming slot is
//! not the one the device computes on (K/V are double-buffered), so the write can
//! be queued while the current step's compute still runs.
//!
//! Host buffers are reused: each link owns two `Vec`s that go to the receiver and
//! come back to the sender once written (so a sender can be at most two blocks
//! ahead of its receiver). The channels double as fault propagation: when a device
//! thread fails it drops its ends, and its neighbours see a disconnected channel
//! at once instead of waiting for a timeout.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use crate::context::GpuContext;
use crate::error::{Error, Result};

/// Host buffers per link (the sender may run this many blocks ahead).
const HOST_BUFFERS: usize = 2;

/// Why a host hand-off failed.
#[derive(Debug)]
pub(crate) enum LinkError {
    /// The neighbour's thread ended (it failed, or the ring is aborting).
    PeerGone,
    /// The neighbour did not hand anything over in time.
    Timeout,
}

/// The sending end of the link from one device to the next.
pub(crate) struct Outbox {
    tx: SyncSender<Vec<u8>>,
    pool: Receiver<Vec<u8>>,
}

/// The receiving end of the link from the previous device.
pub(crate) struct Inbox {
    rx: Receiver<Vec<u8>>,
    pool: SyncSender<Vec<u8>>,
}

/// One link per device: `outboxes[i]` sends to `inboxes[(i + 1) % n]`.
pub(crate) fn ring_links(n: usize, capacity: usize) -> (Vec<Outbox>, Vec<Inbox>) {
    let mut outs = Vec::with_capacity(n);
    let mut ins: Vec<Option<Inbox>> = (0..n).map(|_| None).collect();
    for i in 0..n {
        let (tx, rx) = sync_channel(HOST_BUFFERS);
        let (ptx, prx) = sync_channel(HOST_BUFFERS);
        for _ in 0..HOST_BUFFERS {
            // Cannot fail: the channel has room for every buffer and both ends live.
            let _ = ptx.send(Vec::with_capacity(capacity));
        }
        outs.push(Outbox { tx, pool: prx });
        ins[(i + 1) % n] = Some(Inbox { rx, pool: ptx });
    }
    (outs, ins.into_iter().map(|x| x.expect("every device has an inbox")).collect())
}

impl Outbox {
    /// Takes a free host buffer (returned by the receiver after an earlier block).
    pub fn take(&self, timeout: Duration) -> std::result::Result<Vec<u8>, LinkError> {
        self.pool.recv_timeout(timeout).map_err(link_err)
    }
    /// Hands a filled buffer to the next device.
    pub fn send(&self, buf: Vec<u8>) -> std::result::Result<(), LinkError> {
        self.tx.send(buf).map_err(|_| LinkError::PeerGone)
    }
}

impl Inbox {
    /// Waits for the next block from the previous device.
    pub fn recv(&self, timeout: Duration) -> std::result::Result<Vec<u8>, LinkError> {
        self.rx.recv_timeout(timeout).map_err(link_err)
    }
    /// Returns a buffer to the sender for reuse. A sender that has already finished
    /// no longer needs it, so a failed return is not an error.
    pub fn give_back(&self, buf: Vec<u8>) {
        let _ = self.pool.try_send(buf);
    }
}

fn link_err(e: RecvTimeoutError) -> LinkError {
    match e {
        RecvTimeoutError::Timeout => LinkError::Timeout,
        RecvTimeoutError::Disconnected => LinkError::PeerGone,
    }
}

/// A `MAP_READ` staging buffer reused for every outgoing block of one device.
pub(crate) struct Staging {
    pub buffer: wgpu::Buffer,
}

impl Staging {
    pub fn new(ctx: &GpuContext, bytes: u64) -> Result<Self> {
        let buffer = ctx.create_buffer("ringattn ring staging", bytes, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST)?;
        Ok(Staging { buffer })
    }

    /// Waits (at most `timeout`) for submission `index`, which copied `len` bytes into
    /// the staging buffer, and appends them to `out` (cleared first).
    pub fn read_into(&self, ctx: &GpuContext, index: wgpu::SubmissionIndex, len: u64, out: &mut Vec<u8>, timeout: Duration) -> Result<()> {
        out.clear();
        if len == 0 {
            return Ok(());
        }
        let (tx, rx) = std::sync::mpsc::channel();
        self.buffer.map_async(wgpu::MapMode::Read, ..len, move |r| {
            let _ = tx.send(r);
        });
        let polled = ctx.device().poll(wgpu::PollType::Wait { submission_index: Some(index), timeout: Some(timeout) });
        ctx.check_alive()?;
        match polled {
            Ok(_) => {}
            Err(wgpu::PollError::Timeout) => return Err(Error::Timeout { adapter: ctx.name().to_string(), seconds: timeout.as_secs_f64() }),
            Err(e) => return Err(Error::Gpu { adapter: ctx.name().to_string(), message: e.to_string() }),
        }
        // The callback runs inside poll once the copy is done; a short grace period
        // covers backends that deliver it on the next poll.
        let r = match rx.try_recv() {
            Ok(r) => r,
            Err(_) => {
                let _ = ctx.device().poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(timeout) });
                rx.recv_timeout(Duration::from_secs(5))
                    .map_err(|_| Error::Timeout { adapter: ctx.name().to_string(), seconds: timeout.as_secs_f64() })?
            }
        };
        r.map_err(|e| Error::Gpu { adapter: ctx.name().to_string(), message: format!("mapping the ring staging buffer failed: {e}") })?;
        {
            let view = self.buffer.get_mapped_range(..len).map_err(|e| Error::Gpu { adapter: ctx.name().to_string(), message: e.to_string() })?;
            out.extend_from_slice(&view);
        }
        self.buffer.unmap();
        Ok(())
    }
}
