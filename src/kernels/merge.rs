//! Host side of the LSE merge kernel: folds partial (O, LSE) results into a running one.

use crate::context::{GpuContext, PipelineKey};
use crate::error::{Error, Result};
use crate::kernels::{bind_in_order, enable_line, render, sources, Slot};
use crate::tensor::{Dtype, GpuTensor, LseBuffer};

/// Mirrors `struct Params` in shaders/merge.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct MergeParams {
    rows: u32,
    seq: u32,
    heads: u32,
    neg_inf: f32,
    slot_o: u32,
    slot_lse: u32,
    pad: [u32; 2],
}

impl MergeParams {
    /// Rows of a merge into an acc of dims [b, n, h, _]; the slot strides for SLOTS.
    fn new([b, n, h, d]: [usize; 4], slots: bool) -> Self {
        let (slot_o, slot_lse) = if slots { ((b * n * h * d) as u32, (b * h * n) as u32) } else { (0, 0) };
        MergeParams { rows: (b * n) as u32, seq: n as u32, heads: h as u32, neg_inf: f32::NEG_INFINITY, slot_o, slot_lse, pad: [0; 2] }
    }
}

/// Rows of `head_dim` elements per merge workgroup: about 128 invocations (one per
/// element), at least one row.
fn rows_per_workgroup(head_dim: usize) -> usize {
    (128 / head_dim).max(1)
}

/// Most partial results one merge dispatch folds in: each takes two storage buffers
/// beside the running side's two, within the device's
/// `max_storage_buffers_per_shader_stage` (8 parts need 16, the most the library asks
/// for; WebGPU's default of 8 allows 3).
pub fn max_parts_per_dispatch(ctx: &GpuContext) -> usize {
    ((ctx.capabilities().limits.max_storage_buffers_per_shader_stage as usize).saturating_sub(2) / 2).clamp(1, LAYOUT_NAMES.len())
}

/// The merge layouts' names by the parts they bind (1 to 7).
const LAYOUT_NAMES: [&str; 7] = ["merge", "merge2", "merge3", "merge4", "merge5", "merge6", "merge7"];

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
    encode_merge_parts_in_pass(ctx, pass, acc, acc_lse, &[(part, part_lse)])
}

/// Records `acc = merge(acc, parts...)` (O and LSE, in place on `acc`) into an open
/// compute pass: every part folded in by one dispatch, or by one per
/// [`max_parts_per_dispatch`] parts where there are more. Each part must have acc's
/// shape; dtypes may differ from acc's but are the same across the parts.
pub fn encode_merge_parts_in_pass(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass<'_>,
    acc: &GpuTensor,
    acc_lse: &LseBuffer,
    parts: &[(&GpuTensor, &LseBuffer)],
) -> Result<()> {
    let [b, n, h, d] = acc.dims();
    let Some(&(first, _)) = parts.first() else {
        return Err(Error::InvalidArgument("merge: no partial results given".into()));
    };
    let check_lse = |what, l: &LseBuffer| match l.dims() == [b, h, n] {
        true => Ok(()),
        false => Err(Error::ShapeMismatch { what, expected: format!("{:?}", [b, h, n]), got: format!("{:?}", l.dims()) }),
    };
    check_lse("merge acc lse", acc_lse)?;
    for &(part, part_lse) in parts {
        if part.dims() != acc.dims() {
            return Err(Error::ShapeMismatch { what: "merge partial", expected: format!("{:?}", acc.dims()), got: format!("{:?}", part.dims()) });
        }
        if part.dtype() != first.dtype() {
            return Err(Error::InvalidArgument(format!("merge: partial results in {} and {}", first.dtype().name(), part.dtype().name())));
        }
        check_lse("merge partial lse", part_lse)?;
    }
    check_operands(ctx, acc, first)?;
    let (gx, gy) = merge_grid(ctx, b * n * h, d)?;
    let params = MergeParams::new(acc.dims(), false);
    let ub = ctx.uniform("merge params", bytemuck::bytes_of(&params));
    for group in parts.chunks(max_parts_per_dispatch(ctx)) {
        let k = group.len();
        let (layout, pipeline) = merge_pipeline(ctx, acc.dtype(), first.dtype(), d, k)?;
        let mut res = vec![ub.as_entire_binding(), bind(acc.buffer(), acc.size_bytes()), bind(acc_lse.buffer(), acc_lse.numel() as u64 * 4)];
        for &(part, part_lse) in group {
            res.extend([bind(part.buffer(), part.size_bytes()), bind(part_lse.buffer(), part_lse.numel() as u64 * 4)]);
        }
        dispatch(ctx, pass, &layout, &pipeline, &res, (gx, gy));
    }
    Ok(())
}

/// One merge dispatch of `pipeline` over the (x, y) `grid`, its bindings `res` in the
/// order of `layout`.
fn dispatch(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass<'_>,
    layout: &crate::kernels::LayoutPair,
    pipeline: &wgpu::ComputePipeline,
    res: &[wgpu::BindingResource<'_>],
    (gx, gy): (u32, u32),
) {
    let bg = bind_in_order(ctx, "merge", &layout.0, res);
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, &bg, &[]);
    pass.dispatch_workgroups(gx, gy, 1);
}

/// The (x, y) grid of a merge dispatch over `rows` rows of `head_dim` elements
/// ([`rows_per_workgroup`] rows per workgroup), within the adapter's limits.
fn merge_grid(ctx: &GpuContext, rows: usize, head_dim: usize) -> Result<(u32, u32)> {
    let lim = &ctx.capabilities().limits;
    let rpw = rows_per_workgroup(head_dim);
    if rpw * head_dim > lim.max_compute_invocations_per_workgroup as usize {
        return Err(Error::LimitExceeded {
            what: format!("a merge workgroup of {} invocations", rpw * head_dim),
            limit: "max_compute_invocations_per_workgroup",
            needed: (rpw * head_dim) as u64,
            allowed: lim.max_compute_invocations_per_workgroup as u64,
        });
    }
    let groups = rows.div_ceil(rpw) as u32;
    let max_wg = lim.max_compute_workgroups_per_dimension;
    let gx = groups.min(max_wg);
    let gy = groups.div_ceil(gx);
    if gy > max_wg {
        return Err(Error::LimitExceeded {
            what: format!("a merge grid of {groups} workgroups"),
            limit: "max_compute_workgroups_per_dimension",
            needed: gy as u64,
            allowed: max_wg as u64,
        });
    }
    Ok((gx, gy))
}

/// The layout and pipeline of one merge dispatch folding `k` partial results in `part`
/// into `acc` at `head_dim` (built, or fetched from the context's cache).
fn merge_pipeline(
    ctx: &GpuContext,
    acc: Dtype,
    part: Dtype,
    head_dim: usize,
    k: usize,
) -> Result<(crate::kernels::LayoutPair, std::sync::Arc<wgpu::ComputePipeline>)> {
    let key = PipelineKey { kernel: "merge", defines: merge_defines(acc, part, head_dim, k) };
    let mut slots = vec![Slot::Uniform, Slot::ReadWrite, Slot::ReadWrite];
    slots.extend(std::iter::repeat_n([Slot::Read, Slot::Read], k).flatten());
    let layout = ctx.layout(LAYOUT_NAMES[k - 1], &slots);
    let pipeline = ctx.pipeline(&key, &layout.1, || render(sources::MERGE, &key.defines))?;
    Ok((layout, pipeline))
}

/// Builds the pipelines [`encode_merge_parts_in_pass`] runs to fold `parts` partial
/// results in `part` into `acc` at `head_dim`, so that a first call compiles nothing
/// ([`crate::Attention::tiles`] for calls split over keys).
pub fn prepare_merge(ctx: &GpuContext, acc: Dtype, part: Dtype, head_dim: usize, parts: usize) -> Result<()> {
    let per = max_parts_per_dispatch(ctx);
    let mut left = parts;
    while left > 0 {
        let k = left.min(per);
        merge_pipeline(ctx, acc, part, head_dim, k)?;
        left -= k;
    }
    Ok(())
}

/// Template substitutions of the merge shader folding `parts` partial results in
/// `part` into a running side in `acc` at `head_dim` (the pipeline key).
pub fn merge_defines(acc: Dtype, part: Dtype, head_dim: usize, parts: usize) -> Vec<(&'static str, String)> {
    let bindings: String = (0..parts)
        .map(|i| {
            format!(
                "@group(0) @binding({}) var<storage, read> part{i}: array<Part>;\n@group(0) @binding({}) var<storage, read> part_lse{i}: array<f32>;\n",
                3 + 2 * i,
                4 + 2 * i
            )
        })
        .collect();
    merge_defines_with(acc, part, head_dim, parts, bindings, false)
}

/// The merge shader's substitutions, the parts' bindings given, with SLOTS on or off.
fn merge_defines_with(acc: Dtype, part: Dtype, head_dim: usize, parts: usize, bindings: String, slots: bool) -> Vec<(&'static str, String)> {
    vec![
        ("ACC", acc.wgsl().to_string()),
        ("ENABLE", enable_line(&[acc, part])),
        ("HEAD_DIM", head_dim.to_string()),
        ("K", parts.to_string()),
        ("PART", part.wgsl().to_string()),
        ("PART_BINDINGS", bindings),
        ("RPW", rows_per_workgroup(head_dim).to_string()),
        ("SLOTS", if slots { "1" } else { "0" }.to_string()),
    ]
}

/// Template substitutions of the merge shader in SLOTS mode folding `k` slots in one
/// buffer pair (the call's dtype) into `acc` at `head_dim` (the pipeline key).
pub fn merge_slots_defines(dtype: Dtype, head_dim: usize, k: usize) -> Vec<(&'static str, String)> {
    let bindings = "@group(0) @binding(3) var<storage, read> slots: array<Part>;\n@group(0) @binding(4) var<storage, read> slots_lse: array<f32>;\n";
    merge_defines_with(dtype, dtype, head_dim, k, bindings.to_string(), true)
}

/// The layout and pipeline of the SLOTS merge of `k` slots (built, or fetched from the
/// context's cache): the one-part merge's layout.
fn merge_slots_pipeline(
    ctx: &GpuContext,
    dtype: Dtype,
    head_dim: usize,
    k: usize,
) -> Result<(crate::kernels::LayoutPair, std::sync::Arc<wgpu::ComputePipeline>)> {
    let key = PipelineKey { kernel: "merge", defines: merge_slots_defines(dtype, head_dim, k) };
    let layout = ctx.layout(LAYOUT_NAMES[0], &[Slot::Uniform, Slot::ReadWrite, Slot::ReadWrite, Slot::Read, Slot::Read]);
    let pipeline = ctx.pipeline(&key, &layout.1, || render(sources::MERGE, &key.defines))?;
    Ok((layout, pipeline))
}

/// Builds the pipeline [`encode_merge_slots_in_pass`] runs for `k` slots, so a first
/// call compiles nothing.
pub fn prepare_merge_slots(ctx: &GpuContext, dtype: Dtype, head_dim: usize, k: usize) -> Result<()> {
    merge_slots_pipeline(ctx, dtype, head_dim, k).map(|_| ())
}

/// Records `acc = merge(acc, slots...)` (O and LSE, in place on `acc`) into an open
/// compute pass, in one dispatch: `slots` and `slots_lse` hold k partial results of
/// acc's shape and dtype one after another (dims [k * batch, seq, heads, head_dim] and
/// [k * batch, heads, seq]: slot i is batch elements [i * batch, (i + 1) * batch)), as
/// [`crate::kernels::flash::encode_key_parts`] writes them.
pub fn encode_merge_slots_in_pass(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass<'_>,
    acc: &GpuTensor,
    acc_lse: &LseBuffer,
    slots: &GpuTensor,
    slots_lse: &LseBuffer,
) -> Result<()> {
    let [b, n, h, d] = acc.dims();
    let k = slots.dims()[0] / b.max(1);
    if k == 0 || slots.dims() != [k * b, n, h, d] || slots_lse.dims() != [k * b, h, n] || acc_lse.dims() != [b, h, n] || slots.dtype() != acc.dtype()
    {
        return Err(Error::ShapeMismatch {
            what: "merge slots",
            expected: format!("k x {:?} and k x {:?} in {}", [b, n, h, d], [b, h, n], acc.dtype().name()),
            got: format!("{:?} and {:?} in {} (running side {:?})", slots.dims(), slots_lse.dims(), slots.dtype().name(), acc_lse.dims()),
        });
    }
    check_operands(ctx, acc, slots)?;
    let (gx, gy) = merge_grid(ctx, b * n * h, d)?;
    let (layout, pipeline) = merge_slots_pipeline(ctx, acc.dtype(), d, k)?;
    let params = MergeParams::new(acc.dims(), true);
    let ub = ctx.uniform("merge params", bytemuck::bytes_of(&params));
    let res = [
        ub.as_entire_binding(),
        bind(acc.buffer(), acc.size_bytes()),
        bind(acc_lse.buffer(), acc_lse.numel() as u64 * 4),
        bind(slots.buffer(), slots.size_bytes()),
        bind(slots_lse.buffer(), slots_lse.numel() as u64 * 4),
    ];
    dispatch(ctx, pass, &layout, &pipeline, &res, (gx, gy));
    Ok(())
}

/// The dtypes the adapter must support and the binding size of a merge's running side
/// `acc` and its (first) partial result `part`.
fn check_operands(ctx: &GpuContext, acc: &GpuTensor, part: &GpuTensor) -> Result<()> {
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
    Ok(())
}

/// A whole buffer of `bytes` (rounded up to 4) as a binding.
fn bind(buf: &wgpu::Buffer, bytes: u64) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: buf, offset: 0, size: std::num::NonZeroU64::new(bytes.div_ceil(4) * 4) })
}

/// Merges and submits, then waits.
pub fn merge(ctx: &GpuContext, acc: &GpuTensor, acc_lse: &LseBuffer, part: &GpuTensor, part_lse: &LseBuffer) -> Result<()> {
    ctx.submit_with("ringattn merge", |enc| ctx.scoped(|| encode_merge(ctx, enc, acc, acc_lse, part, part_lse))?)?;
    ctx.wait()
}
