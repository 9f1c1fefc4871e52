//! GPU timing with timestamp queries (wall time is measured separately by callers).

use crate::attention::{Attention, AttentionOutput};
use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::mask::GpuBlockMask;
use crate::tensor::GpuTensor;

/// A pair of timestamp slots and the buffers to read them back.
pub struct GpuTimer {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    period_ns: f64,
}

impl GpuTimer {
    /// `None` when the device lacks TIMESTAMP_QUERY.
    pub fn new(ctx: &GpuContext) -> Option<Self> {
        if !ctx.capabilities().timestamp_query {
            return None;
        }
        let set =
            ctx.device().create_query_set(&wgpu::QuerySetDescriptor { label: Some("ringattn timer"), ty: wgpu::QueryType::Timestamp, count: 2 });
        let resolve = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("ringattn timer resolve"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Some(GpuTimer { set, resolve, period_ns: ctx.queue().get_timestamp_period() as f64 })
    }

    /// Timestamp writes for one compute pass (start and end).
    pub fn writes(&self) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites { query_set: &self.set, beginning_of_pass_write_index: Some(0), end_of_pass_write_index: Some(1) }
    }

    /// Records the resolve of both timestamps; call after the timed pass.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.resolve_query_set(&self.set, 0..2, &self.resolve, 0);
    }

    /// Reads the elapsed seconds of the last resolved pair (waits for the GPU).
    pub fn read_seconds(&self, ctx: &GpuContext) -> Result<f64> {
        let bytes = ctx.read_bytes(&self.resolve, 0, 16)?;
        let t: [u64; 2] = bytemuck::pod_read_unaligned(&bytes);
        if t[1] < t[0] {
            return Err(Error::Gpu { adapter: ctx.name().into(), message: "timestamps went backwards".into() });
        }
        Ok((t[1] - t[0]) as f64 * self.period_ns * 1e-9)
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
