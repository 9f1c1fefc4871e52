//! GPU timing with timestamp queries (wall time is measured separately by callers).

use crate::attention::{Attention, AttentionOutput};
use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::mask::GpuBlockMask;
use crate::tensor::GpuTensor;

/// Pairs of timestamp slots (a start and an end each) and the buffer to read them back:
/// one pair ([`GpuTimer::new`]) around a timed pass, or several ([`GpuTimer::pairs`]),
/// each resolved into its own 256-byte slot of the buffer.
pub struct GpuTimer {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    pairs: usize,
    period_ns: f64,
}

/// Bytes between the pairs' slots in the resolve buffer (wgpu's resolve offset alignment).
const PAIR_STRIDE: u64 = wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT;

impl GpuTimer {
    /// One pair; `None` when the device lacks TIMESTAMP_QUERY.
    pub fn new(ctx: &GpuContext) -> Option<Self> {
        Self::pairs(ctx, 1)
    }

    /// `pairs` pairs (at least one); `None` when the device lacks TIMESTAMP_QUERY.
    pub fn pairs(ctx: &GpuContext, pairs: usize) -> Option<Self> {
        if !ctx.capabilities().timestamp_query {
            return None;
        }
        let pairs = pairs.max(1);
        let set = ctx.device().create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("ringattn timer"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * pairs as u32,
        });
        let resolve = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("ringattn timer resolve"),
            size: PAIR_STRIDE * (pairs as u64 - 1) + 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Some(GpuTimer { set, resolve, pairs, period_ns: ctx.queue().get_timestamp_period() as f64 })
    }

    /// Timestamp writes for one compute pass (start and end of pair 0).
    pub fn writes(&self) -> wgpu::ComputePassTimestampWrites<'_> {
        self.writes_at(0, true, true).expect("both ends asked for")
    }

    /// Timestamp writes of pair `pair` for a compute pass: its start where `start`, its
    /// end where `end` (a span of several passes: the start on the first, the end on the
    /// last); `None` for neither.
    pub fn writes_at(&self, pair: usize, start: bool, end: bool) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let q = 2 * pair as u32;
        (start || end).then(|| wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: start.then_some(q),
            end_of_pass_write_index: end.then_some(q + 1),
        })
    }

    /// Records the resolve of pair 0; call after the timed pass.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        self.resolve_pair(encoder, 0);
    }

    /// Records the resolve of pair `pair` (only pairs whose timestamps were written).
    pub fn resolve_pair(&self, encoder: &mut wgpu::CommandEncoder, pair: usize) {
        let q = 2 * pair as u32;
        encoder.resolve_query_set(&self.set, q..q + 2, &self.resolve, PAIR_STRIDE * pair as u64);
    }

    /// Reads the elapsed seconds of pair 0 as last resolved (waits for the GPU).
    pub fn read_seconds(&self, ctx: &GpuContext) -> Result<f64> {
        let [t0, t1] = self.read_ticks(ctx)?[0];
        if t1 < t0 {
            return Err(Error::Gpu { adapter: ctx.name().into(), message: "timestamps went backwards".into() });
        }
        Ok((t1 - t0) as f64 * self.tick_seconds())
    }

    /// Every pair's raw (start, end) ticks as last resolved (waits for the GPU; pairs
    /// never resolved read whatever the buffer holds).
    pub fn read_ticks(&self, ctx: &GpuContext) -> Result<Vec<[u64; 2]>> {
        let bytes = ctx.read_bytes(&self.resolve, 0, self.resolve.size())?;
        Ok((0..self.pairs)
            .map(|p| {
                let at = PAIR_STRIDE as usize * p;
                bytemuck::pod_read_unaligned(&bytes[at..at + 16])
            })
            .collect())
    }

    /// Seconds per tick.
    pub fn tick_seconds(&self) -> f64 {
        self.period_ns * 1e-9
    }
}

/// Median of a slice (sorted copy); NaN for an empty slice.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Runs attention `reps` times with timestamps around the compute pass and returns the
/// median GPU seconds, or `None` when the adapter has no timestamp queries.
pub fn time_attention(attn: &Attention<'_>, q: &GpuTensor, k: &GpuTensor, v: &GpuTensor, out: &AttentionOutput, reps: usize) -> Result<Option<f64>> {
    time_attention_with(attn, q, k, v, out, None, reps)
}

/// [`time_attention`] with an optional block mask.
pub fn time_attention_with(
    attn: &Attention<'_>,
    q: &GpuTensor,
    k: &GpuTensor,
    v: &GpuTensor,
    out: &AttentionOutput,
    mask: Option<&GpuBlockMask>,
    reps: usize,
) -> Result<Option<f64>> {
    let ctx = attn.context();
    let Some(timer) = GpuTimer::new(ctx) else { return Ok(None) };
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let mut enc = ctx.device().create_command_encoder(&Default::default());
        attn.encode_with(&mut enc, q, k, v, &out.o, &out.lse, mask, Some(timer.writes()))?;
        timer.resolve(&mut enc);
        ctx.scoped(|| ctx.queue().submit([enc.finish()]))?;
        samples.push(timer.read_seconds(ctx)?);
    }
    Ok(Some(median(&samples)))
}
