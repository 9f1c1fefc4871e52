//! Shared helpers for the integration tests.
#![allow(dead_code)]

use ringattn::{reference, Attention, AttentionOptions, Dtype, GpuContext, GpuTensor, Shape, Tier};

/// Every adapter the tests can use (Vulkan lavapipe, GL llvmpipe, real GPUs), one
/// context each. Adapters that fail to give a device are reported and skipped.
pub fn contexts() -> Vec<GpuContext> {
    let mut adapters = ringattn::context::enumerate_adapters();
    adapters.retain(|a| a.get_info().backend != wgpu::Backend::Noop);
    ringattn::context::sort_adapters(&mut adapters);
    let mut out = Vec::new();
    for a in adapters {
        let desc = ringattn::context::describe_adapter(&a.get_info());
        match GpuContext::from_adapter(a) {
            Ok(c) => out.push(c),
            Err(e) => eprintln!("skipping adapter {desc}: {e}"),
        }
    }
    assert!(!out.is_empty(), "no adapter found: install mesa-vulkan-drivers");
    out
}

/// One context on the default adapter.
pub fn ctx() -> GpuContext {
    GpuContext::new().expect("no adapter: install mesa-vulkan-drivers")
}

pub struct Case {
    pub shape: Shape,
    pub dtype: Dtype,
    pub causal: bool,
    pub scale: Option<f32>,
    pub tier: Tier,
}

/// Runs one case on the GPU with poisoned outputs and returns (rel error of O,
/// max abs error of LSE). Inputs are fresh random values.
pub fn run_case(ctx: &GpuContext, c: &Case) -> (f64, f64) {
    let s = c.shape;
    let seed = reference::fresh_seed();
    let q = reference::random_vec(s.q_len(), seed);
    let k = reference::random_vec(s.kv_len(), seed ^ 0x11);
    let v = reference::random_vec(s.kv_len(), seed ^ 0x22);
    let qt = GpuTensor::from_f32(ctx, &q, s.q_dims(), c.dtype).unwrap();
    let kt = GpuTensor::from_f32(ctx, &k, s.kv_dims(), c.dtype).unwrap();
    let vt = GpuTensor::from_f32(ctx, &v, s.kv_dims(), c.dtype).unwrap();
    let attn = Attention::new(ctx, AttentionOptions { causal: c.causal, scale: c.scale, tier: Some(c.tier) });
    let out = attn.alloc_output(&qt, &kt, &vt).unwrap();
    out.o.poison(ctx).unwrap();
    out.lse.poison(ctx).unwrap();
    attn.forward_into(&qt, &kt, &vt, &out.o, &out.lse).unwrap();
    let o = out.o.to_f32_vec(ctx).unwrap();
    let lse = out.lse.to_vec(ctx).unwrap();
    // The reference sees exactly the values the GPU saw (f16 inputs are rounded).
    let (q, k, v) = (qt.to_f32_vec(ctx).unwrap(), kt.to_f32_vec(ctx).unwrap(), vt.to_f32_vec(ctx).unwrap());
    let r = reference::attention(&q, &k, &v, &s, c.causal, c.scale);
    (reference::rel_error(&o, &r.o), reference::lse_max_abs_error(&lse, &r.lse))
}

pub fn tol(dtype: Dtype) -> f64 {
    match dtype {
        Dtype::F32 => 1e-5,
        Dtype::F16 => 5e-3,
    }
}
