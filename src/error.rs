//! One error type for the whole crate.
//!
//! Every invalid input is reported as a value; the library never panics on user
//! input and never lets wgpu's validation layer reach its panic handler.

use crate::tensor::Dtype;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in ringattn.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter matched the request (backend, `RINGATTN_ADAPTER`, ...).
    #[error("no GPU adapter found{}", if .0.is_empty() { String::new() } else { format!(": {}", .0) })]
    NoAdapter(String),

    /// The adapter refused to create a device with the features/limits we asked for.
    #[error("could not create a device on adapter `{adapter}`: {reason}")]
    RequestDevice { adapter: String, reason: String },

    /// A tensor has the wrong rank or a dimension that disagrees with another tensor.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    ShapeMismatch { what: &'static str, expected: String, got: String },

    /// A dimension is zero.
    #[error("dimension `{dim}` of {what} is zero; every dimension must be at least 1")]
    ZeroDim { what: &'static str, dim: &'static str },

    /// The head dimension is not one the kernels are built for.
    #[error("unsupported head_dim {got}: supported are {supported:?}")]
    UnsupportedHeadDim { got: usize, supported: &'static [usize] },

    /// Query heads are not a multiple of key/value heads (GQA/MQA needs that).
    #[error("heads ({heads}) must be a multiple of kv_heads ({kv_heads})")]
    HeadsNotMultiple { heads: usize, kv_heads: usize },

    /// Host data or a buffer is not the size the shape implies.
    #[error("wrong size for {what}: expected {expected} {unit}, got {got}")]
    WrongSize { what: &'static str, expected: u64, got: u64, unit: &'static str },

    /// Tensors of one call have different dtypes.
    #[error("dtype mismatch: {what} is {got:?}, expected {expected:?}")]
    DtypeMismatch { what: &'static str, expected: Dtype, got: Dtype },

    /// The adapter lacks a feature the request needs (e.g. f16 without SHADER_F16).
    #[error("adapter `{adapter}` lacks {feature}, which {needed_for} needs")]
    MissingFeature { adapter: String, feature: &'static str, needed_for: String },

    /// A size goes over an adapter limit and cannot be split further.
    #[error("{what} needs {needed} but the adapter limit `{limit}` is {allowed}")]
    LimitExceeded { what: String, limit: &'static str, needed: u64, allowed: u64 },

    /// An invalid option value (scale not finite, bad tier name, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// WGSL failed to compile or validate (a bug in ringattn or the driver).
    #[error("shader `{name}` failed to build: {message}")]
    Shader { name: String, message: String },

    /// wgpu reported an error while the library was using the device.
    #[error("GPU error on `{adapter}`: {message}")]
    Gpu { adapter: String, message: String },

    /// The device ran out of memory (a buffer or a dispatch did not fit).
    #[error("out of memory on `{adapter}`: {message}")]
    OutOfMemory { adapter: String, message: String },

    /// The device was lost (driver reset, removed GPU, ...).
    #[error("device `{adapter}` was lost: {message}")]
    DeviceLost { adapter: String, message: String },

    /// Waiting for the GPU took longer than allowed.
    #[error("timed out after {seconds:.1} s waiting for `{adapter}`")]
    Timeout { adapter: String, seconds: f64 },

    /// A device of a ring failed at a step; `source` is what it reported. The ring
    /// returns no output when any device fails.
    #[error("ring device {device} failed at step {step}: {source}")]
    Ring { device: usize, step: usize, source: Box<Error> },

    /// Reading or writing a file (the CLI's .npy files).
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}
