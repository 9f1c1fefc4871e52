//! The LSE merge kernel (`ringattn::kernels::merge`).
//!
//! * Split the keys of a random problem in two, run (non-causal) attention on each half,
//!   merge the partials on the GPU and compare with the f64 reference of the whole
//!   problem (O and LSE).
//! * Synthetic partials against an f64 host merge, with -inf rows on either or both
//!   sides (one side -inf: the other side comes through unchanged; both: O = 0 and
//!   LSE = -inf, even over NaN garbage in the masked rows) and far-apart LSEs.
//! * Mixed dtypes (f32 accumulator + f16 partial and the reverse) where f16 exists.

mod common;

use std::sync::OnceLock;

use ringattn::kernels::merge;
use ringattn::{reference, Attention, AttentionOptions, Dtype, GpuContext, GpuTensor, LseBuffer, Shape, Tier, SUPPORTED_HEAD_DIMS};

fn contexts() -> &'static [GpuContext] {
    static CTX: OnceLock<Vec<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| {
        let v = common::contexts();
        for c in &v {
            eprintln!("adapter: {} (f16: {})", c.describe(), c.capabilities().shader_f16);
        }
        v
    })
}

fn is_gl(ctx: &GpuContext) -> bool {
    ctx.info().backend == wgpu::Backend::Gl
}

/// Keys [r.start, r.end) of a (b, m, kvh, d) tensor: (b, r.len(), kvh, d).
fn slice_keys(x: &[f32], dims: [usize; 4], r: std::ops::Range<usize>) -> Vec<f32> {
    let [b, m, kvh, d] = dims;
    let row = kvh * d;
    let mut out = Vec::with_capacity(b * r.len() * row);
    for bi in 0..b {
        out.extend_from_slice(&x[(bi * m + r.start) * row..(bi * m + r.end) * row]);
    }
    out
}

/// Rounds through f16 (so inputs are the same in f32 and f16 runs).
fn round_f16(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect()
}

fn tol(dtypes: &[Dtype]) -> (f64, f64) {
    if dtypes.contains(&Dtype::F16) {
        (common::tol(Dtype::F16), common::lse_tol(Dtype::F16))
    } else {
        (common::tol(Dtype::F32), common::lse_tol(Dtype::F32))
    }
}

/// Attention of `s` split over keys at `split`: half 1 in `acc_dtype`, half 2 in
/// `part_dtype`, merged on the GPU into half 1, compared with the full reference.
/// Returns (rel error of O, LSE max abs error).
fn split_and_merge(ctx: &GpuContext, s: Shape, split: usize, acc_dtype: Dtype, part_dtype: Dtype, scale: Option<f32>) -> (f64, f64) {
    let seed = reference::fresh_seed();
    let mut q = reference::random_vec(s.q_len(), seed);
    let mut k = reference::random_vec(s.kv_len(), seed ^ 0x11);
    let mut v = reference::random_vec(s.kv_len(), seed ^ 0x22);
    if acc_dtype == Dtype::F16 || part_dtype == Dtype::F16 {
        (q, k, v) = (round_f16(&q), round_f16(&k), round_f16(&v));
    }
    let kd = s.kv_dims();
    let halves = [(0..split, acc_dtype), (split..s.seq_k, part_dtype)];
    let mut outs = Vec::new();
    for (r, dtype) in halves {
        let hs = s.with_seq_k(r.len());
        let qt = GpuTensor::from_f32(ctx, &q, s.q_dims(), dtype).unwrap();
        let kt = GpuTensor::from_f32(ctx, &slice_keys(&k, kd, r.clone()), hs.kv_dims(), dtype).unwrap();
        let vt = GpuTensor::from_f32(ctx, &slice_keys(&v, kd, r.clone()), hs.kv_dims(), dtype).unwrap();
        let attn = Attention::new(ctx, AttentionOptions { causal: false, scale, tier: Some(Tier::Portable) });
        let out = attn.alloc_output(&qt, &kt, &vt).unwrap();
        out.o.poison(ctx).unwrap();
        out.lse.poison(ctx).unwrap();
        attn.forward_into(&qt, &kt, &vt, &out.o, &out.lse).unwrap();
        outs.push(out);
    }
    let (acc, part) = (&outs[0], &outs[1]);
    merge::merge(ctx, &acc.o, &acc.lse, &part.o, &part.lse).unwrap();
    let o = acc.o.to_f32_vec(ctx).unwrap();
    let lse = acc.lse.to_vec(ctx).unwrap();
    let r = reference::attention(&q, &k, &v, &s, false, scale);
    (reference::rel_error(&o, &r.o), reference::lse_max_abs_error(&lse, &r.lse))
}

fn dtype_pairs(ctx: &GpuContext) -> Vec<(Dtype, Dtype)> {
    if ctx.capabilities().shader_f16 {
        vec![(Dtype::F32, Dtype::F32), (Dtype::F16, Dtype::F16), (Dtype::F32, Dtype::F16), (Dtype::F16, Dtype::F32)]
    } else {
        vec![(Dtype::F32, Dtype::F32)]
    }
}

#[test]
fn split_keys_then_merge_matches_full_attention() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for ctx in contexts() {
        let _g = common::gl_guard(ctx);
        // The merge kernel itself is checked at every head_dim below; here two head dims
        // (one not a multiple of 32) suffice for the attention partials. llvmpipe's GL
        // driver needs 34 s (cold shader cache) to compile the portable kernel at 32 and
        // minutes at 64..128 (see tests/attention.rs), so GL uses 32 only.
        let dims: Vec<usize> = if is_gl(ctx) { vec![32] } else { vec![32, 80] };
        for &d in &dims {
            for (acc, part) in dtype_pairs(ctx) {
                // Uneven split, GQA, lengths that are not tile multiples.
                let s = Shape { batch: 2, seq_q: 23, seq_k: 61, heads: 4, kv_heads: 2, head_dim: d };
                for (split, scale) in [(20, None), (1, Some(0.7))] {
                    let (eo, el) = split_and_merge(ctx, s, split, acc, part, scale);
                    ran += 1;
                    let (to, tl) = tol(&[acc, part]);
                    let msg = format!(
                        "{}: {s:?} split {split} acc {acc:?} part {part:?} scale {scale:?}: rel err O {eo:.3e}, LSE {el:.3e}",
                        common::label(ctx)
                    );
                    eprintln!("{msg}");
                    if !(reference::within(eo, to) && reference::within(el, tl)) {
                        failures.push(msg);
                    }
                }
            }
        }
    }
    assert!(ran > 0);
    assert!(failures.is_empty(), "{} of {ran} merges failed:\n{}", failures.len(), failures.join("\n"));
}

/// f64 host merge of one row set: returns (O, LSE).
fn host_merge(oa: &[f32], la: &[f32], op: &[f32], lp: &[f32], dims: [usize; 4]) -> (Vec<f64>, Vec<f64>) {
    let [b, n, h, d] = dims;
    let mut o = vec![0.0f64; oa.len()];
    let mut l = vec![f64::NEG_INFINITY; la.len()];
    for bi in 0..b {
        for si in 0..n {
            for hi in 0..h {
                let li = (bi * h + hi) * n + si;
                let base = ((bi * n + si) * h + hi) * d;
                let (a, p) = (la[li] as f64, lp[li] as f64);
                let (wa, wp, lse) = match (a == f64::NEG_INFINITY, p == f64::NEG_INFINITY) {
                    (true, true) => (0.0, 0.0, f64::NEG_INFINITY),
                    (true, false) => (0.0, 1.0, p),
                    (false, true) => (1.0, 0.0, a),
                    (false, false) => {
                        let m = a.max(p);
                        let lse = m + ((a - m).exp() + (p - m).exp()).ln();
                        ((a - lse).exp(), (p - lse).exp(), lse)
                    }
                };
                l[li] = lse;
                for x in 0..d {
                    let mut val = 0.0;
                    if wa != 0.0 {
                        val += wa * oa[base + x] as f64;
                    }
                    if wp != 0.0 {
                        val += wp * op[base + x] as f64;
                    }
                    o[base + x] = val;
                }
            }
        }
    }
    (o, l)
}

/// Synthetic partials: random O, LSEs with -inf on either side, both sides, and gaps
/// too large for exp() in f32. Masked rows carry NaN in O, which must not leak.
#[test]
fn synthetic_partials_with_neg_inf() {
    let mut failures = Vec::new();
    for ctx in contexts() {
        let _g = common::gl_guard(ctx);
        let dims: Vec<usize> = if is_gl(ctx) { vec![32, 256] } else { SUPPORTED_HEAD_DIMS.to_vec() };
        for &d in &dims {
            for (acc_t, part_t) in dtype_pairs(ctx) {
                let dims4 = [2, 13, 3, d];
                let [b, n, h, _] = dims4;
                let rows = b * n * h;
                let seed = reference::fresh_seed();
                let mut oa = round_f16(&reference::random_vec(rows * d, seed));
                let mut op = round_f16(&reference::random_vec(rows * d, seed ^ 1));
                let mut la = reference::random_vec(rows, seed ^ 2).iter().map(|x| x * 5.0).collect::<Vec<f32>>();
                let mut lp = reference::random_vec(rows, seed ^ 3).iter().map(|x| x * 5.0).collect::<Vec<f32>>();
                // Row kinds by LSE index: 0 acc -inf, 1 part -inf, 2 both, 3 far apart (+-120), 4 equal.
                let mut kinds = vec![usize::MAX; rows];
                for bi in 0..b {
                    for si in 0..n {
                        for hi in 0..h {
                            let li = (bi * h + hi) * n + si;
                            let base = ((bi * n + si) * h + hi) * d;
                            let kind = (si + hi) % 6;
                            kinds[li] = kind;
                            match kind {
                                0 => {
                                    la[li] = f32::NEG_INFINITY;
                                    oa[base..base + d].fill(f32::NAN);
                                }
                                1 => {
                                    lp[li] = f32::NEG_INFINITY;
                                    op[base..base + d].fill(f32::NAN);
                                }
                                2 => {
                                    la[li] = f32::NEG_INFINITY;
                                    lp[li] = f32::NEG_INFINITY;
                                    oa[base..base + d].fill(f32::NAN);
                                    op[base..base + d].fill(f32::NAN);
                                }
                                3 => {
                                    la[li] = 120.0 * if si % 2 == 0 { 1.0 } else { -1.0 };
                                    lp[li] = -la[li];
                                }
                                4 => lp[li] = la[li],
                                _ => {}
                            }
                        }
                    }
                }
                // The reference merges what the GPU holds (NaN stays NaN; f16 rounding).
                let at = GpuTensor::from_f32(ctx, &oa, dims4, acc_t).unwrap();
                let pt = GpuTensor::from_f32(ctx, &op, dims4, part_t).unwrap();
                let al = LseBuffer::from_f32(ctx, &la, [b, h, n]).unwrap();
                let pl = LseBuffer::from_f32(ctx, &lp, [b, h, n]).unwrap();
                merge::merge(ctx, &at, &al, &pt, &pl).unwrap();
                let o = at.to_f32_vec(ctx).unwrap();
                let l = al.to_vec(ctx).unwrap();
                let (ro, rl) = host_merge(&oa, &la, &op, &lp, dims4);
                let (to, tl) = tol(&[acc_t, part_t]);
                let what = format!("{}: d={d} acc {acc_t:?} part {part_t:?}", common::label(ctx));
                // Exact checks per row kind.
                for bi in 0..b {
                    for si in 0..n {
                        for hi in 0..h {
                            let li = (bi * h + hi) * n + si;
                            let base = ((bi * n + si) * h + hi) * d;
                            let row = &o[base..base + d];
                            let bad = match kinds[li] {
                                2 => l[li] != f32::NEG_INFINITY || row.iter().any(|&x| x != 0.0),
                                0 => l[li] != lp[li],
                                1 => l[li] != la[li],
                                _ => !l[li].is_finite(),
                            } || row.iter().any(|x| !x.is_finite());
                            if bad {
                                failures.push(format!(
                                    "{what}: row b={bi} s={si} h={hi} kind {}: LSE {} (acc {}, part {}), O[..3] {:?}",
                                    kinds[li],
                                    l[li],
                                    la[li],
                                    lp[li],
                                    &row[..3]
                                ));
                            }
                        }
                    }
                }
                let eo = reference::rel_error(&o, &ro);
                let el = reference::lse_max_abs_error(&l, &rl);
                eprintln!("{what}: rel err O {eo:.3e}, LSE {el:.3e}");
                if !(reference::within(eo, to) && reference::within(el, tl)) {
                    failures.push(format!("{what}: rel err O {eo:.3e} (tol {to:.0e}), LSE {el:.3e} (tol {tl:.0e})"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.iter().take(30).cloned().collect::<Vec<_>>().join("\n"));
}

/// Merging into an empty accumulator (all -inf) yields the partial; merging an empty
/// partial leaves the accumulator bit-for-bit unchanged.
#[test]
fn merge_with_empty_side_is_identity() {
    for ctx in contexts() {
        let _g = common::gl_guard(ctx);
        let dims4 = [1, 9, 2, 64];
        let rows = 9 * 2;
        let x = reference::random_vec(rows * 64, reference::fresh_seed());
        let lx = reference::random_vec(rows, reference::fresh_seed());
        let empty_l = vec![f32::NEG_INFINITY; rows];
        let nan_o = vec![f32::NAN; rows * 64];

        // acc empty (NaN O), part = x.
        let acc = GpuTensor::from_f32(ctx, &nan_o, dims4, Dtype::F32).unwrap();
        let acc_l = LseBuffer::from_f32(ctx, &empty_l, [1, 2, 9]).unwrap();
        let part = GpuTensor::from_f32(ctx, &x, dims4, Dtype::F32).unwrap();
        let part_l = LseBuffer::from_f32(ctx, &lx, [1, 2, 9]).unwrap();
        merge::merge(ctx, &acc, &acc_l, &part, &part_l).unwrap();
        assert_eq!(acc.to_f32_vec(ctx).unwrap(), x, "{}: empty acc + part != part", common::label(ctx));
        assert_eq!(acc_l.to_vec(ctx).unwrap(), lx, "{}: empty acc + part: LSE != part LSE", common::label(ctx));

        // acc = x, part empty (NaN O).
        let acc = GpuTensor::from_f32(ctx, &x, dims4, Dtype::F32).unwrap();
        let acc_l = LseBuffer::from_f32(ctx, &lx, [1, 2, 9]).unwrap();
        let part = GpuTensor::from_f32(ctx, &nan_o, dims4, Dtype::F32).unwrap();
        let part_l = LseBuffer::from_f32(ctx, &empty_l, [1, 2, 9]).unwrap();
        merge::merge(ctx, &acc, &acc_l, &part, &part_l).unwrap();
        assert_eq!(acc.to_f32_vec(ctx).unwrap(), x, "{}: acc + empty part != acc", common::label(ctx));
        assert_eq!(acc_l.to_vec(ctx).unwrap(), lx, "{}: acc + empty part: LSE changed", common::label(ctx));

        // Both empty: O = 0 (over NaN), LSE = -inf.
        let acc = GpuTensor::from_f32(ctx, &nan_o, dims4, Dtype::F32).unwrap();
        let acc_l = LseBuffer::from_f32(ctx, &empty_l, [1, 2, 9]).unwrap();
        merge::merge(ctx, &acc, &acc_l, &part, &part_l).unwrap();
        assert!(acc.to_f32_vec(ctx).unwrap().iter().all(|&v| v == 0.0), "{}: both empty: O != 0", common::label(ctx));
        assert!(acc_l.to_vec(ctx).unwrap().iter().all(|&v| v == f32::NEG_INFINITY), "{}: both empty: LSE != -inf", common::label(ctx));
        ctx.check_alive().unwrap();
    }
}

/// Several partial results folded in at once (`encode_merge_parts_in_pass`): 2, 5 and
/// 9 parts (9 take two dispatches where one binds at most 7) against an f64 host merge
/// of all sides, every dtype pair, with rows where the running side, some parts, or
/// every side is empty (NaN in their O, which must not leak), and LSEs far apart.
#[test]
fn many_partials_in_one_pass_match_host_merge() {
    let mut failures = Vec::new();
    for ctx in contexts() {
        let _g = common::gl_guard(ctx);
        let head_dims: &[usize] = if is_gl(ctx) { &[32] } else { &[64, 80, 128] };
        for &d in head_dims {
            for (acc_t, part_t) in dtype_pairs(ctx) {
                for parts in [2usize, 5, 9] {
                    let dims4 = [2, 7, 3, d];
                    let [b, n, h, _] = dims4;
                    let rows = b * n * h;
                    let seed = reference::fresh_seed();
                    // Side 0 is the running one; sides 1.. the parts.
                    let mut os: Vec<Vec<f32>> = (0..=parts).map(|j| round_f16(&reference::random_vec(rows * d, seed ^ (2 * j as u64 + 1)))).collect();
                    let mut ls: Vec<Vec<f32>> =
                        (0..=parts).map(|j| reference::random_vec(rows, seed ^ (2 * j as u64 + 2)).iter().map(|x| x * 6.0).collect()).collect();
                    for bi in 0..b {
                        for si in 0..n {
                            for hi in 0..h {
                                let li = (bi * h + hi) * n + si;
                                let base = ((bi * n + si) * h + hi) * d;
                                for j in 0..=parts {
                                    // Row kinds: 0 every side empty, 1 the running side empty,
                                    // 2 every other part empty, 3 one side far above the rest.
                                    let empty = match (si + hi) % 5 {
                                        0 => true,
                                        1 => j == 0,
                                        2 => j % 2 == 1,
                                        _ => false,
                                    };
                                    if empty {
                                        ls[j][li] = f32::NEG_INFINITY;
                                        os[j][base..base + d].fill(f32::NAN);
                                    } else if (si + hi) % 5 == 3 && j == parts / 2 {
                                        ls[j][li] = 90.0;
                                    }
                                }
                            }
                        }
                    }
                    // f64 host merge of every side at once.
                    let mut ro = vec![0.0f64; rows * d];
                    let mut rl = vec![f64::NEG_INFINITY; rows];
                    for li_row in 0..rows {
                        let (bi, rest) = (li_row / (h * n), li_row % (h * n));
                        let (hi, si) = (rest / n, rest % n);
                        let base = ((bi * n + si) * h + hi) * d;
                        let live: Vec<usize> = (0..=parts).filter(|&j| ls[j][li_row] > f32::NEG_INFINITY).collect();
                        if live.is_empty() {
                            continue;
                        }
                        let m = live.iter().map(|&j| ls[j][li_row] as f64).fold(f64::NEG_INFINITY, f64::max);
                        let lse = m + live.iter().map(|&j| (ls[j][li_row] as f64 - m).exp()).sum::<f64>().ln();
                        rl[li_row] = lse;
                        for &j in &live {
                            let w = (ls[j][li_row] as f64 - lse).exp();
                            for x in 0..d {
                                ro[base + x] += w * os[j][base + x] as f64;
                            }
                        }
                    }
                    let acc = GpuTensor::from_f32(ctx, &os[0], dims4, acc_t).unwrap();
                    let acc_l = LseBuffer::from_f32(ctx, &ls[0], [b, h, n]).unwrap();
                    let pts: Vec<(GpuTensor, LseBuffer)> = (1..=parts)
                        .map(|j| (GpuTensor::from_f32(ctx, &os[j], dims4, part_t).unwrap(), LseBuffer::from_f32(ctx, &ls[j], [b, h, n]).unwrap()))
                        .collect();
                    let refs: Vec<(&GpuTensor, &LseBuffer)> = pts.iter().map(|(o, l)| (o, l)).collect();
                    ctx.submit_with("merge parts test", |enc| {
                        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
                        merge::encode_merge_parts_in_pass(ctx, &mut pass, &acc, &acc_l, &refs)
                    })
                    .unwrap();
                    let o = acc.to_f32_vec(ctx).unwrap();
                    let l = acc_l.to_vec(ctx).unwrap();
                    let what = format!("{}: d={d} acc {acc_t:?} part {part_t:?} parts={parts}", common::label(ctx));
                    let empty_ok = (0..rows).all(|li| rl[li] > f64::NEG_INFINITY || l[li] == f32::NEG_INFINITY);
                    let finite = o.iter().all(|x| x.is_finite()) && (0..rows).all(|li| rl[li] == f64::NEG_INFINITY || l[li].is_finite());
                    let eo = reference::rel_error(&o, &ro);
                    let el = reference::lse_max_abs_error(&l, &rl);
                    let (to, tl) = tol(&[acc_t, part_t]);
                    eprintln!("{what}: rel err O {eo:.3e}, LSE {el:.3e}");
                    if !(empty_ok && finite && reference::within(eo, to) && reference::within(el, tl)) {
                        failures.push(format!(
                            "{what}: rel err O {eo:.3e} (tol {to:.0e}), LSE {el:.3e} (tol {tl:.0e}), empty rows ok {empty_ok}, finite {finite}"
                        ));
                    }
                }
            }
        }
        ctx.check_alive().unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
