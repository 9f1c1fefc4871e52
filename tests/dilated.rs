//! LongNet dilated attention (head-group and mixture modes) against a direct f64 CPU
//! implementation of the definitions (`ringattn::dilated::reference`, which builds the
//! element mask from the definition and runs the f64 reference attention), in every
//! tier the adapter runs, f32 and f16, causal and not, with GQA, batch > 1, rates that
//! do not divide the heads or the segment lengths evenly.
//!
//! Outputs are poisoned before every run (positions a head does not select must come
//! back as O = 0, LSE = -inf); inputs are fresh random values.

mod common;

use ringattn::attention::resolve_tier;
use ringattn::dilated::{head_groups, reference as dilated_reference, selected, DilatedAttention, DilatedMode, DilatedOptions, Dilation};
use ringattn::{reference, AttentionOptions, Dtype, Error, GpuContext, GpuTensor, Shape, Tier};

fn dtypes(ctx: &GpuContext) -> Vec<Dtype> {
    if ctx.capabilities().shader_f16 {
        vec![Dtype::F32, Dtype::F16]
    } else {
        vec![Dtype::F32]
    }
}

fn tiers(ctx: &GpuContext, dtype: Dtype, d: usize) -> Vec<Tier> {
    ctx.capabilities().tiers().into_iter().filter(|&t| resolve_tier(ctx, Some(t), dtype, d).unwrap() == t).collect()
}

struct Case {
    shape: Shape,
    dilation: &'static str,
    mode: DilatedMode,
}

/// Runs every case for every dtype, tier and causal flag; returns the failures.
fn run_cases(cases: &[Case]) -> Vec<String> {
    let ctx = common::ctx();
    let mut fails = Vec::new();
    let mut ran = 0;
    for c in cases {
        let s = c.shape;
        for dtype in dtypes(&ctx) {
            for tier in tiers(&ctx, dtype, s.head_dim) {
                for causal in [false, true] {
                    let opts = DilatedOptions {
                        dilation: c.dilation.parse().unwrap(),
                        mode: c.mode,
                        attention: AttentionOptions { causal, tier: Some(tier), ..Default::default() },
                    };
                    let seed = reference::fresh_seed();
                    let what = format!(
                        "{:?} {} b={} n={} h={} kvh={} d={} {dtype:?} {tier} causal={causal} seed={seed:#x}",
                        c.mode, c.dilation, s.batch, s.seq_q, s.heads, s.kv_heads, s.head_dim
                    );
                    match run_one(&ctx, s, dtype, &opts, seed) {
                        Ok((eo, el)) if eo < common::tol(dtype) && el < common::lse_tol(dtype) => {}
                        Ok((eo, el)) => fails.push(format!("{what}: O rel err {eo:.3e}, LSE max abs err {el:.3e}")),
                        Err(e) => fails.push(format!("{what}: {e}")),
                    }
                    ran += 1;
                }
            }
        }
    }
    assert!(ran >= cases.len() * 2, "too few runs");
    fails
}

fn run_one(ctx: &GpuContext, s: Shape, dtype: Dtype, opts: &DilatedOptions, seed: u64) -> ringattn::Result<(f64, f64)> {
    let q = reference::random_vec(s.q_len(), seed);
    let k = reference::random_vec(s.kv_len(), seed ^ 1);
    let v = reference::random_vec(s.kv_len(), seed ^ 2);
    let qt = GpuTensor::from_f32(ctx, &q, s.q_dims(), dtype)?;
    let kt = GpuTensor::from_f32(ctx, &k, s.kv_dims(), dtype)?;
    let vt = GpuTensor::from_f32(ctx, &v, s.kv_dims(), dtype)?;
    let attn = DilatedAttention::new(ctx, opts.clone())?;
    let o = GpuTensor::empty(ctx, s.q_dims(), dtype)?;
    let lse = ringattn::LseBuffer::empty(ctx, s.lse_dims())?;
    o.poison(ctx)?;
    lse.poison(ctx)?;
    attn.forward_into(&qt, &kt, &vt, &o, &lse)?;
    let (og, lg) = (o.to_f32_vec(ctx)?, lse.to_vec(ctx)?);
    let (q, k, v) = (qt.to_f32_vec(ctx)?, kt.to_f32_vec(ctx)?, vt.to_f32_vec(ctx)?);
    let rows: Vec<usize> = (0..s.seq_q).collect();
    let r = dilated_reference(&q, &k, &v, &s, opts, &rows)?;
    Ok((reference::rel_error(&og, &r.o), reference::lse_max_abs_error(&lg, &r.lse)))
}

#[test]
fn head_groups_split_like_the_replaced_system() {
    let g = |h, n| head_groups(h, n).into_iter().map(|r| r.len()).collect::<Vec<_>>();
    assert_eq!(g(8, 3), vec![3, 3, 2]);
    assert_eq!(g(10, 3), vec![4, 3, 3]);
    assert_eq!(g(5, 2), vec![3, 2]);
    assert_eq!(g(4, 4), vec![1, 1, 1, 1]);
    assert_eq!(head_groups(7, 3), vec![0..3, 3..5, 5..7]);
    assert!(selected(5, 4, 2, 1) && !selected(6, 4, 2, 1) && selected(4, 4, 2, 0) && !selected(4, 4, 2, 1));
}

/// Head-group mode: group g under (w_g, r_g) with offset g mod r_g.
#[test]
fn head_groups_match_the_definition() {
    let cases = [
        // 5 heads in 3 groups (2, 2, 1); offsets 0, 1, 2.
        Case { shape: Shape::new(1, 48, 5, 32), dilation: "12,24,48:1,2,4", mode: DilatedMode::HeadGroups },
        // Rates that do not divide the segments (20 / 3, 40 / 6), batch 2.
        Case { shape: Shape::new(2, 40, 3, 32), dilation: "20,40:3,6", mode: DilatedMode::HeadGroups },
        // GQA: 8 query heads over 2 kv heads in groups 3, 3, 2 (crossing kv groups).
        Case { shape: Shape::new(1, 36, 8, 32).with_kv_heads(2), dilation: "6,12,36:1,2,3", mode: DilatedMode::HeadGroups },
        // GQA aligned with the groups, one pair (every head, offset 0).
        Case { shape: Shape::new(1, 64, 6, 64).with_kv_heads(3), dilation: "32:2", mode: DilatedMode::HeadGroups },
        // Rate equal to the segment length: one position per segment.
        Case { shape: Shape::new(1, 24, 2, 32), dilation: "8,24:8,1", mode: DilatedMode::HeadGroups },
    ];
    let fails = run_cases(&cases);
    assert!(fails.is_empty(), "{} failures:\n{}", fails.len(), fails.join("\n"));
}

/// Mixture mode: every head under every pair (offset h mod r_i), LSE-merged.
#[test]
fn mixture_matches_the_definition() {
    let cases = [
        Case { shape: Shape::new(1, 48, 4, 32), dilation: "16,48:1,3", mode: DilatedMode::Mixture },
        // Three pairs, 5 heads (rate 2 splits them 3 / 2), batch 2.
        Case { shape: Shape::new(2, 40, 5, 32), dilation: "10,20,40:1,2,4", mode: DilatedMode::Mixture },
        // GQA with a rate that interleaves heads of different kv groups.
        Case { shape: Shape::new(1, 32, 6, 32).with_kv_heads(3), dilation: "16,32:2,4", mode: DilatedMode::Mixture },
        // One pair whose offsets leave positions unselected for some heads.
        Case { shape: Shape::new(1, 30, 2, 32), dilation: "15:4", mode: DilatedMode::Mixture },
    ];
    let fails = run_cases(&cases);
    assert!(fails.is_empty(), "{} failures:\n{}", fails.len(), fails.join("\n"));
}

/// A (1, 1) pair is dense (or causal) attention: the dilated path must agree with the
/// plain reference, which checks the definition implementation itself.
#[test]
fn trivial_dilation_is_plain_attention() {
    let ctx = common::ctx();
    let s = Shape::new(2, 20, 3, 32);
    for causal in [false, true] {
        for (dil, mode) in [("20:1", DilatedMode::HeadGroups), ("20,20:1,1", DilatedMode::Mixture), ("20,20,20:1,1,1", DilatedMode::HeadGroups)] {
            let opts = DilatedOptions { dilation: dil.parse().unwrap(), mode, attention: AttentionOptions { causal, ..Default::default() } };
            let seed = reference::fresh_seed();
            let q = reference::random_vec(s.q_len(), seed);
            let k = reference::random_vec(s.kv_len(), seed ^ 1);
            let v = reference::random_vec(s.kv_len(), seed ^ 2);
            let rows: Vec<usize> = (0..s.seq_q).collect();
            let d = dilated_reference(&q, &k, &v, &s, &opts, &rows).unwrap();
            let p = reference::attention(&q, &k, &v, &s, causal, None);
            let d32: Vec<f32> = d.o.iter().map(|&x| x as f32).collect();
            assert!(reference::rel_error(&d32, &p.o) < 1e-6, "{dil} {mode:?} causal={causal}");
            let (eo, el) = run_one(&ctx, s, Dtype::F32, &opts, seed).unwrap();
            assert!(eo < 1e-5 && el < 1e-4, "{dil} {mode:?} causal={causal}: {eo:.3e} {el:.3e}");
        }
    }
}

#[test]
fn bad_dilations_are_errors() {
    for bad in ["", "16", "16:", "16,32:1", "16:1,2", "0:1", "16:0", "8:16", "a:1", "16:-1"] {
        match bad.parse::<Dilation>() {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("dilat"), "{bad}: {m}"),
            other => panic!("{bad}: expected InvalidArgument, got {other:?}"),
        }
    }
    assert_eq!("2048,4096:1,2".parse::<Dilation>().unwrap().to_string(), "2048,4096:1,2");
    assert!("mixture".parse::<DilatedMode>().is_ok() && "group".parse::<DilatedMode>().is_ok() && "spiral".parse::<DilatedMode>().is_err());

    let ctx = common::ctx();
    let run = |dims: [usize; 4], kdims: [usize; 4], dil: &str, mode| {
        let t = |d: [usize; 4]| GpuTensor::from_f32(&ctx, &vec![0.5; d.iter().product()], d, Dtype::F32).unwrap();
        let opts = DilatedOptions { dilation: dil.parse().unwrap(), mode, attention: AttentionOptions::default() };
        DilatedAttention::new(&ctx, opts).unwrap().forward(&t(dims), &t(kdims), &t(kdims)).map(|_| ())
    };
    // Length not a multiple of a segment length.
    let e = run([1, 40, 2, 32], [1, 40, 2, 32], "16,40:1,2", DilatedMode::HeadGroups).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("multiple of segment length 16")), "{e}");
    // More groups than heads.
    let e = run([1, 32, 2, 32], [1, 32, 2, 32], "8,16,32:1,2,4", DilatedMode::HeadGroups).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("groups")), "{e}");
    // ... which mixture mode accepts.
    run([1, 32, 2, 32], [1, 32, 2, 32], "8,16,32:1,2,4", DilatedMode::Mixture).unwrap();
    // Cross-attention.
    let e = run([1, 32, 2, 32], [1, 64, 2, 32], "32:1", DilatedMode::HeadGroups).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
}

/// A device whose storage bindings hold one batch element of these tensors: every gather,
/// scatter, dilated merge, conversion and flash launch is split over the batch. Dilated
/// attention (both modes) and a token permutation still match the f64 reference.
#[test]
fn batch_split_over_the_binding_limit() {
    const BINDING: u64 = 48 << 10;
    let mut adapters = ringattn::context::enumerate_adapters();
    adapters.retain(|a| a.get_info().backend != wgpu::Backend::Noop);
    ringattn::context::sort_adapters(&mut adapters);
    let a = adapters.into_iter().next().expect("no adapter");
    let mut limits = ringattn::context::needed_limits(&a.limits());
    limits.max_storage_buffer_binding_size = BINDING;
    let desc = wgpu::DeviceDescriptor {
        label: Some("ringattn small bindings"),
        required_features: a.features() & wgpu::Features::SHADER_F16,
        required_limits: limits,
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    };
    let (device, queue) = pollster::block_on(a.request_device(&desc)).expect("request_device");
    let ctx = GpuContext::from_device(Some(&a), device, queue);
    assert_eq!(ctx.capabilities().limits.max_storage_buffer_binding_size as u64, BINDING);

    // One batch element of Q is 64 * 4 * 32 * 4 = 32 KiB: at most one per binding.
    let s = Shape::new(3, 64, 4, 32);
    let mut runs = vec![("16,64:1,2", DilatedMode::HeadGroups, Dtype::F32, true), ("16,64:2,4", DilatedMode::Mixture, Dtype::F32, false)];
    if ctx.capabilities().shader_f16 {
        runs.push(("32,64:1,2", DilatedMode::Mixture, Dtype::F16, true));
    }
    for (dil, mode, dtype, causal) in runs {
        let opts = DilatedOptions { dilation: dil.parse().unwrap(), mode, attention: AttentionOptions { causal, ..Default::default() } };
        let seed = reference::fresh_seed();
        let (eo, el) = run_one(&ctx, s, dtype, &opts, seed).unwrap();
        assert!(eo < common::tol(dtype) && el < common::lse_tol(dtype), "{dil} {mode:?} {dtype:?} seed {seed:#x}: O {eo:.3e}, LSE {el:.3e}");
    }
    let perm = "hilbert2d:8x8".parse::<ringattn::Order>().unwrap().permutation(64).unwrap();
    let x = reference::random_vec(s.q_len(), reference::fresh_seed());
    let t = GpuTensor::from_f32(&ctx, &x, s.q_dims(), Dtype::F32).unwrap();
    let gp = perm.upload(&ctx).unwrap();
    let f = gp.apply(&ctx, &t, ringattn::order::Direction::Forward).unwrap();
    assert_eq!(f.to_f32_vec(&ctx).unwrap(), perm.apply(&x, 4 * 32).unwrap());
    assert_eq!(gp.apply(&ctx, &f, ringattn::order::Direction::Inverse).unwrap().to_f32_vec(&ctx).unwrap(), x);
    // Batch elements of 48000 bytes: the binding windows start off the offset alignment,
    // so the shader's element offsets are exercised (vec4 and scalar paths).
    let perm = "hilbert2d:25x40".parse::<ringattn::Order>().unwrap().permutation(1000).unwrap();
    let gp = perm.upload(&ctx).unwrap();
    for dims in [[4, 1000, 3, 4], [4, 1000, 4, 3]] {
        let x = reference::random_vec(dims.iter().product(), reference::fresh_seed());
        let t = GpuTensor::from_f32(&ctx, &x, dims, Dtype::F32).unwrap();
        let f = gp.apply(&ctx, &t, ringattn::order::Direction::Forward).unwrap();
        assert_eq!(f.to_f32_vec(&ctx).unwrap(), perm.apply(&x, dims[2] * dims[3]).unwrap(), "{dims:?}");
    }
    // One batch element over the limit is refused, not split.
    let big = Shape::new(1, 512, 4, 32);
    let opts = DilatedOptions { dilation: "512:1".parse().unwrap(), mode: DilatedMode::HeadGroups, attention: AttentionOptions::default() };
    let e = run_one(&ctx, big, Dtype::F32, &opts, 1).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { .. }), "{e}");
    ctx.check_alive().unwrap();
}
