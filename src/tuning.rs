//! Per-adapter tile tuning, kept in a small on-disk cache.
//!
//! The first time the matrix tier is used for a head_dim on an adapter, a short search
//! times every candidate tile shape (`flash::MATRIX_CANDIDATES` that fit the adapter,
//! each after untimed runs that bring the GPU to its working clocks)
//! on a (1, 4096, 8, head_dim) f16 problem and keeps the fastest (the built-in shape
//! unless a candidate beats it by 5 % in the same search), keyed by adapter,
//! driver, backend, dtype, head_dim and tier (`matrix`, or `matrix-regs` where the
//! register kernel runs: it has its own candidates). The choice is written to
//! `$RINGATTN_TUNE_CACHE`, else `$XDG_CACHE_HOME/ringattn/tiles.json`, else
//! `~/.cache/ringattn/tiles.json`, and read back by later processes.
//!
//! `RINGATTN_TUNE=0` ignores the cache and skips the search (the built-in defaults are
//! used); CPU adapters never search. `RINGATTN_MATRIX_CFG=mq,w,bk` overrides everything.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::kernels::flash::{self, CausalFrame, FlashArgs, MatrixShape};
use crate::tensor::{Dtype, GpuTensor, LseBuffer, Shape};
use crate::timing::{median, GpuTimer};

/// One cached decision.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TileEntry {
    pub mq: u32,
    pub w: u32,
    pub bk: u32,
    /// Median GPU (or wall) milliseconds of the winner on the search problem.
    pub ms: f64,
    /// Seconds since the Unix epoch when it was measured.
    pub unix_time: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: BTreeMap<String, TileEntry>,
}

/// Result of a search: every candidate's time and the winner.
#[derive(Clone, Debug)]
pub struct TuneReport {
    pub key: String,
    pub timings: Vec<(MatrixShape, f64)>,
    pub best: Option<TileEntry>,
}

/// Where the cache lives.
pub fn cache_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("RINGATTN_TUNE_CACHE") {
        return Some(PathBuf::from(p));
    }
    let base =
        std::env::var("XDG_CACHE_HOME").map(PathBuf::from).ok().or_else(|| std::env::var("HOME").ok().map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("ringattn").join("tiles.json"))
}

/// Whether a missing entry triggers a search (`RINGATTN_TUNE=0|off|false` turns it off).
pub fn search_enabled() -> bool {
    !matches!(std::env::var("RINGATTN_TUNE").as_deref(), Ok("0") | Ok("off") | Ok("false"))
}

/// The cache key: everything the best tile depends on.
pub fn key(ctx: &GpuContext, dtype: Dtype, head_dim: usize, tier: &str) -> String {
    let i = ctx.info();
    format!("{} | {} {} | {:?} | {} | d{} | {}", i.name, i.driver, i.driver_info, i.backend, dtype.name(), head_dim, tier)
}

fn read_cache() -> CacheFile {
    cache_path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(CacheFile { version: 1, entries: BTreeMap::new() })
}

fn write_entry(key: &str, entry: &TileEntry) -> Result<()> {
    let Some(path) = cache_path() else { return Ok(()) };
    let mut cache = read_cache();
    cache.version = 1;
    cache.entries.insert(key.to_string(), entry.clone());
    let io = |e: std::io::Error| Error::Io { path: path.display().to_string(), message: e.to_string() };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = serde_json::to_string_pretty(&cache).map_err(|e| Error::Io { path: path.display().to_string(), message: e.to_string() })?;
    // Write then rename, so a concurrent reader never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// The tuned matrix-tier shape for this adapter and head_dim: from the context's memo,
/// the disk cache, or a search (when enabled). `None` means "use the defaults".
/// `regs`: for the register kernel (`flash_regs.wgsl`, its own candidates and cache
/// entries, tier name `matrix-regs`), else for `flash_matrix.wgsl`.
pub(crate) fn tuned_matrix_shape(ctx: &GpuContext, dtype: Dtype, head_dim: usize, regs: bool) -> Option<MatrixShape> {
    if !search_enabled() {
        return None;
    }
    let k = key(ctx, dtype, head_dim, kind_name(regs));
    if let Some(v) = ctx.tuned_get(&k) {
        return v;
    }
    // Memoize "none" first so a failing search is not retried on every call.
    ctx.tuned_set(&k, None);
    let found = match read_cache().entries.get(&k) {
        Some(e) => Some((e.mq, e.w, e.bk)),
        None if ctx.info().device_type != wgpu::DeviceType::Cpu => match search_kernel(ctx, dtype, head_dim, regs) {
            Ok(r) => r.best.map(|e| {
                let _ = write_entry(&k, &e);
                (e.mq, e.w, e.bk)
            }),
            Err(_) => None,
        },
        None => None,
    };
    ctx.tuned_set(&k, found);
    found
}

/// Times every candidate matrix-tier tile shape for `dtype` that fits this adapter on a
/// (1, 4096, 8, head_dim) problem and returns the timings and the fastest.
/// A candidate whose output differs from the first one's (a broken specialization)
/// is dropped.
/// The kernel searched is the one dense launches of this dtype and head_dim run: the
/// register kernel where it applies (`flash::regs_active`), else `flash_matrix.wgsl`.
pub fn search_matrix(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> Result<TuneReport> {
    search_kernel(ctx, dtype, head_dim, flash::regs_active(ctx, dtype, head_dim))
}

fn kind_name(regs: bool) -> &'static str {
    if regs {
        "matrix-regs"
    } else {
        "matrix"
    }
}

fn search_kernel(ctx: &GpuContext, dtype: Dtype, head_dim: usize, regs: bool) -> Result<TuneReport> {
    let caps = ctx.capabilities();
    let k = key(ctx, dtype, head_dim, kind_name(regs));
    let mut report = TuneReport { key: k, timings: Vec::new(), best: None };
    if !caps.has_coop_16x16_f16_f32() || caps.subgroup_min_size != caps.subgroup_max_size {
        return Ok(report);
    }
    let shape = Shape::new(1, 4096, 8, head_dim);
    let seed = crate::reference::fresh_seed();
    let q = GpuTensor::from_f32(ctx, &crate::reference::random_vec(shape.q_len(), seed), shape.q_dims(), dtype)?;
    let kt = GpuTensor::from_f32(ctx, &crate::reference::random_vec(shape.kv_len(), seed ^ 1), shape.kv_dims(), dtype)?;
    let v = GpuTensor::from_f32(ctx, &crate::reference::random_vec(shape.kv_len(), seed ^ 2), shape.kv_dims(), dtype)?;
    let o = GpuTensor::empty(ctx, shape.q_dims(), dtype)?;
    let lse = LseBuffer::empty(ctx, shape.lse_dims())?;
    let args = FlashArgs { q: &q, k: &kt, v: &v, o: &o, lse: &lse, scale: 1.0 / (head_dim as f32).sqrt(), causal: None::<CausalFrame>, mask: None };
    let timer = GpuTimer::new(ctx);
    // Every candidate's pipeline is built first, then they are timed back to back, in
    // two rounds (the better median of the two counts): GPUs drop their clocks while the
    // host builds a pipeline, and timing each candidate right after its build read some
    // shapes 2.4x slower than `ringattn bench` times them (H100, 2026-11-26: (2,4,16)
    // searched at 0.97 ms, benched at 0.40, so the search kept a 20 % slower shape).
    let lim = &caps.limits;
    let candidates = if regs { flash::REGS_CANDIDATES } else { flash::matrix_candidates(dtype) };
    let preps: Vec<(MatrixShape, flash::Prepared)> = candidates
        .iter()
        .filter_map(|&cand| {
            let cfg = match regs {
                true => flash::regs_config_for(head_dim, cand, lim.max_compute_workgroup_storage_size, lim.max_compute_invocations_per_workgroup),
                false => flash::matrix_config_for(
                    dtype,
                    head_dim,
                    cand,
                    caps.subgroup_min_size,
                    lim.max_compute_workgroup_storage_size,
                    lim.max_compute_invocations_per_workgroup,
                ),
            }?;
            flash::prepare_matrix(ctx, dtype, head_dim, cfg).ok().map(|p| (cand, p))
        })
        .collect();
    // One timed run of `prep`: GPU milliseconds (wall time without timestamps).
    let run_once = |prep: &flash::Prepared| -> Result<Option<f64>> {
        let mut enc = ctx.device().create_command_encoder(&Default::default());
        let t0 = std::time::Instant::now();
        let r = ctx.scoped(|| {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("ringattn tune"),
                timestamp_writes: timer.as_ref().map(|t| t.writes()),
            });
            flash::encode(ctx, &mut pass, prep, &args)
        });
        if !matches!(r, Ok(Ok(()))) {
            return Ok(None);
        }
        if let Some(t) = &timer {
            t.resolve(&mut enc);
        }
        ctx.scoped(|| ctx.queue().submit([enc.finish()]))?;
        ctx.wait()?;
        let wall = t0.elapsed().as_secs_f64();
        Ok(Some(
            match &timer {
                Some(t) => t.read_seconds(ctx)?,
                None => wall,
            } * 1e3,
        ))
    };
    // Busy the GPU a while before the first timing (clocks up).
    if let Some((_, p)) = preps.first() {
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_millis(300) {
            if run_once(p)?.is_none() {
                break;
            }
        }
    }
    let mut first: Option<Vec<f32>> = None;
    let mut best: Option<(MatrixShape, f64)> = None;
    let mut medians: Vec<Option<f64>> = vec![None; preps.len()];
    for _round in 0..2 {
        for (i, (_, prep)) in preps.iter().enumerate() {
            if medians[i] == Some(f64::INFINITY) {
                continue; // failed to encode in the first round
            }
            // Untimed runs for at least 30 ms (and 2 runs), then 5 timed runs.
            let t_warm = std::time::Instant::now();
            let mut samples = Vec::new();
            let mut rep = 0usize;
            let mut failed = false;
            while samples.len() < 5 {
                let Some(ms) = run_once(prep)? else {
                    failed = true;
                    break;
                };
                if rep >= 2 && t_warm.elapsed() >= std::time::Duration::from_millis(30) {
                    samples.push(ms);
                }
                rep += 1;
            }
            if failed {
                medians[i] = Some(f64::INFINITY);
                continue;
            }
            let m = median(&samples);
            medians[i] = Some(medians[i].map_or(m, |x: f64| x.min(m)));
        }
    }
    for ((cand, prep), ms) in preps.iter().zip(medians) {
        let Some(ms) = ms.filter(|m| m.is_finite()) else { continue };
        // Same function for every candidate: compare with the first one's output.
        run_once(prep)?;
        let out = o.to_f32_vec(ctx)?;
        if out.iter().any(|x| !x.is_finite()) {
            continue;
        }
        match &first {
            None => first = Some(out),
            Some(f) => {
                let num: f64 = f.iter().zip(&out).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
                let den: f64 = f.iter().map(|a| (*a as f64).powi(2)).sum();
                if (num / den.max(1e-30)).sqrt() > 1e-2 {
                    continue;
                }
            }
        }
        report.timings.push((*cand, ms));
        if best.is_none_or(|(_, b)| ms < b) {
            best = Some((*cand, ms));
        }
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let default = if regs { flash::default_regs_shape(head_dim) } else { flash::default_matrix_shape(dtype, head_dim) };
    report.best = keep_default_unless_faster(best, &report.timings, default).map(|((mq, w, bk), ms)| TileEntry { mq, w, bk, ms, unix_time: now });
    Ok(report)
}

/// A candidate replaces the built-in shape only when it is at least `TUNE_MARGIN`
/// faster than it in the same search: one noisy search (clocks, another tenant) must
/// not pin a worse shape in the cache for good.
const TUNE_MARGIN: f64 = 0.05;

fn keep_default_unless_faster(best: Option<(MatrixShape, f64)>, timings: &[(MatrixShape, f64)], default: MatrixShape) -> Option<(MatrixShape, f64)> {
    let (shape, ms) = best?;
    match timings.iter().find(|(s, _)| *s == default) {
        Some(&(_, d)) if shape != default && ms > d * (1.0 - TUNE_MARGIN) => Some((default, d)),
        _ => Some((shape, ms)),
    }
}

/// Runs the search for `dtype` and `head_dim` now (ignoring any cached entry), stores
/// the winner in the cache and in the context, and returns the report.
pub fn tune(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> Result<TuneReport> {
    let r = search_matrix(ctx, dtype, head_dim)?;
    if let Some(e) = &r.best {
        write_entry(&r.key, e)?;
        ctx.tuned_set(&r.key, Some((e.mq, e.w, e.bk)));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_must_beat_the_default_by_the_margin() {
        let d = (2, 4, 32);
        let t = [((1, 4, 32), 0.97), (d, 1.0), ((1, 8, 32), 1.2)];
        // 3 % faster: within the margin, the default stays.
        assert_eq!(keep_default_unless_faster(Some(((1, 4, 32), 0.97)), &t, d), Some((d, 1.0)));
        // 10 % faster: the candidate wins.
        let t2 = [((1, 4, 32), 0.9), (d, 1.0)];
        assert_eq!(keep_default_unless_faster(Some(((1, 4, 32), 0.9)), &t2, d), Some(((1, 4, 32), 0.9)));
        // The default did not run (did not fit): the fastest stands.
        assert_eq!(keep_default_unless_faster(Some(((1, 4, 32), 0.97)), &t[..1], d), Some(((1, 4, 32), 0.97)));
        assert_eq!(keep_default_unless_faster(None, &t, d), None);
    }
}
