//! CPU f64 reference attention: the ground truth for tests, `--check` and examples.
//!
//! Same layout and options as the GPU path: Q (b, n, h, d), K/V (b, m, kv_heads, d),
//! O like Q, LSE (b, h, n) in natural log. A row with no allowed key gets O = 0 and
//! LSE = -inf.

use crate::tensor::Shape;

/// Reference output: O and LSE in f64.
#[derive(Clone, Debug)]
pub struct RefOutput {
    pub o: Vec<f64>,
    pub lse: Vec<f64>,
}

/// Dense or causal (bottom-right aligned) reference attention.
pub fn attention(q: &[f32], k: &[f32], v: &[f32], shape: &Shape, causal: bool, scale: Option<f32>) -> RefOutput {
    let diag = shape.seq_k as i64 - shape.seq_q as i64;
    attention_masked(q, k, v, shape, scale, |_, _, i, j| !causal || (j as i64) <= i as i64 + diag)
}

/// Reference attention under an element mask `allowed(batch, head, query, key)`.
pub fn attention_masked<F>(q: &[f32], k: &[f32], v: &[f32], shape: &Shape, scale: Option<f32>, allowed: F) -> RefOutput
where
    F: Fn(usize, usize, usize, usize) -> bool + Sync,
{
    let rows: Vec<usize> = (0..shape.seq_q).collect();
    attention_rows(q, k, v, shape, scale, &rows, allowed)
}

/// Reference for a subset of query rows only (every batch and head): O has shape
/// (b, rows.len(), h, d) and LSE (b, h, rows.len()). Cheap checks of big problems use this.
pub fn attention_rows<F>(q: &[f32], k: &[f32], v: &[f32], s: &Shape, scale: Option<f32>, rows: &[usize], allowed: F) -> RefOutput
where
    F: Fn(usize, usize, usize, usize) -> bool + Sync,
{
    assert_eq!(q.len(), s.q_len(), "q length");
    assert_eq!(k.len(), s.kv_len(), "k length");
    assert_eq!(v.len(), s.kv_len(), "v length");
    let d = s.head_dim;
    let scale = scale.map(|x| x as f64).unwrap_or(1.0 / (d as f64).sqrt());
    let group = s.group();
    let nr = rows.len();
    let mut o = vec![0.0f64; s.batch * nr * s.heads * d];
    let mut lse = vec![f64::NEG_INFINITY; s.batch * s.heads * nr];
    let jobs: Vec<(usize, usize)> = (0..s.batch).flat_map(|b| (0..s.heads).map(move |h| (b, h))).collect();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(jobs.len()).max(1);
    // Per thread: (batch, head, O rows, LSE rows) of each (batch, head) it computed.
    type HeadRows = (usize, usize, Vec<f64>, Vec<f64>);
    let results: Vec<Vec<HeadRows>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let jobs = &jobs;
                let allowed = &allowed;
                sc.spawn(move || {
                    let mut out = Vec::new();
                    let mut scores = vec![0.0f64; s.seq_k];
                    for &(b, h) in jobs.iter().skip(t).step_by(threads) {
                        let kh = h / group;
                        let mut ob = vec![0.0f64; nr * d];
                        let mut lb = vec![f64::NEG_INFINITY; nr];
                        for (ri, &i) in rows.iter().enumerate() {
                            let qo = ((b * s.seq_q + i) * s.heads + h) * d;
                            let mut mx = f64::NEG_INFINITY;
                            for (j, sj) in scores.iter_mut().enumerate() {
                                if !allowed(b, h, i, j) {
                                    *sj = f64::NEG_INFINITY;
                                    continue;
                                }
                                let ko = ((b * s.seq_k + j) * s.kv_heads + kh) * d;
                                let mut dot = 0.0f64;
                                for x in 0..d {
                                    dot += q[qo + x] as f64 * k[ko + x] as f64;
                                }
                                *sj = dot * scale;
                                mx = mx.max(*sj);
                            }
                            if mx == f64::NEG_INFINITY {
                                continue;
                            }
                            let mut sum = 0.0;
                            let acc = &mut ob[ri * d..(ri + 1) * d];
                            for (j, &sj) in scores.iter().enumerate() {
                                if sj == f64::NEG_INFINITY {
                                    continue;
                                }
                                let p = (sj - mx).exp();
                                sum += p;
                                let vo = ((b * s.seq_k + j) * s.kv_heads + kh) * d;
                                for x in 0..d {
                                    acc[x] += p * v[vo + x] as f64;
                                }
                            }
                            for a in acc.iter_mut() {
                                *a /= sum;
                            }
                            lb[ri] = mx + sum.ln();
                        }
                        out.push((b, h, ob, lb));
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("reference thread")).collect()
    });
    for (b, h, ob, lb) in results.into_iter().flatten() {
        for ri in 0..nr {
            let dst = ((b * nr + ri) * s.heads + h) * d;
            o[dst..dst + d].copy_from_slice(&ob[ri * d..(ri + 1) * d]);
            lse[(b * s.heads + h) * nr + ri] = lb[ri];
        }
    }
    RefOutput { o, lse }
}

/// Whether an error is under a tolerance: `err < tol`, and false when `err` is NaN, so a
/// NaN error never passes a check written as `if !within(err, tol) { fail }`.
pub fn within(err: f64, tol: f64) -> bool {
    err < tol
}

/// ||out - ref|| / ||ref|| (2-norms). NaN or inf anywhere in `out` gives +inf, so a
/// NaN can never pass a tolerance. An all-zero reference compares absolutely.
pub fn rel_error(out: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(out.len(), reference.len(), "rel_error: length mismatch");
    let mut num = 0.0f64;
    let mut den = 0.0f64;
    for (&a, &r) in out.iter().zip(reference) {
        if !a.is_finite() {
            return f64::INFINITY;
        }
        let e = a as f64 - r;
        num += e * e;
        den += r * r;
    }
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}

/// Largest |lse - ref| over rows, treating matching -inf as equal and any other
/// non-finite value as +inf.
pub fn lse_max_abs_error(out: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(out.len(), reference.len(), "lse_max_abs_error: length mismatch");
    let mut worst = 0.0f64;
    for (&a, &r) in out.iter().zip(reference) {
        let e = if r == f64::NEG_INFINITY {
            if a == f32::NEG_INFINITY {
                0.0
            } else {
                f64::INFINITY
            }
        } else if !a.is_finite() {
            f64::INFINITY
        } else {
            (a as f64 - r).abs()
        };
        worst = worst.max(e);
    }
    worst
}

/// Picks rows of a flat (b, n, h, d) tensor: result (b, rows.len(), h, d).
pub fn select_rows(x: &[f32], dims: [usize; 4], rows: &[usize]) -> Vec<f32> {
    let [b, _n, h, d] = dims;
    let mut out = Vec::with_capacity(b * rows.len() * h * d);
    for bi in 0..b {
        for &r in rows {
            let o = ((bi * dims[1] + r) * h) * d;
            out.extend_from_slice(&x[o..o + h * d]);
        }
    }
    out
}

/// Picks rows of a flat (b, h, n) LSE: result (b, h, rows.len()).
pub fn select_lse_rows(x: &[f32], dims: [usize; 3], rows: &[usize]) -> Vec<f32> {
    let [b, h, n] = dims;
    let mut out = Vec::with_capacity(b * h * rows.len());
    for bh in 0..b * h {
        for &r in rows {
            out.push(x[bh * n + r]);
        }
    }
    out
}

/// Fresh random values in [-1, 1) (never zeros-only), from a seed.
pub fn random_vec(len: usize, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// A seed that differs on every call (time and a counter), for "fresh inputs each run".
pub fn fresh_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    t ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
