//! Host side of the LSE merge kernel: folds a partial (O, LSE) into a running one.

use crate::context::{GpuContext, PipelineKey};
use crate::error::{Error, Result};
use crate::kernels::{bind_in_order, enable_line, render, sources, uniform_buffer, Slot};
use crate::tensor::{GpuTensor, LseBuffer};

/// Mirrors `struct Params` in shaders/merge.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct MergeParams {
    rows: u32,
    seq: u32,
    heads: u32,
    acc_off: u32,
    part_off: u32,
    acc_lse_off: u32,
    part_lse_off: u32,
    neg_inf: f32,
}

const WG: u32 = 64;

/// Records `acc = merge(acc, part)` (O and LSE, in place on `acc`).
///
/// Both sides must have the same (batch, seq, heads, head_dim); dtypes may differ
/// (e.g. an f32 running accumulator and an f16 partial). The math is f32.
pub fn encode_merge(
    ctx: &GpuContext,
    encoder: &mut wgpu::CommandEncoder,
    acc: &GpuTensor,
    acc_lse: &LseBuffer,
    part: &GpuTensor,
    part_lse: &LseBuffer,
) -> Result<()> {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("merge"), timestamp_writes: None });
    encode_merge_in_pass(ctx, &mut pass, acc, acc_lse, part, part_lse)
}

/// [`encode_merge`] into an open compute pass (wgpu orders it after the pass's earlier
/// dispatches that write `part`).
pub fn encode_merge_in_pass(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass<'_>,
    acc: &GpuTensor,
    acc_lse: &LseBuffer,
    part: &GpuTensor,
    part_lse: &LseBuffer,
) -> Result<()> {
    if acc.dims() != part.dims() {
        return Err(Error::ShapeMismatch { what: "merge partial", expected: format!("{:?}", acc.dims()), got: format!("{:?}", part.dims()) });
    }
    let [b, n, h, d] = acc.dims();
    for (what, l) in [("merge acc lse", acc_lse), ("merge partial lse", part_lse)] {
        if l.dims() != [b, h, n] {
            return Err(Error::ShapeMismatch { what, expected: format!("{:?}", [b, h, n]), got: format!("{:?}", l.dims()) });
        }
    }
    ctx.check_dtype(acc.dtype(), "merge")?;
    ctx.check_dtype(part.dtype(), "merge")?;
    let lim = &ctx.capabilities().limits;
    for t in [acc, part] {
        if t.size_bytes() > lim.max_storage_buffer_binding_size {
            return Err(Error::LimitExceeded {
                what: "merge operand".into(),
                limit: "max_storage_buffer_binding_size",
                needed: t.size_bytes(),
                allowed: lim.max_storage_buffer_binding_size,
            });
        }
    }
    let defines = vec![
        ("ACC", acc.dtype().wgsl().to_string()),
        ("ENABLE", enable_line(&[acc.dtype(), part.dtype()])),
        ("HEAD_DIM", d.to_string()),
        ("PART", part.dtype().wgsl().to_string()),
        ("WG", WG.to_string()),
    ];
    let key = PipelineKey { kernel: "merge", defines };
    let layout = ctx.layout("merge", &[Slot::Uniform, Slot::ReadWrite, Slot::ReadWrite, Slot::Read, Slot::Read]);
    let pipeline = ctx.pipeline(&key, &layout.1, || render(sources::MERGE, &key.defines))?;
    let params = MergeParams {
        rows: (b * n) as u32,
        seq: n as u32,
        heads: h as u32,
        acc_off: 0,
        part_off: 0,
        acc_lse_off: 0,
        part_lse_off: 0,
        neg_inf: f32::NEG_INFINITY,
    };
    let ub = uniform_buffer(ctx, "merge params", bytemuck::bytes_of(&params));
    fn bind(buf: &wgpu::Buffer, bytes: u64) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: buf, offset: 0, size: std::num::NonZeroU64::new(bytes.div_ceil(4) * 4) })
    }
    let bg = bind_in_order(
        ctx,
        "merge",
        &layout.0,
        &[
            ub.as_entire_binding(),
            bind(acc.buffer(), acc.size_bytes()),
            bind(acc_lse.buffer(), acc_lse.numel() as u64 * 4),
            bind(part.buffer(), part.size_bytes()),
            bind(part_lse.buffer(), part_lse.numel() as u64 * 4),
        ],
    );
    let total = (b * n * h) as u32;
    let groups = total.div_ceil(WG);
    let max_wg = lim.max_compute_workgroups_per_dimension;
    let gx = groups.min(max_wg);
    let gy = groups.div_ceil(gx);
    pass.set_pipeline(&pipeline);
    pass.set_bind_group(0, &bg, &[]);
    pass.dispatch_workgroups(gx, gy, 1);
    Ok(())
}

/// Merges and submits, then waits.
pub fn merge(ctx: &GpuContext, acc: &GpuTensor, acc_lse: &LseBuffer, part: &GpuTensor, part_lse: &LseBuffer) -> Result<()> {
    ctx.submit_with("ringattn merge", |enc| ctx.scoped(|| encode_merge(ctx, enc, acc, acc_lse, part, part_lse))?)?;
    ctx.wait()
}
