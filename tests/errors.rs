//! Every invalid input comes back as the specific `ringattn::Error` variant, never a
//! panic (devices created here have wgpu's default uncaptured-error handler, which
//! panics, so an error the library lets escape its error scopes fails the test too).
//!
//! Tests that need environment variables run in a child process (this same test
//! binary, re-executed with the variable set) so the parent never calls `set_var`
//! while other test threads (and the Vulkan/GL drivers) read the environment.

mod common;

use std::sync::Arc;

use ringattn::kernels::merge;
use ringattn::{reference, Attention, AttentionOptions, Dtype, Error, GpuContext, GpuTensor, LseBuffer, Shape, Tier};

/// Runs this file's tests one at a time. Every test opens its own instance, adapter and
/// device (and drops them); on the H200 (NVIDIA 580, Vulkan) two test threads doing so
/// at once hung in the driver on 2026-11-28 even with the library's own setup
/// serialized (`context::DRIVER_SETUP`: it covers creation, not the devices' teardown
/// or an application's `request_device`). One at a time, the file takes a few seconds.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The preferred adapter (never reads RINGATTN_ADAPTER).
fn adapter() -> wgpu::Adapter {
    let mut adapters = ringattn::context::enumerate_adapters();
    adapters.retain(|a| a.get_info().backend != wgpu::Backend::Noop);
    ringattn::context::sort_adapters(&mut adapters);
    adapters.into_iter().next().expect("no adapter: install mesa-vulkan-drivers")
}

/// A library-created context on the preferred adapter (without reading the environment).
fn ctx() -> GpuContext {
    GpuContext::from_adapter(adapter()).expect("device on the preferred adapter")
}

/// An application-owned device with exactly these features and limits, wrapped.
fn app_ctx(features: wgpu::Features, tweak: impl FnOnce(&mut wgpu::Limits)) -> GpuContext {
    let a = adapter();
    let mut limits = ringattn::context::needed_limits(&a.limits());
    tweak(&mut limits);
    let desc = wgpu::DeviceDescriptor {
        label: Some("ringattn errors test"),
        required_features: features,
        required_limits: limits,
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    };
    let (device, queue) = pollster::block_on(a.request_device(&desc)).expect("request_device");
    GpuContext::from_device(Some(&a), device, queue)
}

fn t(ctx: &GpuContext, dims: [usize; 4]) -> GpuTensor {
    let n: usize = dims.iter().product();
    GpuTensor::from_f32(ctx, &reference::random_vec(n, n as u64), dims, Dtype::F32).unwrap()
}

/// An f16 tensor wrapped around a raw buffer (works even where the device lacks f16).
fn raw_f16(ctx: &GpuContext, dims: [usize; 4]) -> GpuTensor {
    let bytes = dims.iter().product::<usize>() as u64 * 2;
    let buf = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("raw f16"),
        size: bytes.div_ceil(4) * 4,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    GpuTensor::from_buffer(Arc::new(buf), dims, Dtype::F16).unwrap()
}

fn dense(ctx: &GpuContext) -> Attention<'_> {
    Attention::new(ctx, AttentionOptions { tier: Some(Tier::Portable), ..Default::default() })
}

/// Encodes into a fresh encoder (the encoder is dropped, nothing is submitted).
fn encode(
    ctx: &GpuContext,
    attn: &Attention<'_>,
    q: &GpuTensor,
    k: &GpuTensor,
    v: &GpuTensor,
    o: &GpuTensor,
    lse: &LseBuffer,
) -> ringattn::Result<()> {
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    attn.encode(&mut enc, q, k, v, o, lse, None)
}

macro_rules! assert_err {
    ($e:expr, $pat:pat $(if $guard:expr)?) => {
        match $e {
            Err(e @ $pat) $(if $guard)? => eprintln!("ok: {e}"),
            Err(e) => panic!("expected {}, got {e:?}", stringify!($pat $(if $guard)?)),
            Ok(_) => panic!("expected {}, got Ok", stringify!($pat)),
        }
    };
}

// ---------------------------------------------------------------- shape mismatches

#[test]
fn k_head_dim_differs_from_q() {
    let _serial = serial();
    let c = ctx();
    let (q, k, v) = (t(&c, [1, 8, 2, 64]), t(&c, [1, 8, 2, 32]), t(&c, [1, 8, 2, 32]));
    assert_err!(dense(&c).forward(&q, &k, &v), Error::ShapeMismatch { what: "k", .. });
    assert_err!(dense(&c).alloc_output(&q, &k, &v), Error::ShapeMismatch { what: "k", .. });
}

#[test]
fn v_dims_differ_from_k() {
    let _serial = serial();
    let c = ctx();
    let (q, k) = (t(&c, [1, 8, 2, 64]), t(&c, [1, 8, 2, 64]));
    for vd in [[1, 9, 2, 64], [1, 8, 1, 64], [1, 8, 2, 32], [2, 8, 2, 64]] {
        let v = t(&c, vd);
        assert_err!(dense(&c).forward(&q, &k, &v), Error::ShapeMismatch { what: "v", .. });
    }
}

#[test]
fn batch_differs() {
    let _serial = serial();
    let c = ctx();
    let (q, k, v) = (t(&c, [2, 8, 2, 64]), t(&c, [1, 8, 2, 64]), t(&c, [1, 8, 2, 64]));
    assert_err!(dense(&c).forward(&q, &k, &v), Error::ShapeMismatch { what: "k", .. });
}

#[test]
fn output_dims_wrong() {
    let _serial = serial();
    let c = ctx();
    let (q, k, v) = (t(&c, [1, 8, 2, 64]), t(&c, [1, 5, 2, 64]), t(&c, [1, 5, 2, 64]));
    let a = dense(&c);
    let good = a.alloc_output(&q, &k, &v).unwrap();
    let bad_o = GpuTensor::empty(&c, [1, 5, 2, 64], Dtype::F32).unwrap();
    let bad_lse = LseBuffer::empty(&c, [1, 8, 2]).unwrap(); // (b, n, h) instead of (b, h, n)
    assert_err!(a.forward_into(&q, &k, &v, &bad_o, &good.lse), Error::ShapeMismatch { what: "o", .. });
    assert_err!(a.forward_into(&q, &k, &v, &good.o, &bad_lse), Error::ShapeMismatch { what: "lse", .. });
    assert_err!(encode(&c, &a, &q, &k, &v, &bad_o, &good.lse), Error::ShapeMismatch { what: "o", .. });
    assert_err!(encode(&c, &a, &q, &k, &v, &good.o, &bad_lse), Error::ShapeMismatch { what: "lse", .. });
    // The good buffers still work afterwards.
    a.forward_into(&q, &k, &v, &good.o, &good.lse).unwrap();
    c.wait().unwrap();
    c.check_alive().unwrap();
}

// ---------------------------------------------------------------- zero dims

#[test]
fn zero_dim_tensor() {
    let _serial = serial();
    let c = ctx();
    for i in 0..4 {
        let mut dims = [1, 8, 2, 64];
        dims[i] = 0;
        assert_err!(GpuTensor::empty(&c, dims, Dtype::F32), Error::ZeroDim { .. });
        assert_err!(GpuTensor::from_f32(&c, &[], dims, Dtype::F32), Error::ZeroDim { .. });
        let buf = Arc::new(c.device().create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: 4096,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        }));
        assert_err!(GpuTensor::from_buffer(buf, dims, Dtype::F32), Error::ZeroDim { .. });
    }
}

#[test]
fn zero_dim_shape() {
    let _serial = serial();
    let base = Shape::new(1, 8, 2, 64);
    base.validate().unwrap();
    let mut cases = Vec::new();
    for dim in ["batch", "seq_q", "seq_k", "heads", "kv_heads", "head_dim"] {
        let mut s = base;
        match dim {
            "batch" => s.batch = 0,
            "seq_q" => s.seq_q = 0,
            "seq_k" => s.seq_k = 0,
            "heads" => s.heads = 0,
            "kv_heads" => s.kv_heads = 0,
            _ => s.head_dim = 0,
        }
        cases.push((dim, s));
    }
    for (dim, s) in cases {
        match s.validate() {
            Err(Error::ZeroDim { dim: d, .. }) => assert_eq!(d, dim),
            other => panic!("{dim} = 0: expected ZeroDim, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------- unsupported values

#[test]
fn unsupported_head_dim() {
    let _serial = serial();
    let c = ctx();
    let (q, k, v) = (t(&c, [1, 8, 2, 48]), t(&c, [1, 8, 2, 48]), t(&c, [1, 8, 2, 48]));
    assert_err!(dense(&c).forward(&q, &k, &v), Error::UnsupportedHeadDim { got: 48, .. });
    for d in [1, 16, 48, 100, 512] {
        assert_err!(Shape::new(1, 4, 1, d).validate(), Error::UnsupportedHeadDim { .. });
    }
}

#[test]
fn heads_not_multiple_of_kv_heads() {
    let _serial = serial();
    let c = ctx();
    let (q, k, v) = (t(&c, [1, 8, 6, 32]), t(&c, [1, 8, 4, 32]), t(&c, [1, 8, 4, 32]));
    assert_err!(dense(&c).forward(&q, &k, &v), Error::HeadsNotMultiple { heads: 6, kv_heads: 4 });
    assert_err!(Shape::new(1, 8, 6, 32).with_kv_heads(4).validate(), Error::HeadsNotMultiple { heads: 6, kv_heads: 4 });
    // More kv heads than heads is not a multiple either.
    assert_err!(Shape::new(1, 8, 2, 32).with_kv_heads(4).validate(), Error::HeadsNotMultiple { .. });
}

// ---------------------------------------------------------------- sizes

#[test]
fn host_data_wrong_length() {
    let _serial = serial();
    let c = ctx();
    let x = GpuTensor::empty(&c, [1, 4, 2, 32], Dtype::F32).unwrap();
    let n = x.numel();
    assert_err!(x.write_f32(&c, &vec![0.0; n - 1]), Error::WrongSize { expected, got, .. } if expected == n as u64 && got == n as u64 - 1);
    assert_err!(x.write_f32(&c, &vec![0.0; n + 1]), Error::WrongSize { .. });
    assert_err!(x.write_f32(&c, &[]), Error::WrongSize { .. });
    assert_err!(GpuTensor::from_f32(&c, &vec![0.0; n + 3], [1, 4, 2, 32], Dtype::F32), Error::WrongSize { .. });
    assert_err!(LseBuffer::from_f32(&c, &[0.0; 7], [1, 2, 4]), Error::WrongSize { .. });
    if c.capabilities().shader_f16 {
        let h = GpuTensor::empty(&c, [1, 4, 2, 32], Dtype::F16).unwrap();
        assert_err!(h.write_f16(&c, &vec![half::f16::ZERO; n - 2]), Error::WrongSize { .. });
        assert_err!(h.write_f32(&c, &vec![0.0; n * 2]), Error::WrongSize { .. });
    }
}

#[test]
fn app_buffer_too_small() {
    let _serial = serial();
    let c = ctx();
    let dims = [2, 16, 4, 64];
    let need = dims.iter().product::<usize>() as u64 * 4;
    let buf = Arc::new(c.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("too small"),
        size: need - 256,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    }));
    assert_err!(GpuTensor::from_buffer(buf.clone(), dims, Dtype::F32), Error::WrongSize { expected, .. } if expected == need);
    // The same buffer is big enough for f16.
    GpuTensor::from_buffer(buf.clone(), dims, Dtype::F16).unwrap();
    assert_err!(LseBuffer::from_buffer(buf, [1, 1, (need / 4) as usize]), Error::WrongSize { .. });
}

#[test]
fn app_buffer_without_storage_usage() {
    let _serial = serial();
    let c = ctx();
    let buf = Arc::new(c.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("no storage"),
        size: 4096,
        usage: wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    }));
    assert_err!(GpuTensor::from_buffer(buf, [1, 4, 2, 32], Dtype::F32), Error::InvalidArgument(_));
}

// ---------------------------------------------------------------- dtypes and options

#[test]
fn dtype_mismatch_q_k() {
    let _serial = serial();
    let c = ctx();
    let q = t(&c, [1, 8, 2, 64]);
    let (k, v) = (raw_f16(&c, [1, 8, 2, 64]), raw_f16(&c, [1, 8, 2, 64]));
    assert_err!(dense(&c).forward(&q, &k, &v), Error::DtypeMismatch { what: "k", expected: Dtype::F32, got: Dtype::F16 });
    // k matches q, v does not.
    let k32 = t(&c, [1, 8, 2, 64]);
    assert_err!(dense(&c).forward(&q, &k32, &v), Error::DtypeMismatch { what: "v", .. });
    // f16 host data into an f32 tensor, f16 download of an f32 tensor.
    assert_err!(q.write_f16(&c, &vec![half::f16::ZERO; q.numel()]), Error::DtypeMismatch { .. });
    assert_err!(q.to_f16_vec(&c), Error::DtypeMismatch { .. });
}

#[test]
fn non_finite_scale() {
    let _serial = serial();
    let c = ctx();
    let (q, k, v) = (t(&c, [1, 8, 2, 64]), t(&c, [1, 8, 2, 64]), t(&c, [1, 8, 2, 64]));
    for s in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let a = Attention::new(&c, AttentionOptions { scale: Some(s), tier: Some(Tier::Portable), ..Default::default() });
        assert_err!(a.forward(&q, &k, &v), Error::InvalidArgument(_));
        let out = dense(&c).alloc_output(&q, &k, &v).unwrap();
        assert_err!(encode(&c, &a, &q, &k, &v, &out.o, &out.lse), Error::InvalidArgument(_));
    }
}

#[test]
fn bad_names_parse() {
    let _serial = serial();
    for s in ["warp", "", "portable2", "fast"] {
        assert_err!(s.parse::<Tier>(), Error::InvalidArgument(_));
    }
    for s in ["bf16", "f64", "", "int8"] {
        assert_err!(s.parse::<Dtype>(), Error::InvalidArgument(_));
    }
    // The good names still parse.
    assert_eq!("Portable".parse::<Tier>().unwrap(), Tier::Portable);
    assert_eq!("half".parse::<Dtype>().unwrap(), Dtype::F16);
}

// ---------------------------------------------------------------- missing feature

#[test]
fn f16_without_shader_f16() {
    let _serial = serial();
    let c = app_ctx(wgpu::Features::empty(), |_| {});
    assert!(!c.capabilities().shader_f16);
    assert_err!(GpuTensor::empty(&c, [1, 8, 2, 64], Dtype::F16), Error::MissingFeature { feature: "SHADER_F16", .. });
    assert_err!(GpuTensor::from_f32(&c, &vec![0.0; 1024], [1, 8, 2, 64], Dtype::F16), Error::MissingFeature { .. });
    // F16 tensors wrapped around app buffers: attention and merge refuse them.
    let (q, k, v) = (raw_f16(&c, [1, 8, 2, 64]), raw_f16(&c, [1, 8, 2, 64]), raw_f16(&c, [1, 8, 2, 64]));
    assert_err!(dense(&c).forward(&q, &k, &v), Error::MissingFeature { feature: "SHADER_F16", .. });
    let lse = LseBuffer::empty(&c, [1, 2, 8]).unwrap();
    let o = raw_f16(&c, [1, 8, 2, 64]);
    assert_err!(encode(&c, &dense(&c), &q, &k, &v, &o, &lse), Error::MissingFeature { .. });
    let acc = t(&c, [1, 8, 2, 64]);
    let acc_lse = LseBuffer::from_f32(&c, &[0.0; 16], [1, 2, 8]).unwrap();
    assert_err!(merge::merge(&c, &acc, &acc_lse, &o, &lse), Error::MissingFeature { .. });
    // f32 still works on this device.
    let (q, k, v) = (t(&c, [1, 8, 2, 64]), t(&c, [1, 8, 2, 64]), t(&c, [1, 8, 2, 64]));
    let out = dense(&c).forward(&q, &k, &v).unwrap();
    assert!(out.o.to_f32_vec(&c).unwrap().iter().all(|x| x.is_finite()));
    c.check_alive().unwrap();
}

// ---------------------------------------------------------------- limits

const SMALL_BINDING: u64 = 1 << 20;

fn small_ctx() -> GpuContext {
    let a = adapter();
    let f = a.features() & wgpu::Features::SHADER_F16;
    let c = app_ctx(f, |l| l.max_storage_buffer_binding_size = SMALL_BINDING);
    assert_eq!(c.capabilities().limits.max_storage_buffer_binding_size, SMALL_BINDING, "device did not take the small limit");
    c
}

#[test]
fn single_batch_element_over_binding_limit() {
    let _serial = serial();
    let c = small_ctx();
    // One batch element of Q is exactly 1 MiB: with any offset alignment it cannot be bound.
    let (q, k, v) = (t(&c, [2, 2048, 2, 64]), t(&c, [2, 16, 2, 64]), t(&c, [2, 16, 2, 64]));
    assert_err!(dense(&c).forward(&q, &k, &v), Error::LimitExceeded { limit: "max_storage_buffer_binding_size", .. });
    // The same through K/V (Q small).
    let (q, k, v) = (t(&c, [1, 16, 2, 64]), t(&c, [1, 2100, 2, 64]), t(&c, [1, 2100, 2, 64]));
    assert_err!(dense(&c).forward(&q, &k, &v), Error::LimitExceeded { limit: "max_storage_buffer_binding_size", .. });
    // Merge operands over the limit.
    let big = GpuTensor::empty(&c, [1, 2048, 4, 64], Dtype::F32).unwrap();
    let big2 = GpuTensor::empty(&c, [1, 2048, 4, 64], Dtype::F32).unwrap();
    let l1 = LseBuffer::empty(&c, [1, 4, 2048]).unwrap();
    let l2 = LseBuffer::empty(&c, [1, 4, 2048]).unwrap();
    assert_err!(merge::merge(&c, &big, &l1, &big2, &l2), Error::LimitExceeded { .. });
    c.check_alive().unwrap();
}

/// Fits only when split over the batch: every launch binds a window of a few batch
/// elements at offsets that are not multiples of the binding alignment.
#[test]
fn batch_split_under_binding_limit_is_correct() {
    let _serial = serial();
    let c = small_ctx();
    let align = c.capabilities().limits.min_storage_buffer_offset_alignment;
    let mut dtypes = vec![Dtype::F32];
    if c.capabilities().shader_f16 {
        dtypes.push(Dtype::F16);
    }
    for dtype in dtypes {
        for causal in [false, true] {
            // (b, n, h, d) = (B, 61, 3, 80) with kv (B, 67, 1, 80): per-element slices of
            // 61*3*80*es bytes are not multiples of the alignment.
            let es = dtype.size() as usize;
            let per_b = 61 * 3 * 80 * es;
            let batch = (SMALL_BINDING as usize / per_b) + 3; // total > limit
            let s = Shape { batch, seq_q: 61, seq_k: 67, heads: 3, kv_heads: 1, head_dim: 80 };
            assert!((s.q_len() * es) as u64 > SMALL_BINDING);
            assert!(!(per_b as u64).is_multiple_of(align as u64) || align <= 4, "slices happen to be aligned");
            let case = common::Case { shape: s, dtype, causal, scale: None, tier: Tier::Portable };
            let (eo, el) = common::run_case(&c, &case);
            eprintln!("split over batch: {s:?} {dtype:?} causal={causal}: rel err O {eo:.3e}, LSE {el:.3e} (align {align})");
            assert!(eo < common::tol(dtype), "{s:?} {dtype:?} causal={causal}: rel error of O {eo:.3e}");
            assert!(el < common::lse_tol(dtype), "{s:?} {dtype:?} causal={causal}: LSE error {el:.3e}");
        }
    }
    c.check_alive().unwrap();
}

// ---------------------------------------------------------------- environment

#[test]
fn adapter_env_matches_nothing() {
    let _serial = serial();
    common::run_child("child_no_adapter", &[("RINGATTN_ADAPTER", "no-such-adapter-xyz")]);
}

#[test]
fn child_no_adapter() {
    let _serial = serial();
    if !common::is_child() {
        return;
    }
    assert_err!(GpuContext::new(), Error::NoAdapter(_));
}

#[test]
fn tier_env_invalid() {
    let _serial = serial();
    common::run_child("child_bad_tier", &[("RINGATTN_TIER", "warp")]);
}

#[test]
fn child_bad_tier() {
    let _serial = serial();
    if !common::is_child() {
        return;
    }
    assert_err!(Tier::from_env(), Error::InvalidArgument(_));
    let c = ctx();
    let (q, k, v) = (t(&c, [1, 8, 2, 64]), t(&c, [1, 8, 2, 64]), t(&c, [1, 8, 2, 64]));
    assert_err!(Attention::new(&c, AttentionOptions::default()).forward(&q, &k, &v), Error::InvalidArgument(_));
    // An explicit tier does not read the variable.
    dense(&c).forward(&q, &k, &v).unwrap();
}

// ---------------------------------------------------------------- merge

#[test]
fn merge_shape_mismatch() {
    let _serial = serial();
    let c = ctx();
    let acc = t(&c, [1, 8, 2, 64]);
    let acc_lse = LseBuffer::from_f32(&c, &[0.0; 16], [1, 2, 8]).unwrap();
    let part = t(&c, [1, 9, 2, 64]);
    let part_lse = LseBuffer::from_f32(&c, &[0.0; 18], [1, 2, 9]).unwrap();
    assert_err!(merge::merge(&c, &acc, &acc_lse, &part, &part_lse), Error::ShapeMismatch { what: "merge partial", .. });
    let part = t(&c, [1, 8, 2, 64]);
    // LSE laid out (b, n, h) instead of (b, h, n).
    let bad = LseBuffer::from_f32(&c, &[0.0; 16], [1, 8, 2]).unwrap();
    assert_err!(merge::merge(&c, &acc, &bad, &part, &acc_lse), Error::ShapeMismatch { what: "merge acc lse", .. });
    assert_err!(merge::merge(&c, &acc, &acc_lse, &part, &bad), Error::ShapeMismatch { what: "merge partial lse", .. });
    c.check_alive().unwrap();
}

/// An LSE buffer without STORAGE usage: refused when wrapped (as `GpuTensor::from_buffer`
/// does) or, at the latest, by the attention call as an error value, never a panic.
#[test]
fn app_lse_buffer_without_storage_usage() {
    let _serial = serial();
    let c = ctx();
    let (q, k, v) = (t(&c, [1, 8, 2, 64]), t(&c, [1, 8, 2, 64]), t(&c, [1, 8, 2, 64]));
    let buf = Arc::new(c.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("lse without storage"),
        size: 64,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    }));
    match LseBuffer::from_buffer(buf, [1, 2, 8]) {
        Err(Error::InvalidArgument(m)) => eprintln!("ok: refused when wrapped: {m}"),
        Err(e) => panic!("expected InvalidArgument, got {e:?}"),
        Ok(lse) => {
            let o = GpuTensor::empty(&c, [1, 8, 2, 64], Dtype::F32).unwrap();
            assert_err!(dense(&c).forward_into(&q, &k, &v, &o, &lse), Error::Gpu { .. } | Error::InvalidArgument(_));
        }
    }
    // The context stays usable.
    dense(&c).forward(&q, &k, &v).unwrap().o.to_f32_vec(&c).unwrap();
    c.check_alive().unwrap();
}
