//! Host side of the gather kernel (shaders/gather.wgsl): copies rows of a
//! (batch, rows, heads, width) view into another one, through a row map (identity, an
//! index buffer, or LongNet's dilated selection and its inverse), taking a slice of
//! heads on either side and converting the dtype on the way.
//!
//! Token orders (`crate::order`) permute sequences with it; dilated attention
//! (`crate::dilated`) gathers the positions a head group attends into compact
//! tensors and scatters the results back with it.

use crate::context::{GpuContext, PipelineKey};
use crate::error::{Error, Result};
use crate::kernels::{bind_in_order, enable_line, render, sources, window, Slot};
use crate::tensor::Dtype;

/// Workgroup size of the gather kernel.
pub const WG: u32 = 128;

/// How destination row `i` finds its source row (see shaders/gather.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowMap<'a> {
    /// Row i reads row i.
    Identity,
    /// Row i reads row `idx[i]`; `u32::MAX` fills the row with `fill`.
    Index(&'a wgpu::Buffer),
    /// Dilated gather: inside each segment of `w` rows, rows `o, o + r, ...` (`m` of them,
    /// `m = ceil((w - o) / r)`) go to the destination's segment `i / m`, row `i % m`.
    DilatedGather { w: u32, r: u32, o: u32 },
    /// The inverse: full-length destination row i reads the compact source's segment
    /// `i / w`, row `(i % w - o) / r` when selected, else gets `fill`.
    DilatedScatter { w: u32, r: u32, o: u32 },
}

impl RowMap<'_> {
    /// Selected rows per segment of a dilated map (`ceil((w - o) / r)`, 0 when o >= w).
    pub fn per_segment(w: u32, r: u32, o: u32) -> u32 {
        w.saturating_sub(o).div_ceil(r.max(1))
    }
}

/// Element addressing of one side, in elements of its dtype:
/// `batch * b + seg * s + row * t + head0 + head * j + e`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub batch: u64,
    pub seg: u64,
    pub row: u64,
    pub head0: u64,
    pub head: u64,
}

impl Layout {
    /// A (batch, rows, heads, width) tensor, heads `[head0, ..)`.
    pub fn tensor(rows: usize, heads: usize, width: usize, head0: usize) -> Self {
        let w = width as u64;
        Layout { batch: (rows * heads) as u64 * w, seg: 0, row: heads as u64 * w, head0: head0 as u64 * w, head: w }
    }
    /// A (batch, heads, rows) LSE buffer, heads `[head0, ..)` (width 1).
    pub fn lse(rows: usize, heads: usize, head0: usize) -> Self {
        let n = rows as u64;
        Layout { batch: heads as u64 * n, seg: 0, row: 1, head0: head0 as u64 * n, head: n }
    }
    fn all_multiple_of(&self, k: u64) -> bool {
        [self.batch, self.seg, self.row, self.head0, self.head].iter().all(|x| x % k == 0)
    }
    fn divided(&self, k: u64) -> Self {
        Layout { batch: self.batch / k, seg: self.seg / k, row: self.row / k, head0: self.head0 / k, head: self.head / k }
    }
}

/// One side of a gather: a buffer, its dtype and its addressing.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub dtype: Dtype,
    pub layout: Layout,
}

/// One gather launch: `dst[b, i, j, e] = src[b, map(i), j, e]` for b < batch,
/// i < rows, j < heads, e < width.
#[derive(Clone, Copy, Debug)]
pub struct Gather<'a> {
    pub src: Operand<'a>,
    pub dst: Operand<'a>,
    pub map: RowMap<'a>,
    pub batch: usize,
    pub rows: usize,
    pub heads: usize,
    pub width: usize,
    /// Value of rows the map leaves unselected (0 for O, -inf for LSE).
    pub fill: f32,
}

/// Mirrors `struct Side` in shaders/side_common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct SideParams {
    off: u32,
    batch: u32,
    seg: u32,
    row: u32,
    head0: u32,
    head: u32,
    _pad0: u32,
    _pad1: u32,
}

impl SideParams {
    /// The side of a launch whose binding window starts `off` elements before the data.
    fn new(off: u32, l: &Layout) -> Result<SideParams> {
        Ok(SideParams {
            off,
            batch: u32_of("batch stride", l.batch)?,
            seg: u32_of("segment stride", l.seg)?,
            row: u32_of("row stride", l.row)?,
            head0: u32_of("head offset", l.head0)?,
            head: u32_of("head stride", l.head)?,
            _pad0: 0,
            _pad1: 0,
        })
    }
}

/// Mirrors `struct Params` in shaders/gather.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    batch: u32,
    rows: u32,
    heads: u32,
    width: u32,
    mode: u32,
    w: u32,
    r: u32,
    o: u32,
    m: u32,
    fill: f32,
    _pad0: u32,
    _pad1: u32,
    src: SideParams,
    dst: SideParams,
}

/// Template substitutions of the gather shader (the pipeline key): element types of
/// both sides, vec4 or scalar.
pub fn defines(src: Dtype, dst: Dtype, vec4: bool) -> Vec<(&'static str, String)> {
    let ty = |d: Dtype| if vec4 { format!("vec4<{}>", d.wgsl()) } else { d.wgsl().to_string() };
    vec![("DST", ty(dst)), ("DST_S", dst.wgsl().to_string()), ("ENABLE", enable_line(&[src, dst])), ("SRC", ty(src)), ("WG", WG.to_string())]
}

fn u32_of(what: &str, x: u64) -> Result<u32> {
    u32::try_from(x).map_err(|_| Error::LimitExceeded {
        what: format!("gather {what} of {x} elements"),
        limit: "u32 element indexing",
        needed: x,
        allowed: u32::MAX as u64,
    })
}

/// Records one gather (a compute pass of one or more dispatches) into `encoder`.
///
/// Bindings larger than `max_storage_buffer_binding_size` are split over the batch.
/// The caller guarantees that the addressed elements lie inside both buffers (the
/// library's callers derive layouts from validated tensor shapes); a window past a
/// buffer's end is refused here too.
pub fn encode(ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, g: &Gather<'_>) -> Result<()> {
    if g.batch == 0 || g.rows == 0 || g.heads == 0 || g.width == 0 {
        return Ok(());
    }
    ctx.check_dtype(g.src.dtype, "gather")?;
    ctx.check_dtype(g.dst.dtype, "gather")?;
    let vec4 = g.width.is_multiple_of(4) && g.src.layout.all_multiple_of(4) && g.dst.layout.all_multiple_of(4);
    let k = if vec4 { 4 } else { 1 };
    let (sl, dl) = (g.src.layout.divided(k), g.dst.layout.divided(k));
    let width = g.width as u64 / k;
    let (ses, des) = (g.src.dtype.size() * k, g.dst.dtype.size() * k);

    let (mode, w, r, o, m) = match g.map {
        RowMap::Identity => (0, 1, 1, 0, 1),
        RowMap::Index(_) => (1, 1, 1, 0, 1),
        RowMap::DilatedGather { w, r, o } => (2, w, r, o, RowMap::per_segment(w, r, o)),
        RowMap::DilatedScatter { w, r, o } => (3, w, r, o, RowMap::per_segment(w, r, o)),
    };
    if mode >= 2 && (w == 0 || r == 0 || m == 0) {
        return Err(Error::InvalidArgument(format!("dilated row map with w {w}, r {r}, offset {o} selects nothing")));
    }

    // Extent of one batch element on each side, in bytes (last addressed element + 1).
    let rows = g.rows as u64;
    let heads = g.heads as u64;
    let (s_rows, d_rows, s_segs, d_segs) = match g.map {
        RowMap::DilatedGather { .. } => (rows.div_ceil(m as u64) * w as u64, m as u64, 1, rows.div_ceil(m as u64)),
        RowMap::DilatedScatter { .. } => (m as u64, rows, rows.div_ceil(w as u64), 1),
        // Index maps read rows below the source's own extent; the caller sized it.
        _ => (rows, rows, 1, 1),
    };
    let extent = |l: &Layout, rows: u64, segs: u64| l.head0 + (heads - 1) * l.head + (rows - 1) * l.row + (segs - 1) * l.seg + width;
    let s_ext = extent(&sl, s_rows, s_segs) * ses;
    let d_ext = extent(&dl, d_rows, d_segs) * des;
    let s_bb = sl.batch * ses;
    let d_bb = dl.batch * des;
    for (what, ext, bb, buf) in [("source", s_ext, s_bb, g.src.buffer), ("destination", d_ext, d_bb, g.dst.buffer)] {
        let need = bb * (g.batch as u64 - 1) + ext;
        if need > buf.size() {
            return Err(Error::WrongSize {
                what: if what == "source" { "gather source" } else { "gather destination" },
                expected: need,
                got: buf.size(),
                unit: "bytes",
            });
        }
    }

    let lim = &ctx.capabilities().limits;
    let align = lim.min_storage_buffer_offset_alignment as u64;
    let max_bind = lim.max_storage_buffer_binding_size;
    let per_b = s_bb.max(s_ext).max(d_bb).max(d_ext);
    let per_dispatch = rows * heads * width;
    let max_wg = lim.max_compute_workgroups_per_dimension as u64;
    let nb_max = batches_per_launch(ctx, "a gather", "items", per_b, per_dispatch)?;
    if let RowMap::Index(b) = g.map {
        if b.size() > max_bind {
            return Err(Error::LimitExceeded {
                what: "a gather index buffer".into(),
                limit: "max_storage_buffer_binding_size",
                needed: b.size(),
                allowed: max_bind,
            });
        }
    }

    let key = PipelineKey { kernel: "gather", defines: defines(g.src.dtype, g.dst.dtype, vec4) };
    let layout = ctx.layout("gather", &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite]);
    let pipeline = ctx.pipeline(&key, &layout.1, || render(sources::GATHER, &key.defines))?;
    // Without an index the binding is unused; four bytes of the source stand in.
    let idx_binding = match g.map {
        RowMap::Index(b) => b.as_entire_binding(),
        _ => wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: g.src.buffer, offset: 0, size: std::num::NonZeroU64::new(4) }),
    };

    ctx.scoped(|| -> Result<()> {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("gather"), timestamp_writes: None });
        pass.set_pipeline(&pipeline);
        let mut b0 = 0;
        while b0 < g.batch {
            let nb = nb_max.min(g.batch - b0);
            let ws = window(g.src.buffer, b0 as u64 * s_bb, (nb as u64 - 1) * s_bb + s_ext, ses, align);
            let wd = window(g.dst.buffer, b0 as u64 * d_bb, (nb as u64 - 1) * d_bb + d_ext, des, align);
            let side = |w: &crate::kernels::Window<'_>, l: &Layout| SideParams::new(w.elem_off, l);
            let params = GatherParams {
                batch: nb as u32,
                rows: g.rows as u32,
                heads: g.heads as u32,
                width: width as u32,
                mode,
                w,
                r,
                o,
                m,
                fill: g.fill,
                _pad0: 0,
                _pad1: 0,
                src: side(&ws, &sl)?,
                dst: side(&wd, &dl)?,
            };
            let ub = ctx.uniform("gather params", bytemuck::bytes_of(&params));
            let bg = bind_in_order(ctx, "gather", &layout.0, &[ub.as_entire_binding(), idx_binding.clone(), ws.binding(), wd.binding()]);
            let groups = (nb as u64 * per_dispatch).div_ceil(WG as u64);
            let gx = groups.min(max_wg);
            let gy = groups.div_ceil(gx);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(gx as u32, gy as u32, 1);
            b0 += nb;
        }
        Ok(())
    })?
}

/// One side of a [`DilatedMerge`]: a buffer, its dtype and addressing, and how many
/// elements one batch element spans from its start (for binding windows).
struct Bound<'a> {
    buffer: &'a wgpu::Buffer,
    dtype: Dtype,
    layout: Layout,
    extent: u64,
}

/// Folds a compact dilated result into a full-length running (O, LSE) with an LSE merge
/// (shaders/dilated_merge.wgsl): for b < batch, positions i < rows selected by
/// `(w, r, o)`, heads j < heads. Compact rows are (segment, row) as in
/// [`RowMap::DilatedGather`]; unselected positions are left unchanged.
pub struct DilatedMerge<'a> {
    pub acc: Operand<'a>,
    pub acc_lse: Operand<'a>,
    pub part: Operand<'a>,
    pub part_lse: Operand<'a>,
    pub batch: usize,
    pub rows: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub w: u32,
    pub r: u32,
    pub o: u32,
}

/// Mirrors `struct Params` in shaders/dilated_merge.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct DilatedMergeParams {
    batch: u32,
    rows: u32,
    heads: u32,
    w: u32,
    r: u32,
    o: u32,
    m: u32,
    neg_inf: f32,
    acc: SideParams,
    acc_lse: SideParams,
    part: SideParams,
    part_lse: SideParams,
}

/// Template substitutions of the dilated merge shader (the pipeline key).
pub fn dilated_merge_defines(acc: Dtype, part: Dtype, head_dim: usize) -> Vec<(&'static str, String)> {
    vec![
        ("ACC", acc.wgsl().to_string()),
        ("ENABLE", enable_line(&[acc, part])),
        ("HEAD_DIM", head_dim.to_string()),
        ("PART", part.wgsl().to_string()),
        ("WG", WG.to_string()),
    ]
}

/// Records one dilated merge (a compute pass) into `encoder`; split over the batch when
/// a binding would exceed `max_storage_buffer_binding_size`.
pub fn encode_dilated_merge(ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, g: &DilatedMerge<'_>) -> Result<()> {
    if g.batch == 0 || g.rows == 0 || g.heads == 0 {
        return Ok(());
    }
    ctx.check_dtype(g.acc.dtype, "dilated merge")?;
    ctx.check_dtype(g.part.dtype, "dilated merge")?;
    let m = RowMap::per_segment(g.w, g.r, g.o);
    if g.w == 0 || g.r == 0 || m == 0 {
        return Err(Error::InvalidArgument(format!("dilated merge with w {}, r {}, offset {} selects nothing", g.w, g.r, g.o)));
    }
    let (rows, heads, d, m64) = (g.rows as u64, g.heads as u64, g.head_dim as u64, m as u64);
    let segs = rows.div_ceil(g.w as u64);
    let full = |l: &Layout, width: u64| l.head0 + (heads - 1) * l.head + (rows - 1) * l.row + width;
    let compact = |l: &Layout, width: u64| (segs - 1) * l.seg + (m64 - 1) * l.row + l.head0 + (heads - 1) * l.head + width;
    let sides = [
        Bound { buffer: g.acc.buffer, dtype: g.acc.dtype, layout: g.acc.layout, extent: full(&g.acc.layout, d) },
        Bound { buffer: g.acc_lse.buffer, dtype: Dtype::F32, layout: g.acc_lse.layout, extent: full(&g.acc_lse.layout, 1) },
        Bound { buffer: g.part.buffer, dtype: g.part.dtype, layout: g.part.layout, extent: compact(&g.part.layout, d) },
        Bound { buffer: g.part_lse.buffer, dtype: Dtype::F32, layout: g.part_lse.layout, extent: compact(&g.part_lse.layout, 1) },
    ];
    let lim = &ctx.capabilities().limits;
    let align = lim.min_storage_buffer_offset_alignment as u64;
    let mut per_b = 0;
    for (what, s) in
        ["dilated merge accumulator", "dilated merge accumulator LSE", "dilated merge partial", "dilated merge partial LSE"].iter().zip(&sides)
    {
        let es = s.dtype.size();
        let need = (s.layout.batch * (g.batch as u64 - 1) + s.extent) * es;
        if need > s.buffer.size() {
            return Err(Error::WrongSize { what, expected: need, got: s.buffer.size(), unit: "bytes" });
        }
        per_b = per_b.max(s.layout.batch.max(s.extent) * es);
    }
    let per_dispatch = rows * heads;
    let max_wg = lim.max_compute_workgroups_per_dimension as u64;
    let nb_max = batches_per_launch(ctx, "a dilated merge", "rows", per_b, per_dispatch)?;

    let key = PipelineKey { kernel: "dilated_merge", defines: dilated_merge_defines(g.acc.dtype, g.part.dtype, g.head_dim) };
    let layout = ctx.layout("dilated_merge", &[Slot::Uniform, Slot::ReadWrite, Slot::ReadWrite, Slot::Read, Slot::Read]);
    let pipeline = ctx.pipeline(&key, &layout.1, || render(sources::DILATED_MERGE, &key.defines))?;
    ctx.scoped(|| -> Result<()> {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("dilated merge"), timestamp_writes: None });
        pass.set_pipeline(&pipeline);
        let mut b0 = 0;
        while b0 < g.batch {
            let nb = nb_max.min(g.batch - b0);
            let windows: Vec<crate::kernels::Window<'_>> = sides
                .iter()
                .map(|s| {
                    let es = s.dtype.size();
                    window(s.buffer, b0 as u64 * s.layout.batch * es, ((nb as u64 - 1) * s.layout.batch + s.extent) * es, es, align)
                })
                .collect();
            let side = |i: usize| SideParams::new(windows[i].elem_off, &sides[i].layout);
            let params = DilatedMergeParams {
                batch: nb as u32,
                rows: g.rows as u32,
                heads: g.heads as u32,
                w: g.w,
                r: g.r,
                o: g.o,
                m,
                neg_inf: f32::NEG_INFINITY,
                acc: side(0)?,
                acc_lse: side(1)?,
                part: side(2)?,
                part_lse: side(3)?,
            };
            let ub = ctx.uniform("dilated merge params", bytemuck::bytes_of(&params));
            let res: Vec<_> = std::iter::once(ub.as_entire_binding()).chain(windows.iter().map(|w| w.binding())).collect();
            let bg = bind_in_order(ctx, "dilated merge", &layout.0, &res);
            let groups = (nb as u64 * per_dispatch).div_ceil(WG as u64);
            let gx = groups.min(max_wg);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(gx as u32, groups.div_ceil(gx) as u32, 1);
            b0 += nb;
        }
        Ok(())
    })?
}

/// How many batch elements one launch of a batch-split kernel may take: each binding
/// holds `per_b` bytes per element (plus the offset alignment) and each element is
/// `per_dispatch` invocations (`unit`) of WG lanes on a 2D grid. Errors name `what`
/// when a single element does not fit.
fn batches_per_launch(ctx: &GpuContext, what: &str, unit: &str, per_b: u64, per_dispatch: u64) -> Result<usize> {
    let per_binding = super::batches_per_binding(ctx, what, per_b)?;
    let max_wg = ctx.capabilities().limits.max_compute_workgroups_per_dimension as u64;
    let max_items = (max_wg * max_wg * WG as u64).min(u32::MAX as u64 / 2);
    if per_dispatch > max_items {
        return Err(Error::LimitExceeded {
            what: format!("{what} of {per_dispatch} {unit} per batch element"),
            limit: "max_compute_workgroups_per_dimension",
            needed: per_dispatch.div_ceil(WG as u64 * max_wg),
            allowed: max_wg,
        });
    }
    Ok(per_binding.min((max_items / per_dispatch) as usize).max(1))
}
