//! Token orders: Hilbert / Z-order bijections on grids of any size, Hilbert adjacency on
//! power-of-two grids, permutation round trips on the GPU (f32 and f16, tokens and LSE),
//! and ordered attention against plain attention and the f64 reference.
//!
//! GPU outputs are poisoned before every run; inputs are fresh random values.

mod common;

use ringattn::attention::resolve_tier;
use ringattn::order::curve::{bits_for, hilbert_index};
use ringattn::order::{Direction, Order, OrderedAttention, Permutation};
use ringattn::{reference, Attention, AttentionOptions, Dtype, Error, GpuContext, GpuTensor, LseBuffer, Shape};

fn grids_2d() -> Vec<(usize, usize)> {
    let mut g = vec![(1, 1), (1, 2), (2, 1), (1, 37), (37, 1), (3, 5), (5, 3), (7, 7), (13, 29), (64, 3), (31, 33), (100, 1)];
    g.extend([2, 4, 8, 16, 32, 64].map(|n| (n, n)));
    g.extend([(4, 16), (32, 8)]);
    g
}

fn grids_3d() -> Vec<(usize, usize, usize)> {
    vec![
        (1, 1, 1),
        (1, 1, 17),
        (17, 1, 1),
        (1, 9, 1),
        (2, 3, 4),
        (5, 5, 5),
        (3, 1, 9),
        (7, 6, 5),
        (2, 2, 2),
        (4, 4, 4),
        (8, 8, 8),
        (16, 16, 16),
        (4, 8, 2),
    ]
}

/// The permutation visits every cell exactly once (checked here directly, not only by
/// `Permutation::new`) and the inverse undoes it.
fn assert_bijection(p: &Permutation, n: usize, what: &str) {
    assert_eq!(p.len(), n, "{what}");
    let mut seen = vec![false; n];
    for &x in p.order() {
        assert!(!seen[x as usize], "{what}: {x} twice");
        seen[x as usize] = true;
    }
    for (i, &x) in p.order().iter().enumerate() {
        assert_eq!(p.inverse()[x as usize] as usize, i, "{what}");
    }
}

#[test]
fn curves_are_bijections_on_any_grid() {
    for (h, w) in grids_2d() {
        for o in [Order::Hilbert2d { height: h, width: w }, Order::ZOrder2d { height: h, width: w }] {
            assert_bijection(&o.permutation(h * w).unwrap(), h * w, &o.to_string());
        }
    }
    for (d, h, w) in grids_3d() {
        for o in [Order::Hilbert3d { depth: d, height: h, width: w }, Order::ZOrder3d { depth: d, height: h, width: w }] {
            assert_bijection(&o.permutation(d * h * w).unwrap(), d * h * w, &o.to_string());
        }
    }
    assert!(Order::Natural.permutation(9).unwrap().is_identity());
}

/// Raw Hilbert indices on a power-of-two cube are a bijection onto 0..side^N.
#[test]
fn hilbert_index_is_dense_on_power_of_two_cubes() {
    for bits in 0..6 {
        let side = 1u32 << bits;
        let mut seen = vec![false; (side * side) as usize];
        for y in 0..side {
            for x in 0..side {
                let i = hilbert_index([y, x], bits) as usize;
                assert!(!seen[i]);
                seen[i] = true;
            }
        }
    }
    for bits in 0..5 {
        let side = 1u32 << bits;
        let mut seen = vec![false; (side * side * side) as usize];
        for z in 0..side {
            for y in 0..side {
                for x in 0..side {
                    let i = hilbert_index([z, y, x], bits) as usize;
                    assert!(!seen[i]);
                    seen[i] = true;
                }
            }
        }
    }
    assert_eq!(bits_for(5), 3);
}

/// Consecutive tokens of the Hilbert order are face neighbours on power-of-two grids
/// (2D squares and 3D cubes), and the curve starts at the origin.
#[test]
fn hilbert_steps_are_grid_neighbours() {
    for n in [2usize, 4, 8, 16, 32, 64, 128] {
        let p = Order::Hilbert2d { height: n, width: n }.permutation(n * n).unwrap();
        assert_eq!(p.order()[0], 0);
        for s in p.order().windows(2) {
            let (a, b) = (s[0] as usize, s[1] as usize);
            let dist = (a / n).abs_diff(b / n) + (a % n).abs_diff(b % n);
            assert_eq!(dist, 1, "{n}x{n}: {a} -> {b}");
        }
    }
    for n in [2usize, 4, 8, 16, 32] {
        let p = Order::Hilbert3d { depth: n, height: n, width: n }.permutation(n * n * n).unwrap();
        assert_eq!(p.order()[0], 0);
        for s in p.order().windows(2) {
            let c = |t: usize| [t / (n * n), t / n % n, t % n];
            let (a, b) = (c(s[0] as usize), c(s[1] as usize));
            let dist: usize = (0..3).map(|i| a[i].abs_diff(b[i])).sum();
            assert_eq!(dist, 1, "{n}^3: {a:?} -> {b:?}");
        }
    }
    // Z-order jumps (that is what the comparison is about).
    let z = Order::ZOrder2d { height: 8, width: 8 }.permutation(64).unwrap();
    assert!(z.order().windows(2).any(|s| (s[0] as usize / 8).abs_diff(s[1] as usize / 8) + (s[0] as usize % 8).abs_diff(s[1] as usize % 8) > 1));
}

#[test]
fn permutation_validation() {
    assert!(matches!(Permutation::new(vec![0, 2, 2]), Err(Error::InvalidArgument(m)) if m.contains("twice")));
    assert!(matches!(Permutation::new(vec![0, 3, 1]), Err(Error::InvalidArgument(m)) if m.contains("outside")));
    assert!(Permutation::new(vec![]).is_err());
    let p = Permutation::new(vec![2, 0, 1]).unwrap();
    assert_eq!(p.inverse(), &[1, 2, 0]);
    let x: Vec<i32> = (0..12).collect(); // 2 batches x 3 rows x 2
    let y = p.apply(&x, 2).unwrap();
    assert_eq!(y, vec![4, 5, 0, 1, 2, 3, 10, 11, 6, 7, 8, 9]);
    assert_eq!(p.unapply(&y, 2).unwrap(), x);
    assert!(matches!(p.apply(&x[..11], 2), Err(Error::WrongSize { .. })));
}

fn dtypes(ctx: &GpuContext) -> Vec<Dtype> {
    if ctx.capabilities().shader_f16 {
        vec![Dtype::F32, Dtype::F16]
    } else {
        vec![Dtype::F32]
    }
}

/// Forward on the GPU equals the host permutation; inverse restores the input exactly.
/// Head dims 12 (vec4 path) and 5 (scalar path), and the LSE layout.
#[test]
fn gpu_permutation_round_trip() {
    let ctx = common::ctx();
    for order in [Order::Hilbert2d { height: 5, width: 7 }, Order::ZOrder3d { depth: 2, height: 3, width: 6 }] {
        let n = order.tokens().unwrap();
        let perm = order.permutation(n).unwrap();
        let gp = perm.upload(&ctx).unwrap();
        for dtype in dtypes(&ctx) {
            for d in [12, 5] {
                let dims = [2, n, 3, d];
                let x = reference::random_vec(dims.iter().product(), reference::fresh_seed());
                let t = GpuTensor::from_f32(&ctx, &x, dims, dtype).unwrap();
                let x = t.to_f32_vec(&ctx).unwrap(); // f16-rounded values
                let fwd = GpuTensor::empty(&ctx, dims, dtype).unwrap();
                let back = GpuTensor::empty(&ctx, dims, dtype).unwrap();
                fwd.poison(&ctx).unwrap();
                back.poison(&ctx).unwrap();
                let mut enc = ctx.device().create_command_encoder(&Default::default());
                gp.encode_tokens(&ctx, &mut enc, &t, &fwd, Direction::Forward).unwrap();
                gp.encode_tokens(&ctx, &mut enc, &fwd, &back, Direction::Inverse).unwrap();
                ctx.queue().submit([enc.finish()]);
                assert_eq!(fwd.to_f32_vec(&ctx).unwrap(), perm.apply(&x, 3 * d).unwrap(), "{order} {dtype:?} d={d}");
                assert_eq!(back.to_f32_vec(&ctx).unwrap(), x, "{order} {dtype:?} d={d}");
                // The convenience wrapper, and a dtype-converting permutation.
                assert_eq!(gp.apply(&ctx, &t, Direction::Forward).unwrap().to_f32_vec(&ctx).unwrap(), perm.apply(&x, 3 * d).unwrap());
            }
            // LSE (batch, heads, seq): the sequence axis is the last one.
            let l = reference::random_vec(2 * 3 * n, reference::fresh_seed());
            let lb = LseBuffer::from_f32(&ctx, &l, [2, 3, n]).unwrap();
            let (lf, lr) = (LseBuffer::empty(&ctx, [2, 3, n]).unwrap(), LseBuffer::empty(&ctx, [2, 3, n]).unwrap());
            lf.poison(&ctx).unwrap();
            lr.poison(&ctx).unwrap();
            let mut enc = ctx.device().create_command_encoder(&Default::default());
            gp.encode_lse(&ctx, &mut enc, &lb, &lf, Direction::Forward).unwrap();
            gp.encode_lse(&ctx, &mut enc, &lf, &lr, Direction::Inverse).unwrap();
            ctx.queue().submit([enc.finish()]);
            assert_eq!(lf.to_vec(&ctx).unwrap(), perm.apply(&l, 1).unwrap());
            assert_eq!(lr.to_vec(&ctx).unwrap(), l);
        }
        // Wrong sequence length: an error, not a panic.
        let t = GpuTensor::empty(&ctx, [1, n + 1, 1, 4], Dtype::F32).unwrap();
        assert!(matches!(gp.apply(&ctx, &t, Direction::Forward), Err(Error::ShapeMismatch { .. })));
    }
}

/// Attention in a token order equals plain attention and the f64 reference (causal in
/// the caller's order), in every tier the adapter runs, f32 and f16, with GQA and batch 2.
#[test]
fn ordered_attention_equals_plain_attention() {
    let ctx = common::ctx();
    let orders = [
        Order::Hilbert2d { height: 6, width: 7 },
        Order::ZOrder2d { height: 7, width: 6 },
        Order::Hilbert3d { depth: 3, height: 4, width: 5 },
        Order::Natural,
    ];
    let mut ran = 0;
    for order in orders {
        let n = order.tokens().unwrap_or(50);
        let perm = order.permutation(n).unwrap();
        for dtype in dtypes(&ctx) {
            let tiers: Vec<_> = ctx.capabilities().tiers().into_iter().filter(|&t| resolve_tier(&ctx, Some(t), dtype, 32).unwrap() == t).collect();
            for (tier, causal) in tiers.into_iter().flat_map(|t| [(t, false), (t, true)]) {
                let shape = Shape::new(2, n, 4, 32).with_kv_heads(2);
                let seed = reference::fresh_seed();
                let q = reference::random_vec(shape.q_len(), seed);
                let k = reference::random_vec(shape.kv_len(), seed ^ 1);
                let v = reference::random_vec(shape.kv_len(), seed ^ 2);
                let qt = GpuTensor::from_f32(&ctx, &q, shape.q_dims(), dtype).unwrap();
                let kt = GpuTensor::from_f32(&ctx, &k, shape.kv_dims(), dtype).unwrap();
                let vt = GpuTensor::from_f32(&ctx, &v, shape.kv_dims(), dtype).unwrap();
                let opts = AttentionOptions { tier: Some(tier), causal, ..Default::default() };
                let attn = OrderedAttention::new(&ctx, opts, &perm).unwrap();
                let out = attn.attention().alloc_output(&qt, &kt, &vt).unwrap();
                out.o.poison(&ctx).unwrap();
                out.lse.poison(&ctx).unwrap();
                attn.forward_into(&qt, &kt, &vt, &out.o, &out.lse).unwrap();
                let (o, lse) = (out.o.to_f32_vec(&ctx).unwrap(), out.lse.to_vec(&ctx).unwrap());
                let plain = Attention::new(&ctx, opts).forward(&qt, &kt, &vt).unwrap();
                let (po, plse) = (plain.o.to_f32_vec(&ctx).unwrap(), plain.lse.to_vec(&ctx).unwrap());
                let (q, k, v) = (qt.to_f32_vec(&ctx).unwrap(), kt.to_f32_vec(&ctx).unwrap(), vt.to_f32_vec(&ctx).unwrap());
                let r = reference::attention(&q, &k, &v, &shape, causal, None);
                let what = format!("{order} {dtype:?} {tier} causal={causal} seed {seed:#x}");
                let (eo, el) = (reference::rel_error(&o, &r.o), reference::lse_max_abs_error(&lse, &r.lse));
                assert!(eo < common::tol(dtype) && el < common::lse_tol(dtype), "{what}: O {eo:.3e}, LSE {el:.3e}");
                // Same as plain attention up to summation order (keys visited in another order).
                let po64: Vec<f64> = po.iter().map(|&x| x as f64).collect();
                let plse64: Vec<f64> = plse.iter().map(|&x| x as f64).collect();
                let (do_, dl) = (reference::rel_error(&o, &po64), reference::lse_max_abs_error(&lse, &plse64));
                assert!(do_ < common::tol(dtype) && dl < common::lse_tol(dtype), "{what}: vs plain O {do_:.3e}, LSE {dl:.3e}");
                ran += 1;
            }
        }
    }
    assert!(ran >= 8);
}

#[test]
fn ordered_attention_errors() {
    let ctx = common::ctx();
    let perm = Order::Hilbert2d { height: 4, width: 4 }.permutation(16).unwrap();
    // Causal in a non-identity order goes through a block mask; the identity does not need one.
    let causal = AttentionOptions { causal: true, ..Default::default() };
    assert!(OrderedAttention::new(&ctx, causal, &perm).unwrap().mask().is_some());
    assert!(OrderedAttention::new(&ctx, causal, &Permutation::identity(16).unwrap()).unwrap().mask().is_none());
    assert!(matches!(perm.causal_pattern(48), Err(Error::InvalidArgument(_))));
    // Wrong length, cross-attention.
    let attn = OrderedAttention::new(&ctx, AttentionOptions::default(), &perm).unwrap();
    let t = |n: usize| GpuTensor::from_f32(&ctx, &vec![0.5; n * 32], [1, n, 1, 32], Dtype::F32).unwrap();
    assert!(matches!(attn.forward(&t(15), &t(15), &t(15)), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(attn.forward(&t(16), &t(17), &t(17)), Err(Error::ShapeMismatch { .. })));
}

/// The causal pattern in permuted coordinates is exactly "order[j'] <= order[i']", and its
/// blocks are classified soundly (full blocks only where every pair is allowed).
#[test]
fn causal_pattern_in_permuted_order() {
    use ringattn::mask::BlockMask;
    for (order, block) in [(Order::Hilbert2d { height: 9, width: 11 }, 16), (Order::ZOrder3d { depth: 4, height: 5, width: 6 }, 32)] {
        let n = order.tokens().unwrap();
        let perm = order.permutation(n).unwrap();
        let mask = BlockMask::new(&perm.causal_pattern(block).unwrap(), n, n, block).unwrap();
        for i in 0..n {
            for j in 0..n {
                assert_eq!(mask.allows(0, i, j), perm.order()[j] <= perm.order()[i], "{order}: ({i}, {j})");
            }
        }
        assert!(mask.density() < 1.0 && mask.density() > 0.3, "{order}: density {}", mask.density());
    }
}

/// A block mask in the caller's order carried into curve coordinates
/// (`Permutation::mask_patterns`): element for element the same mask through the
/// permutation, per head, at mask and curve block sizes that differ; blocks the caller's
/// mask leaves empty everywhere stay empty (skipped), so the carried mask is not dense.
#[test]
fn block_mask_in_permuted_order() {
    use ringattn::mask::{BlockMask, Pattern};
    use std::sync::Arc;
    for (order, mask_block, block) in
        [(Order::Hilbert2d { height: 13, width: 10 }, 16, 32), (Order::ZOrder3d { depth: 3, height: 5, width: 7 }, 32, 16)]
    {
        let n = order.tokens().unwrap();
        let perm = order.permutation(n).unwrap();
        let user = Arc::new(
            BlockMask::per_head(
                &[Pattern::Window { left: 20, right: 3 }, Pattern::Dilated { segment: 24, rate: 3, offset: 2 }.or(Pattern::Global(2))],
                n,
                n,
                mask_block,
            )
            .unwrap(),
        );
        let carried = BlockMask::per_head(&perm.mask_patterns(&user, block).unwrap(), n, n, block).unwrap();
        let o = perm.order();
        for h in 0..2 {
            for i in 0..n {
                for j in 0..n {
                    assert_eq!(carried.allows(h, i, j), user.allows(h, o[i] as usize, o[j] as usize), "{order} head {h}: ({i}, {j})");
                }
            }
        }
        assert!(carried.density() < 1.0, "{order}: density {}", carried.density());
        // A mask of another length is refused.
        let small = Arc::new(BlockMask::new(&Pattern::All, n - 1, n - 1, 16).unwrap());
        assert!(matches!(perm.mask_patterns(&small, block), Err(Error::ShapeMismatch { .. })));
    }
}

/// A block-sparse pattern along the curve (a window over permuted positions), with and
/// without the caller's causal mask, against the f64 reference under the same element
/// mask mapped back to the caller's order.
#[test]
fn ordered_attention_with_a_pattern_along_the_curve() {
    use ringattn::mask::Pattern;
    let ctx = common::ctx();
    let order = Order::Hilbert2d { height: 10, width: 12 };
    let n = 120;
    let perm = order.permutation(n).unwrap();
    let inv: Vec<usize> = perm.inverse().iter().map(|&x| x as usize).collect();
    let (left, right) = (20usize, 7usize);
    for dtype in dtypes(&ctx) {
        let tiers: Vec<_> = ctx.capabilities().tiers().into_iter().filter(|&t| resolve_tier(&ctx, Some(t), dtype, 32).unwrap() == t).collect();
        for (tier, causal) in tiers.into_iter().flat_map(|t| [(t, false), (t, true)]) {
            let shape = Shape::new(1, n, 2, 32);
            let seed = reference::fresh_seed();
            let x = |s| GpuTensor::from_f32(&ctx, &reference::random_vec(shape.q_len(), s), shape.q_dims(), dtype).unwrap();
            let (qt, kt, vt) = (x(seed), x(seed ^ 1), x(seed ^ 2));
            let opts = AttentionOptions { tier: Some(tier), causal, ..Default::default() };
            let attn = OrderedAttention::with_pattern(&ctx, opts, &perm, Pattern::Window { left, right }, 16).unwrap();
            let out = attn.attention().alloc_output(&qt, &kt, &vt).unwrap();
            out.o.poison(&ctx).unwrap();
            out.lse.poison(&ctx).unwrap();
            attn.forward_into(&qt, &kt, &vt, &out.o, &out.lse).unwrap();
            let (q, k, v) = (qt.to_f32_vec(&ctx).unwrap(), kt.to_f32_vec(&ctx).unwrap(), vt.to_f32_vec(&ctx).unwrap());
            // Caller's positions i, j sit at inv[i], inv[j] along the curve.
            let r = reference::attention_masked(&q, &k, &v, &shape, None, |_, _, i, j| {
                let (pi, pj) = (inv[i] as i64, inv[j] as i64);
                pj >= pi - left as i64 && pj <= pi + right as i64 && (!causal || j <= i)
            });
            let (eo, el) =
                (reference::rel_error(&out.o.to_f32_vec(&ctx).unwrap(), &r.o), reference::lse_max_abs_error(&out.lse.to_vec(&ctx).unwrap(), &r.lse));
            assert!(
                eo < common::tol(dtype) && el < common::lse_tol(dtype),
                "{dtype:?} {tier} causal={causal} seed {seed:#x}: O {eo:.3e}, LSE {el:.3e}"
            );
        }
    }
}

/// A prebuilt per-head block mask along the curve (`with_mask`), with and without the
/// caller's causal mask, against the f64 reference under the mapped element mask.
#[test]
fn ordered_attention_with_a_per_head_mask() {
    use ringattn::mask::{BlockMask, Pattern};
    let ctx = common::ctx();
    let order = Order::ZOrder2d { height: 9, width: 10 };
    let n = 90;
    let perm = order.permutation(n).unwrap();
    let inv: Vec<usize> = perm.inverse().iter().map(|&x| x as usize).collect();
    let mask =
        BlockMask::per_head(&[Pattern::Window { left: 12, right: 12 }, Pattern::Global(5).or(Pattern::Window { left: 3, right: 0 })], n, n, 32)
            .unwrap();
    let shape = Shape::new(2, n, 2, 32);
    for causal in [false, true] {
        let seed = reference::fresh_seed();
        let x = |s| GpuTensor::from_f32(&ctx, &reference::random_vec(shape.q_len(), s), shape.q_dims(), Dtype::F32).unwrap();
        let (qt, kt, vt) = (x(seed), x(seed ^ 1), x(seed ^ 2));
        let attn = OrderedAttention::with_mask(&ctx, AttentionOptions { causal, ..Default::default() }, &perm, &mask).unwrap();
        let out = attn.attention().alloc_output(&qt, &kt, &vt).unwrap();
        out.o.poison(&ctx).unwrap();
        out.lse.poison(&ctx).unwrap();
        attn.forward_into(&qt, &kt, &vt, &out.o, &out.lse).unwrap();
        let (q, k, v) = (qt.to_f32_vec(&ctx).unwrap(), kt.to_f32_vec(&ctx).unwrap(), vt.to_f32_vec(&ctx).unwrap());
        let r = reference::attention_masked(&q, &k, &v, &shape, None, |_, h, i, j| mask.allows(h, inv[i], inv[j]) && (!causal || j <= i));
        let (eo, el) =
            (reference::rel_error(&out.o.to_f32_vec(&ctx).unwrap(), &r.o), reference::lse_max_abs_error(&out.lse.to_vec(&ctx).unwrap(), &r.lse));
        assert!(eo < 1e-5 && el < 1e-4, "causal={causal} seed {seed:#x}: O {eo:.3e}, LSE {el:.3e}");
    }
    let small = BlockMask::new(&Pattern::All, 64, 64, 32).unwrap();
    assert!(matches!(OrderedAttention::with_mask(&ctx, AttentionOptions::default(), &perm, &small), Err(Error::ShapeMismatch { .. })));
}

/// The gather kernel on every adapter wgpu finds (GL included): a permutation round trip.
#[test]
fn gpu_permutation_on_every_adapter() {
    let perm = Order::Hilbert2d { height: 6, width: 5 }.permutation(30).unwrap();
    for ctx in common::contexts() {
        let _gl = common::gl_guard(&ctx);
        let gp = perm.upload(&ctx).unwrap();
        for dims in [[2, 30, 3, 8], [1, 30, 2, 7]] {
            let x = reference::random_vec(dims.iter().product(), reference::fresh_seed());
            let t = GpuTensor::from_f32(&ctx, &x, dims, Dtype::F32).unwrap();
            let f = gp.apply(&ctx, &t, Direction::Forward).unwrap();
            let b = gp.apply(&ctx, &f, Direction::Inverse).unwrap();
            assert_eq!(f.to_f32_vec(&ctx).unwrap(), perm.apply(&x, dims[2] * dims[3]).unwrap(), "{}: {dims:?}", common::label(&ctx));
            assert_eq!(b.to_f32_vec(&ctx).unwrap(), x, "{}: {dims:?}", common::label(&ctx));
        }
    }
}
