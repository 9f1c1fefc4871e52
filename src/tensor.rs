//! Shapes, dtypes and GPU tensors.
//!
//! Layout is (batch, seq, heads, head_dim), row-major, as in the system ringattn
//! replaces. The log-sum-exp output is f32 with layout (batch, heads, seq_q).

use std::sync::Arc;

use crate::context::GpuContext;
use crate::error::{Error, Result};
use half::f16;

/// Element type of Q, K, V and O. Accumulation is always f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    F32,
    F16,
}

impl Dtype {
    /// `values` as a device holding this dtype sees them (f16 rounds; f32 unchanged):
    /// what the f64 reference of a check must be given.
    pub fn round(self, values: Vec<f32>) -> Vec<f32> {
        match self {
            Dtype::F32 => values,
            Dtype::F16 => values.into_iter().map(|v| half::f16::from_f32(v).to_f32()).collect(),
        }
    }

    /// Bytes per element.
    pub const fn size(self) -> u64 {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 => 2,
        }
    }
    /// WGSL scalar type name.
    pub const fn wgsl(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
        }
    }
    pub const fn name(self) -> &'static str {
        self.wgsl()
    }
}

impl std::str::FromStr for Dtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" | "fp32" => Ok(Dtype::F32),
            "f16" | "float16" | "fp16" | "half" => Ok(Dtype::F16),
            other => Err(Error::InvalidArgument(format!("unknown dtype `{other}` (use f32 or f16)"))),
        }
    }
}

/// The shape of one attention problem.
///
/// Q is (batch, seq_q, heads, head_dim); K and V are (batch, seq_k, kv_heads, head_dim);
/// O is shaped like Q; LSE is (batch, heads, seq_q).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    pub batch: usize,
    pub seq_q: usize,
    pub seq_k: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl Shape {
    /// Self-attention shape: seq_q = seq_k, kv_heads = heads.
    pub fn new(batch: usize, seq: usize, heads: usize, head_dim: usize) -> Self {
        Shape { batch, seq_q: seq, seq_k: seq, heads, kv_heads: heads, head_dim }
    }
    pub fn with_seq_k(mut self, seq_k: usize) -> Self {
        self.seq_k = seq_k;
        self
    }
    pub fn with_kv_heads(mut self, kv_heads: usize) -> Self {
        self.kv_heads = kv_heads;
        self
    }
    pub fn q_dims(&self) -> [usize; 4] {
        [self.batch, self.seq_q, self.heads, self.head_dim]
    }
    pub fn kv_dims(&self) -> [usize; 4] {
        [self.batch, self.seq_k, self.kv_heads, self.head_dim]
    }
    pub fn lse_dims(&self) -> [usize; 3] {
        [self.batch, self.heads, self.seq_q]
    }
    pub fn q_len(&self) -> usize {
        self.q_dims().iter().product()
    }
    pub fn kv_len(&self) -> usize {
        self.kv_dims().iter().product()
    }
    pub fn lse_len(&self) -> usize {
        self.lse_dims().iter().product()
    }
    /// Query heads per key/value head.
    pub fn group(&self) -> usize {
        self.heads / self.kv_heads.max(1)
    }

    /// Checks every invariant that does not depend on the adapter.
    pub fn validate(&self) -> Result<()> {
        for (dim, v) in [
            ("batch", self.batch),
            ("seq_q", self.seq_q),
            ("seq_k", self.seq_k),
            ("heads", self.heads),
            ("kv_heads", self.kv_heads),
            ("head_dim", self.head_dim),
        ] {
            if v == 0 {
                return Err(Error::ZeroDim { what: "attention shape", dim });
            }
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(Error::HeadsNotMultiple { heads: self.heads, kv_heads: self.kv_heads });
        }
        if !crate::SUPPORTED_HEAD_DIMS.contains(&self.head_dim) {
            return Err(Error::UnsupportedHeadDim { got: self.head_dim, supported: crate::SUPPORTED_HEAD_DIMS });
        }
        // Index arithmetic in the shaders is u32; keep every element index in range.
        let biggest = self.q_len().max(self.kv_len()) as u64;
        if biggest > u32::MAX as u64 / 2 {
            return Err(Error::LimitExceeded {
                what: format!("a tensor of {biggest} elements"),
                limit: "u32 element indexing (2^31 elements per tensor)",
                needed: biggest,
                allowed: u32::MAX as u64 / 2,
            });
        }
        Ok(())
    }

    /// Multiply-add FLOPs of the dense forward pass: 4 * B * H * Nq * Nk * D.
    pub fn flops(&self, causal: bool) -> f64 {
        let f = 4.0 * (self.batch * self.heads) as f64 * self.seq_q as f64 * self.seq_k as f64 * self.head_dim as f64;
        if causal {
            f / 2.0
        } else {
            f
        }
    }
}

/// A 4-D tensor living in a wgpu buffer: (batch, seq, heads, head_dim), row-major.
///
/// The buffer may be the application's own (see [`GpuTensor::from_buffer`]); it must
/// have `STORAGE` usage and be at least `numel * dtype.size()` bytes long.
#[derive(Clone, Debug)]
pub struct GpuTensor {
    buffer: Arc<wgpu::Buffer>,
    dims: [usize; 4],
    dtype: Dtype,
}

/// Buffer usages every tensor the library allocates has.
pub(crate) const TENSOR_USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

impl GpuTensor {
    /// Wraps an existing buffer. Fails if the buffer is too small or not a storage buffer.
    pub fn from_buffer(buffer: Arc<wgpu::Buffer>, dims: [usize; 4], dtype: Dtype) -> Result<Self> {
        check_dims("tensor", &dims)?;
        let need = dims.iter().product::<usize>() as u64 * dtype.size();
        if buffer.size() < need {
            return Err(Error::WrongSize { what: "tensor buffer", expected: need, got: buffer.size(), unit: "bytes" });
        }
        if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
            return Err(Error::InvalidArgument("tensor buffer needs wgpu::BufferUsages::STORAGE".into()));
        }
        Ok(GpuTensor { buffer, dims, dtype })
    }

    /// Allocates an uninitialised tensor.
    pub fn empty(ctx: &GpuContext, dims: [usize; 4], dtype: Dtype) -> Result<Self> {
        check_dims("tensor", &dims)?;
        ctx.check_dtype(dtype, "a tensor")?;
        let bytes = dims.iter().product::<usize>() as u64 * dtype.size();
        let buffer = ctx.create_buffer("ringattn tensor", bytes, TENSOR_USAGE)?;
        Ok(GpuTensor { buffer: Arc::new(buffer), dims, dtype })
    }

    /// Uploads f32 host data. With `dtype = F16` the values are rounded to f16 on upload.
    pub fn from_f32(ctx: &GpuContext, data: &[f32], dims: [usize; 4], dtype: Dtype) -> Result<Self> {
        let t = Self::empty(ctx, dims, dtype)?;
        t.write_f32(ctx, data)?;
        Ok(t)
    }

    /// Uploads f16 host data into an f16 tensor.
    pub fn from_f16(ctx: &GpuContext, data: &[f16], dims: [usize; 4]) -> Result<Self> {
        let t = Self::empty(ctx, dims, Dtype::F16)?;
        t.write_f16(ctx, data)?;
        Ok(t)
    }

    /// Overwrites the tensor with f32 host data (converted to the tensor's dtype).
    pub fn write_f32(&self, ctx: &GpuContext, data: &[f32]) -> Result<()> {
        self.check_len(data.len())?;
        match self.dtype {
            Dtype::F32 => ctx.write_bytes(&self.buffer, 0, bytemuck::cast_slice(data)),
            Dtype::F16 => {
                let h: Vec<f16> = data.iter().map(|&x| f16::from_f32(x)).collect();
                ctx.write_bytes(&self.buffer, 0, bytemuck::cast_slice(&h))
            }
        }
    }

    /// Overwrites an f16 tensor with f16 host data.
    pub fn write_f16(&self, ctx: &GpuContext, data: &[f16]) -> Result<()> {
        self.check_len(data.len())?;
        if self.dtype != Dtype::F16 {
            return Err(Error::DtypeMismatch { what: "host data", expected: self.dtype, got: Dtype::F16 });
        }
        ctx.write_bytes(&self.buffer, 0, bytemuck::cast_slice(data))
    }

    /// Downloads the tensor as f32 (f16 values are widened exactly).
    pub fn to_f32_vec(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        let bytes = ctx.read_bytes(&self.buffer, 0, self.size_bytes())?;
        Ok(match self.dtype {
            Dtype::F32 => bytemuck::pod_collect_to_vec(&bytes),
            Dtype::F16 => bytemuck::pod_collect_to_vec::<u8, f16>(&bytes).iter().map(|x| x.to_f32()).collect(),
        })
    }

    /// Downloads an f16 tensor as f16.
    pub fn to_f16_vec(&self, ctx: &GpuContext) -> Result<Vec<f16>> {
        if self.dtype != Dtype::F16 {
            return Err(Error::DtypeMismatch { what: "download", expected: Dtype::F16, got: self.dtype });
        }
        let bytes = ctx.read_bytes(&self.buffer, 0, self.size_bytes())?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Fills the tensor with NaN (tests use this so unwritten elements show).
    pub fn poison(&self, ctx: &GpuContext) -> Result<()> {
        self.write_f32(ctx, &vec![f32::NAN; self.numel()])
    }

    pub fn buffer(&self) -> &Arc<wgpu::Buffer> {
        &self.buffer
    }
    pub fn dims(&self) -> [usize; 4] {
        self.dims
    }
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }
    pub fn size_bytes(&self) -> u64 {
        self.numel() as u64 * self.dtype.size()
    }
    fn check_len(&self, len: usize) -> Result<()> {
        if len != self.numel() {
            return Err(Error::WrongSize { what: "host data", expected: self.numel() as u64, got: len as u64, unit: "elements" });
        }
        Ok(())
    }
}

pub(crate) fn check_dims(what: &'static str, dims: &[usize; 4]) -> Result<()> {
    for (v, dim) in dims.iter().zip(["batch", "seq", "heads", "head_dim"]) {
        if *v == 0 {
            return Err(Error::ZeroDim { what, dim });
        }
    }
    Ok(())
}

/// The f32 log-sum-exp output, (batch, heads, seq_q), natural log.
///
/// Fully masked query rows have LSE = -inf (and O = 0).
#[derive(Clone, Debug)]
pub struct LseBuffer {
    buffer: Arc<wgpu::Buffer>,
    dims: [usize; 3],
}

impl LseBuffer {
    pub fn empty(ctx: &GpuContext, dims: [usize; 3]) -> Result<Self> {
        for (v, dim) in dims.iter().zip(["batch", "heads", "seq_q"]) {
            if *v == 0 {
                return Err(Error::ZeroDim { what: "lse", dim });
            }
        }
        let bytes = dims.iter().product::<usize>() as u64 * 4;
        let buffer = ctx.create_buffer("ringattn lse", bytes.max(4), TENSOR_USAGE)?;
        Ok(LseBuffer { buffer: Arc::new(buffer), dims })
    }
    /// Wraps an application-owned f32 buffer of at least batch*heads*seq_q*4 bytes.
    pub fn from_buffer(buffer: Arc<wgpu::Buffer>, dims: [usize; 3]) -> Result<Self> {
        let need = dims.iter().product::<usize>() as u64 * 4;
        if buffer.size() < need {
            return Err(Error::WrongSize { what: "lse buffer", expected: need, got: buffer.size(), unit: "bytes" });
        }
        if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
            return Err(Error::InvalidArgument("lse buffer needs wgpu::BufferUsages::STORAGE".into()));
        }
        Ok(LseBuffer { buffer, dims })
    }
    pub fn from_f32(ctx: &GpuContext, data: &[f32], dims: [usize; 3]) -> Result<Self> {
        let l = Self::empty(ctx, dims)?;
        if data.len() != l.numel() {
            return Err(Error::WrongSize { what: "lse host data", expected: l.numel() as u64, got: data.len() as u64, unit: "elements" });
        }
        ctx.write_bytes(&l.buffer, 0, bytemuck::cast_slice(data))?;
        Ok(l)
    }
    pub fn to_vec(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        let bytes = ctx.read_bytes(&self.buffer, 0, self.numel() as u64 * 4)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
    pub fn poison(&self, ctx: &GpuContext) -> Result<()> {
        ctx.write_bytes(&self.buffer, 0, bytemuck::cast_slice(&vec![f32::NAN; self.numel()]))
    }
    pub fn buffer(&self) -> &Arc<wgpu::Buffer> {
        &self.buffer
    }
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }
}
