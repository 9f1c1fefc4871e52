//! # ringattn
//!
//! Portable long-sequence attention on wgpu: exact tiled (flash-style) attention in
//! WGSL compute shaders, on any adapter wgpu supports (Vulkan, Metal, DX12, GL,
//! WebGPU), checked against an f64 CPU reference.
//!
//! * [`GpuContext`]: the adapter/device/queue, their capabilities and a pipeline cache;
//!   created by the library or wrapped around an application's own device.
//! * [`GpuTensor`]: a (batch, seq, heads, head_dim) tensor in a wgpu buffer, f32 or f16.
//! * [`Attention`]: forward attention (O and LSE), causal or dense, GQA, any length;
//!   decode calls (a few new tokens against a long K/V cache) pack a K/V head's query
//!   heads into one workgroup, stream K/V into registers where the adapter has subgroups
//!   (`flash_decode.wgsl`, [`kernels::flash::decode_stream_for`]) and split their keys
//!   into parts run in one launch ([`kernels::flash::gqa_fold`],
//!   [`kernels::flash::decode_key_splits`]).
//! * [`mask`]: block-sparse masks (causal, window, global, dilated, random, custom)
//!   whose skipped blocks cost nothing ([`Attention::forward_masked`]).
//! * [`kernels::merge`]: the LSE merge that ring and sparse attention build on.
//! * [`DilatedAttention`]: LongNet dilated attention (head groups or mixture), exact.
//! * [`order`]: Hilbert / Z-order token orders, GPU permutations and [`OrderedAttention`].
//! * [`RingAttention`]: one sequence over several devices (ring attention, K/V rotated
//!   through host memory), equal to single-device attention.
//! * [`presets`]: the replaced system's variants (Standard, Distributed, Hilbert, BlockSparse) as named
//!   combinations of mask, order and placement.
//! * [`suite`], [`report`]: benchmark suites with JSON/CSV results, Markdown + SVG reports.
//! * [`mod@reference`]: the f64 CPU reference.
//!
//! Layout is (batch, seq, heads, head_dim), row-major; LSE is f32 (batch, heads, seq_q).
//! Fully masked query rows give O = 0 and LSE = -inf, never NaN.

pub mod attention;
pub mod bench;
pub mod cli;
pub mod context;
pub mod dilated;
pub(crate) mod dma;
pub mod error;
pub mod hostmem;
pub mod kernels;
pub mod mask;
pub mod npy;
pub mod order;
pub mod presets;
pub mod reference;
pub mod report;
pub mod ring;
pub mod suite;
pub mod tensor;
pub mod timing;
pub mod tuning;

pub use attention::{Attention, AttentionOptions, AttentionOutput};
pub use context::{Capabilities, GpuContext};
pub use dilated::{DilatedAttention, DilatedMode, DilatedOptions, Dilation};
pub use error::{Error, Result};
pub use kernels::Tier;
pub use mask::{BlockMask, GpuBlockMask, Pattern};
pub use order::{Order, OrderedAttention, Permutation};
pub use ring::{Placement, RingAttention, RingGpuOutput, RingOptions, RingOutput, RingShard, RingShardOutput, RingStats};
pub use tensor::{Dtype, GpuTensor, LseBuffer, Shape};

/// Head dimensions the kernels are built for.
pub const SUPPORTED_HEAD_DIMS: &[usize] = &[32, 64, 80, 96, 128, 256];
