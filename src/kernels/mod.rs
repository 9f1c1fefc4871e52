//! Host side of the WGSL kernels: the shader table, the template step, shared bind
//! group layouts and the tier choice.

pub mod flash;
pub mod gather;
pub mod merge;
pub mod regs;

use std::sync::Arc;

use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::tensor::Dtype;

/// Kernel implementation level. Every tier computes the same function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// WebGPU core only (plus SHADER_F16 for f16 storage): runs everywhere.
    Portable,
    /// Uses subgroup operations (SUBGROUP).
    Subgroup,
    /// Cooperative matrices, f16 operands with f32 accumulation (tensor cores).
    Matrix,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Matrix, Tier::Subgroup, Tier::Portable];
    pub fn name(self) -> &'static str {
        match self {
            Tier::Portable => "portable",
            Tier::Subgroup => "subgroup",
            Tier::Matrix => "matrix",
        }
    }
    /// The next slower tier, if any.
    pub fn lower(self) -> Option<Tier> {
        match self {
            Tier::Matrix => Some(Tier::Subgroup),
            Tier::Subgroup => Some(Tier::Portable),
            Tier::Portable => None,
        }
    }
    /// Tier from the `RINGATTN_TIER` environment variable, if set.
    pub fn from_env() -> Result<Option<Tier>> {
        match std::env::var("RINGATTN_TIER") {
            Ok(s) if !s.is_empty() && s != "auto" => Ok(Some(s.parse()?)),
            _ => Ok(None),
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Tier {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "portable" => Ok(Tier::Portable),
            "subgroup" => Ok(Tier::Subgroup),
            "matrix" | "coop" | "tensor" => Ok(Tier::Matrix),
            o => Err(Error::InvalidArgument(format!("unknown tier `{o}` (portable, subgroup, matrix, auto)"))),
        }
    }
}

/// The WGSL sources, embedded at compile time.
pub mod sources {
    pub const FLASH_COMMON: &str = include_str!("../../shaders/flash_common.wgsl");
    pub const FLASH_PORTABLE: &str = include_str!("../../shaders/flash_portable.wgsl");
    pub const FLASH_SUBGROUP: &str = include_str!("../../shaders/flash_subgroup.wgsl");
    pub const FLASH_BCAST: &str = include_str!("../../shaders/flash_bcast.wgsl");
    pub const FLASH_TILED: &str = include_str!("../../shaders/flash_tiled.wgsl");
    pub const FLASH_MATRIX: &str = include_str!("../../shaders/flash_matrix.wgsl");
    pub const FLASH_REGS: &str = include_str!("../../shaders/flash_regs.wgsl");
    pub const FLASH_DECODE: &str = include_str!("../../shaders/flash_decode.wgsl");
    pub const FLASH_IO: &str = include_str!("../../shaders/flash_io.wgsl");
    pub const FLASH_O4: &str = include_str!("../../shaders/flash_o4.wgsl");
    pub const LANES_COMMON: &str = include_str!("../../shaders/lanes_common.wgsl");
    pub const MERGE_COMMON: &str = include_str!("../../shaders/merge_common.wgsl");
    pub const SIDE_COMMON: &str = include_str!("../../shaders/side_common.wgsl");
    pub const MERGE: &str = include_str!("../../shaders/merge.wgsl");
    pub const GATHER: &str = include_str!("../../shaders/gather.wgsl");
    pub const DILATED_MERGE: &str = include_str!("../../shaders/dilated_merge.wgsl");
    pub const KV_ABSMAX: &str = include_str!("../../shaders/kv_absmax.wgsl");

    /// Every (name, source) pair, for tests that translate each shader.
    pub const ALL: &[(&str, &str)] = &[
        ("flash_portable", FLASH_PORTABLE),
        ("flash_subgroup", FLASH_SUBGROUP),
        ("flash_bcast", FLASH_BCAST),
        ("flash_tiled", FLASH_TILED),
        ("flash_matrix", FLASH_MATRIX),
        ("flash_regs", FLASH_REGS),
        ("flash_decode", FLASH_DECODE),
        ("merge", MERGE),
        ("gather", GATHER),
        ("dilated_merge", DILATED_MERGE),
        ("kv_absmax", KV_ABSMAX),
    ];
}

/// Replaces every `$NAME` in `src` with its value (longest names first, so `$BK`
/// never eats into `$BKV`), then expands unroll blocks:
///
/// ```text
/// //#unroll c 4
/// acc[{c}] += x[{c}];
/// //#end
/// ```
///
/// repeats the body for c = 0..4 with `{c}` replaced by the index. Blocks nest. Some
/// drivers (Mesa llvmpipe) keep private arrays in registers only when every index is
/// a constant, and count every loop iteration against a per-invocation cap, so hot
/// inner loops over registers are unrolled here rather than left to the driver.
pub fn render(src: &str, defines: &[(&'static str, String)]) -> String {
    let mut d: Vec<&(&str, String)> = defines.iter().collect();
    d.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    // Includes first, so shared sources may use template names too.
    let mut out = include(src);
    for (name, val) in d {
        out = out.replace(&format!("${name}"), val);
    }
    debug_assert!(!out.contains('$'), "unreplaced template placeholder in shader");
    let out = substitute_blocks(&conditionals(&out, defines));
    let lines: Vec<&str> = out.lines().collect();
    let mut res = String::with_capacity(out.len());
    expand(&lines, &mut res);
    res
}

/// `//#include NAME` lines are replaced by the shared source of that name: the
/// parameter block and helpers every flash kernel uses (`flash_common`), the tensor
/// bindings of the element-wise flash kernels (`flash_io`, which includes `flash_o4`,
/// their O accessors, also used by `flash_decode`), butterfly reductions over
/// lane groups (`lanes_common`), the LSE fold
/// of the merge kernels (`merge_common`), strided view addressing (`side_common`).
pub fn include(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 2048);
    for line in src.lines() {
        match line.trim_start().strip_prefix("//#include ") {
            Some("flash_common") => out.push_str(sources::FLASH_COMMON),
            // (flash_io includes flash_o4: pasted text is scanned once more.)
            Some("flash_io") => out.push_str(&include(sources::FLASH_IO)),
            Some("flash_o4") => out.push_str(sources::FLASH_O4),
            Some("lanes_common") => out.push_str(sources::LANES_COMMON),
            Some("merge_common") => out.push_str(sources::MERGE_COMMON),
            Some("side_common") => out.push_str(sources::SIDE_COMMON),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Conditional lines: `//#if NAME` ... [`//#else`] ... `//#endif` keeps the first part
/// when the define NAME is `1` and the second otherwise (blocks nest). Variants of one
/// kernel (e.g. with and without a block mask) share one source this way.
fn conditionals(src: &str, defines: &[(&'static str, String)]) -> String {
    let on = |name: &str| defines.iter().any(|(n, v)| *n == name && v == "1");
    let mut out = String::with_capacity(src.len());
    // One entry per open block: (this branch is kept, the enclosing block is kept).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let active = |stack: &Vec<(bool, bool)>| stack.last().is_none_or(|&(here, outer)| here && outer);
    for line in src.lines() {
        let t = line.trim_start();
        if let Some(name) = t.strip_prefix("//#if ") {
            let outer = active(&stack);
            stack.push((on(name.trim()), outer));
        } else if t.starts_with("//#else") {
            if let Some(top) = stack.last_mut() {
                top.0 = !top.0;
            }
        } else if t.starts_with("//#endif") {
            stack.pop();
        } else if active(&stack) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Named blocks: lines between `//#define NAME` and `//#enddef` are removed from where
/// they stand and pasted wherever a line `//#use NAME` appears (a shader that needs the
/// same code in two places, e.g. a loop body and its epilogue, keeps one copy). A use
/// may pass parameters, `//#use NAME K=1 H=16`: `{K}` and `{H}` in the pasted lines
/// become `1` and `16` (uppercase names, apart from the unroll variables).
fn substitute_blocks(src: &str) -> String {
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    let mut rest: Vec<&str> = Vec::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in src.lines() {
        let t = line.trim_start();
        if let Some(name) = t.strip_prefix("//#define ") {
            current = Some((name.trim().to_string(), Vec::new()));
        } else if t.starts_with("//#enddef") {
            if let Some(b) = current.take() {
                blocks.push(b);
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push(line);
        } else {
            rest.push(line);
        }
    }
    // Blocks may use other blocks: paste until no known `//#use` is left (bounded, so a
    // block that uses itself stops).
    let mut lines: Vec<String> = rest.iter().map(|l| l.to_string()).collect();
    for _ in 0..8 {
        let mut pasted = false;
        let mut next = Vec::with_capacity(lines.len());
        for line in &lines {
            let mut words = line.trim_start().strip_prefix("//#use ").map(str::split_whitespace).into_iter().flatten();
            let body = words.next().and_then(|name| blocks.iter().find(|(n, _)| n == name));
            match body {
                Some((_, body)) => {
                    let params: Vec<(String, &str)> = words.filter_map(|w| w.split_once('=')).map(|(k, v)| (format!("{{{k}}}"), v)).collect();
                    next.extend(body.iter().map(|l| params.iter().fold(l.to_string(), |l, (k, v)| l.replace(k.as_str(), v))));
                    pasted = true;
                }
                None => next.push(line.clone()),
            }
        }
        lines = next;
        if !pasted {
            break;
        }
    }
    let mut out = String::with_capacity(src.len() * 2);
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn expand(lines: &[&str], out: &mut String) {
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        if let Some(rest) = t.strip_prefix("//#unroll ") {
            let mut parts = rest.split_whitespace();
            let var = parts.next().unwrap_or("i").to_string();
            let count: usize = parts.next().and_then(|c| c.trim_end_matches('u').parse().ok()).unwrap_or(0);
            // Find the matching //#end.
            let mut depth = 1;
            let mut j = i + 1;
            while j < lines.len() {
                let tj = lines[j].trim_start();
                if tj.starts_with("//#unroll ") {
                    depth += 1;
                } else if tj.starts_with("//#end") {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                j += 1;
            }
            let body = &lines[i + 1..j.min(lines.len())];
            let pat = format!("{{{var}}}");
            for n in 0..count {
                let replaced: Vec<String> = body.iter().map(|l| l.replace(&pat, &n.to_string())).collect();
                let refs: Vec<&str> = replaced.iter().map(|s| s.as_str()).collect();
                expand(&refs, out);
            }
            i = j + 1;
        } else {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
        }
    }
}

/// `enable f16;` when any of the dtypes is f16.
pub fn enable_line(dtypes: &[Dtype]) -> String {
    if dtypes.contains(&Dtype::F16) {
        "enable f16;".into()
    } else {
        String::new()
    }
}

/// Buffer binding kinds of an explicit layout.
#[derive(Clone, Copy)]
pub(crate) enum Slot {
    Uniform,
    Read,
    ReadWrite,
}

/// Creates an explicit bind group layout and a pipeline layout from slot kinds,
/// binding i = slots[i].
pub(crate) fn make_layout(ctx: &GpuContext, label: &str, slots: &[Slot]) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
        .iter()
        .enumerate()
        .map(|(i, s)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match s {
                    Slot::Uniform => wgpu::BufferBindingType::Uniform,
                    Slot::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    Slot::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    let bgl = ctx.device().create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(label), entries: &entries });
    let pl = ctx.device().create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(&bgl)],
        immediate_size: 0,
    });
    (bgl, pl)
}

/// A range of a buffer bound to a shader, plus the element offset the shader adds
/// because the binding start had to be rounded down to the offset alignment.
pub(crate) struct Window<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u64,
    pub size: u64,
    pub elem_off: u32,
}

/// How many batch elements of `per_b` bytes one storage binding holds (at least 1,
/// leaving room for the offset alignment), or an error naming `what` when a single
/// element is over `max_storage_buffer_binding_size`.
pub(crate) fn batches_per_binding(ctx: &GpuContext, what: &str, per_b: u64) -> Result<usize> {
    let lim = &ctx.capabilities().limits;
    let align = lim.min_storage_buffer_offset_alignment as u64;
    let max_bind = lim.max_storage_buffer_binding_size;
    if per_b + align > max_bind {
        return Err(Error::LimitExceeded {
            what: format!("one batch element of {what} ({per_b} bytes)"),
            limit: "max_storage_buffer_binding_size",
            needed: per_b + align,
            allowed: max_bind,
        });
    }
    Ok(((max_bind - align) / per_b.max(1)).max(1) as usize)
}

/// Binds bytes [start, start+len) of `buffer`, aligning the binding start down to
/// `align` and returning the element offset to add in the shader.
pub(crate) fn window<'a>(buffer: &'a wgpu::Buffer, start: u64, len: u64, elem: u64, align: u64) -> Window<'a> {
    let offset = start / align * align;
    let size = (start + len - offset).div_ceil(4) * 4;
    let size = size.min(buffer.size() - offset);
    Window { buffer, offset, size, elem_off: ((start - offset) / elem) as u32 }
}

impl Window<'_> {
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: self.buffer, offset: self.offset, size: std::num::NonZeroU64::new(self.size) })
    }
}

/// A bind group whose binding i is `resources[i]`, for layouts whose slot i is binding
/// i (as [`make_layout`] makes them).
pub(crate) fn bind_in_order(
    ctx: &GpuContext,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    resources: &[wgpu::BindingResource<'_>],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry<'_>> =
        resources.iter().enumerate().map(|(i, r)| wgpu::BindGroupEntry { binding: i as u32, resource: r.clone() }).collect();
    ctx.device().create_bind_group(&wgpu::BindGroupDescriptor { label: Some(label), layout, entries: &entries })
}

/// Cache of layouts keyed by name (one per context).
pub(crate) type LayoutPair = Arc<(wgpu::BindGroupLayout, wgpu::PipelineLayout)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_blocks_paste_where_used_and_may_use_each_other() {
        let src = "a\n//#define INNER\nx = {i};\n//#enddef\n//#define OUTER\n{\n//#use INNER\n}\n//#enddef\n//#use OUTER\nb\n//#use INNER\n";
        let out = substitute_blocks(src);
        assert_eq!(out, "a\n{\nx = {i};\n}\nb\nx = {i};\n");
        // A block that uses itself stops after a bounded number of pastes.
        let out = substitute_blocks("//#define SELF\ny\n//#use SELF\n//#enddef\n//#use SELF\n");
        assert!(out.lines().filter(|l| *l == "y").count() <= 9, "{out}");
    }

    #[test]
    fn named_blocks_take_parameters() {
        // Each use pastes its own values; unroll variables ({i}) are left alone.
        let src = "//#define ROUND\ns[{i}] += x >> {K}u; // {H}\n//#enddef\n//#use ROUND K=1 H=16\n//#use ROUND K=2 H=8\n//#use ROUND\n";
        assert_eq!(substitute_blocks(src), "s[{i}] += x >> 1u; // 16\ns[{i}] += x >> 2u; // 8\ns[{i}] += x >> {K}u; // {H}\n");
    }

    #[test]
    fn split_matrix_kernel_pastes_its_loads() {
        use crate::kernels::flash::{default_matrix_shape, matrix_config_for, matrix_defines};
        use crate::tensor::Dtype;
        let cfg = matrix_config_for(Dtype::F32, 64, default_matrix_shape(Dtype::F32, 64), 32, 49152, 1024).expect("fits");
        let mut defines = matrix_defines(Dtype::F32, 64, &cfg);
        defines.push(("SPARSE", "0".into()));
        defines.push(("ROLLN", "0".into()));
        defines.push(("PIPE", "0".into()));
        defines.push(("WIDE", "0".into()));
        defines.push(("UNPACK", "0".into()));
        let src = render(sources::FLASH_MATRIX, &defines);
        assert!(!src.contains("//#use"), "unexpanded block");
        assert!(src.contains("let tl = t + BK;") && src.contains("kr0 = vec4<f32>(k["), "register loads missing");
        assert!(src.contains("array<f32>"));
    }
}
