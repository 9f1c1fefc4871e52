//! Host side of the WGSL kernels: the shader table, the template step, shared bind
//! group layouts and the tier choice.

pub mod flash;
pub mod merge;

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
    pub const FLASH_PORTABLE: &str = include_str!("../../shaders/flash_portable.wgsl");
    pub const MERGE: &str = include_str!("../../shaders/merge.wgsl");

    /// Every (name, source) pair, for tests that translate each shader.
    pub const ALL: &[(&str, &str)] = &[("flash_portable", FLASH_PORTABLE), ("merge", MERGE)];
}

/// Replaces every `$NAME` in `src` with its value (longest names first, so `$BK`
/// never eats into `$BKV`). Fails if a `$` placeholder is left over.
pub fn render(src: &str, defines: &[(&'static str, String)]) -> String {
    let mut d: Vec<&(&str, String)> = defines.iter().collect();
    d.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut out = src.to_string();
    for (name, val) in d {
        out = out.replace(&format!("${name}"), val);
    }
    debug_assert!(!out.contains('$'), "unreplaced template placeholder in shader");
    out
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
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: self.buffer,
            offset: self.offset,
            size: std::num::NonZeroU64::new(self.size),
        })
    }
}

pub(crate) fn uniform_buffer(ctx: &GpuContext, label: &str, bytes: &[u8]) -> wgpu::Buffer {
    use wgpu::util::DeviceExt;
    ctx.device().create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents: bytes, usage: wgpu::BufferUsages::UNIFORM })
}

/// Cache of layouts keyed by name (one per context).
pub(crate) type LayoutPair = Arc<(wgpu::BindGroupLayout, wgpu::PipelineLayout)>;
