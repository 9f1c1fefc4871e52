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
//! The subgroup tier's search (`search_subgroup`, tier name `subgroup`) times its shuffle
//! kernel (`flash_subgroup.wgsl`, the default) in its built-in shape and the other
//! candidate shapes (`flash::shuffle_candidates`), and the register-tiled kernel
//! (`flash_tiled.wgsl`), on a (2, 8192, 8, head_dim) problem (`SUBGROUP_SEARCH`) in the
//! dtype at hand; another shape, or the tiled kernel, must win by the same margin. Where
//! the shuffle kernel is picked, the search also measures its wave (`measure_wave`: how
//! many of its workgroups the GPU runs at once, from the times of launches of w
//! workgroups: its cores times the workgroups each holds), the unit of the key-split rule
//! (`flash::key_splits_to_fill`), kept in the same entry.
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
    /// Matrix tier: 16-row blocks per subgroup, subgroups, keys per tile (0 in
    /// subgroup-tier entries).
    pub mq: u32,
    pub w: u32,
    pub bk: u32,
    /// Subgroup tier: the kernel the search picked (`shuffle` or `tiled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Subgroup tier, `shuffle`: the shape picked instead of the built-in one, as [query
    /// rows per workgroup, keys per tile, lanes per row, rows per row group] (absent:
    /// the built-in shape, so entries follow the library's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<[u32; 4]>,
    /// Subgroup tier, `shuffle`: invocations of the picked kernel that run at once on
    /// this adapter (whole workgroups; [`measure_wave`]), the wave of the key-split rule
    /// (`flash::key_splits_to_fill`); absent where not measured (the rule then assumes
    /// `flash::SMALL_GRID_INVOCATIONS`, an H100's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<u64>,
    /// Subgroup tier, `shuffle`: the cores the wave measurement found (workgroups that
    /// run one per core before any core takes a second: an H100's 132 SMs), the
    /// small-grid rule's measure of a full launch (`flash::small_grid_workgroups`);
    /// absent where not measured (the rule then takes `flash::SMALL_GRID_WORKGROUPS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u64>,
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
    format!("{}{} | d{} | {}", adapter_prefix(ctx), dtype.name(), head_dim, tier)
}

/// The adapter's part of a cache key (name, driver, backend).
fn adapter_prefix(ctx: &GpuContext) -> String {
    let i = ctx.info();
    format!("{} | {} {} | {:?} | ", i.name, i.driver, i.driver_info, i.backend)
}

/// The cache's entries for this adapter (as `ringattn info` lists them): the rest of each
/// key (dtype, head_dim, tier) and the entry. Reads the cache file; searches nothing.
pub fn cached_for(ctx: &GpuContext) -> Vec<(String, TileEntry)> {
    let prefix = adapter_prefix(ctx);
    read_cache().entries.into_iter().filter_map(|(k, e)| Some((k.strip_prefix(&prefix)?.to_string(), e))).collect()
}

impl TileEntry {
    /// The pick in words: the subgroup tier's kernel (and shape, and wave), or the
    /// matrix tier's tiles; and its time on the search problem.
    pub fn describe(&self) -> String {
        let pick = match (self.variant.as_deref(), self.shape) {
            (Some(v), Some([bq, bk, r, m])) => format!("{v} bq={bq} bk={bk} r={r} m={m}"),
            (Some("shuffle"), None) => "shuffle (built-in shape)".to_string(),
            (Some(v), None) => v.to_string(),
            (None, _) => format!("rows/subgroup {}, subgroups {}, keys/tile {}", 16 * self.mq, self.w, self.bk),
        };
        let wave = self.wave.map(|w| format!(", wave {w} invocations")).unwrap_or_default();
        let cores = self.cores.map(|c| format!(", {c} cores")).unwrap_or_default();
        format!("{pick}{wave}{cores} ({:.4} ms)", self.ms)
    }
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

/// The tuned matrix-tier shape for this adapter and head_dim (see [`tuned_entry`]).
/// `None` means "use the defaults". `regs`: for the register kernel (`flash_regs.wgsl`,
/// its own candidates and cache entries, tier name `matrix-regs`), else for
/// `flash_matrix.wgsl`.
pub(crate) fn tuned_matrix_shape(ctx: &GpuContext, dtype: Dtype, head_dim: usize, regs: bool) -> Option<MatrixShape> {
    let k = key(ctx, dtype, head_dim, kind_name(regs));
    tuned_entry(ctx, &k, || Ok(search_kernel(ctx, dtype, head_dim, regs)?.best)).map(|e| (e.mq, e.w, e.bk))
}

/// The entry for cache key `k`: from the context's memo, the disk cache, or `search`
/// (GPU adapters only; its winner is written to the cache). `None` with the search off
/// (`RINGATTN_TUNE=0`) or when nothing was found; a failing search is not retried in
/// this context.
fn tuned_entry(ctx: &GpuContext, k: &str, search: impl FnOnce() -> Result<Option<TileEntry>>) -> Option<TileEntry> {
    if !search_enabled() {
        return None;
    }
    if let Some(v) = ctx.tuned_get(k) {
        return v;
    }
    // Memoize "none" first so a failing search is not retried on every call.
    ctx.tuned_set(k, None);
    let found = match read_cache().entries.get(k) {
        Some(e) => Some(e.clone()),
        None if ctx.info().device_type != wgpu::DeviceType::Cpu => search().ok().flatten().inspect(|e| {
            let _ = write_entry(k, e);
        }),
        None => None,
    };
    ctx.tuned_set(k, found.clone());
    found
}

/// Stores a search's winner (if any) under `k`, in the cache and in the context.
fn store(ctx: &GpuContext, k: &str, best: &Option<TileEntry>) -> Result<()> {
    if let Some(e) = best {
        write_entry(k, e)?;
        ctx.tuned_set(k, Some(e.clone()));
    }
    Ok(())
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
    let problem = Problem::new(ctx, Shape::new(1, 4096, 8, head_dim), dtype)?;
    // Every candidate's pipeline is built first, then they are timed back to back, in
    // two rounds (the better median of the two counts): GPUs drop their clocks while the
    // host builds a pipeline, and timing each candidate right after its build read some
    // shapes 2.4x slower than `ringattn bench` times them (H100, 2026-11-26: (2,4,16)
    // searched at 0.97 ms, benched at 0.40, so the search kept a 20 % slower shape).
    let lim = &caps.limits;
    let candidates = if regs { flash::REGS_CANDIDATES } else { flash::matrix_candidates(dtype) };
    // Built on several threads (the driver compiles in the calling thread).
    let built = crate::context::par_map(candidates, |&cand| {
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
    });
    let preps: Vec<(MatrixShape, flash::Prepared)> = built.into_iter().flatten().collect();
    let mut best: Option<(MatrixShape, f64)> = None;
    let medians = time_candidates(ctx, &problem, preps.iter().map(|(_, p)| p))?;
    for ((cand, _), ms) in preps.iter().zip(medians) {
        let Some(ms) = ms else { continue };
        report.timings.push((*cand, ms));
        if best.is_none_or(|(_, b)| ms < b) {
            best = Some((*cand, ms));
        }
    }
    let now = unix_now();
    let default = if regs { flash::default_regs_shape(head_dim) } else { flash::default_matrix_shape(dtype, head_dim) };
    let mut pick = keep_default_unless_faster(best, &report.timings, default);
    // A shape other than the built-in one must win a second, head-to-head timing too.
    if let Some((shape, _)) = pick.filter(|(s, _)| *s != default) {
        let prep = |want: MatrixShape| preps.iter().find(|(s, _)| *s == want).map(|(_, p)| p);
        if let (Some(d), Some(p)) = (prep(default), prep(shape)) {
            if let Some((d_ms, p_ms)) = confirmed(ctx, &problem, d, p)? {
                pick = keep_default_unless_faster(Some((shape, p_ms)), &[(default, d_ms)], default);
            }
        }
    }
    report.best = pick.map(|((mq, w, bk), ms)| TileEntry { mq, w, bk, variant: None, shape: None, wave: None, cores: None, ms, unix_time: now });
    Ok(report)
}

/// A second timing of a search's pick against the built-in choice, the two timed again
/// together: their new times (built-in, pick), or `None` when either failed. The pick
/// stands only if it still wins by `TUNE_MARGIN`: one noisy reading of the built-in
/// choice (clocks, another tenant; an H100 search read the register kernel's default
/// shape at 0.27 ms against its usual 0.18) must not pin a slower shape in the cache.
fn confirmed(ctx: &GpuContext, problem: &Problem, default: &flash::Prepared, pick: &flash::Prepared) -> Result<Option<(f64, f64)>> {
    let t = time_candidates(ctx, problem, [default, pick].into_iter())?;
    Ok(t[0].zip(t[1]))
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The search problem: fresh random q, k, v of `shape` in `dtype`, and o / lse.
struct Problem {
    q: GpuTensor,
    k: GpuTensor,
    v: GpuTensor,
    o: GpuTensor,
    lse: LseBuffer,
    scale: f32,
}

impl Problem {
    fn new(ctx: &GpuContext, shape: Shape, dtype: Dtype) -> Result<Self> {
        let seed = crate::reference::fresh_seed();
        let rand = |n: usize, s: u64, dims: [usize; 4]| GpuTensor::from_f32(ctx, &crate::reference::random_vec(n, s), dims, dtype);
        Ok(Problem {
            q: rand(shape.q_len(), seed, shape.q_dims())?,
            k: rand(shape.kv_len(), seed ^ 1, shape.kv_dims())?,
            v: rand(shape.kv_len(), seed ^ 2, shape.kv_dims())?,
            o: GpuTensor::empty(ctx, shape.q_dims(), dtype)?,
            lse: LseBuffer::empty(ctx, shape.lse_dims())?,
            scale: 1.0 / (shape.head_dim as f32).sqrt(),
        })
    }

    fn args(&self) -> FlashArgs<'_> {
        FlashArgs { q: &self.q, k: &self.k, v: &self.v, o: &self.o, lse: &self.lse, scale: self.scale, causal: None::<CausalFrame>, mask: None }
    }
}

/// One launch of `prep` on `args`, submitted and waited for: GPU milliseconds from
/// `timer`'s timestamps (wall milliseconds without one), or `None` where it failed to
/// encode.
fn run_timed(ctx: &GpuContext, timer: Option<&GpuTimer>, prep: &flash::Prepared, args: &FlashArgs<'_>) -> Result<Option<f64>> {
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    let t0 = std::time::Instant::now();
    let r = ctx.scoped(|| {
        let mut pass =
            enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("ringattn tune"), timestamp_writes: timer.map(|t| t.writes()) });
        flash::encode(ctx, &mut pass, prep, args)
    });
    if !matches!(r, Ok(Ok(()))) {
        return Ok(None);
    }
    if let Some(t) = timer {
        t.resolve(&mut enc);
    }
    ctx.scoped(|| ctx.queue().submit([enc.finish()]))?;
    ctx.wait()?;
    let wall = t0.elapsed().as_secs_f64();
    Ok(Some(
        match timer {
            Some(t) => t.read_seconds(ctx)?,
            None => wall,
        } * 1e3,
    ))
}

/// Times prepared kernels on `problem`, all built before the first timing: after 300 ms
/// of untimed runs of the first (clocks up), two rounds over every candidate of
/// untimed runs for at least 30 ms (and 2 runs), then 5 timed runs; a candidate's time
/// is the better median of its two rounds (GPU ms from timestamp queries, else wall
/// time). `None` for a candidate that failed to encode, wrote a non-finite output or
/// one that differs from the first good candidate's (a broken specialization).
fn time_candidates<'a>(ctx: &GpuContext, problem: &Problem, preps: impl Iterator<Item = &'a flash::Prepared>) -> Result<Vec<Option<f64>>> {
    let preps: Vec<&flash::Prepared> = preps.collect();
    let args = problem.args();
    let timer = GpuTimer::new(ctx);
    let run_once = |prep: &flash::Prepared| run_timed(ctx, timer.as_ref(), prep, &args);
    // Busy the GPU a while before the first timing (clocks up).
    if let Some(p) = preps.first() {
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_millis(300) {
            if run_once(p)?.is_none() {
                break;
            }
        }
    }
    let mut medians: Vec<Option<f64>> = vec![None; preps.len()];
    for _round in 0..2 {
        for (i, prep) in preps.iter().enumerate() {
            if medians[i] == Some(f64::INFINITY) {
                continue; // failed to encode in the first round
            }
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
    let mut first: Option<Vec<f32>> = None;
    let mut out_ms = Vec::with_capacity(preps.len());
    for (prep, ms) in preps.iter().zip(medians) {
        let Some(ms) = ms.filter(|m| m.is_finite()) else {
            out_ms.push(None);
            continue;
        };
        // Same function for every candidate: compare with the first one's output.
        run_once(prep)?;
        let out = problem.o.to_f32_vec(ctx)?;
        let same = out.iter().all(|x| x.is_finite())
            && match &first {
                None => true,
                Some(f) => {
                    let num: f64 = f.iter().zip(&out).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
                    let den: f64 = f.iter().map(|a| (*a as f64).powi(2)).sum();
                    (num / den.max(1e-30)).sqrt() <= 1e-2
                }
            };
        if same && first.is_none() {
            first = Some(out);
        }
        out_ms.push(same.then_some(ms));
    }
    Ok(out_ms)
}

/// A candidate replaces the built-in shape only when it is at least `TUNE_MARGIN`
/// faster than it in the same search: one noisy search (clocks, another tenant) must
/// not pin a worse shape in the cache for good.
const TUNE_MARGIN: f64 = 0.05;

/// Whether a time of `ms` beats the built-in choice's `default_ms` by `TUNE_MARGIN`
/// (the one rule of both searches and of their second timings).
fn beats(ms: f64, default_ms: f64) -> bool {
    ms < default_ms * (1.0 - TUNE_MARGIN)
}

fn keep_default_unless_faster<S: PartialEq + Copy>(best: Option<(S, f64)>, timings: &[(S, f64)], default: S) -> Option<(S, f64)> {
    let (shape, ms) = best?;
    match timings.iter().find(|(s, _)| *s == default) {
        Some(&(_, d)) if shape != default && !beats(ms, d) => Some((default, d)),
        _ => Some((shape, ms)),
    }
}

/// Result of a subgroup-tier search: each kernel's time and the winner (`variant` set).
#[derive(Clone, Debug)]
pub struct SubgroupReport {
    pub key: String,
    pub timings: Vec<(flash::TileConfig, f64)>,
    pub best: Option<TileEntry>,
}

/// What the subgroup tier's search picked for an adapter, dtype and head_dim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubgroupPick {
    /// The shuffle kernel, in the given shape ([`TileEntry::shape`]) or, `None`, the
    /// built-in one.
    Shuffle(Option<[u32; 4]>),
    /// The register-tiled kernel (`flash_tiled.wgsl`) in its built-in tiles.
    Tiled,
}

/// The subgroup tier's pick for `dtype` and `head_dim` on this adapter (see
/// [`tuned_entry`], tier name `subgroup`); `None` on CPU adapters, where the tier does
/// not run, or with the search off.
pub(crate) fn tuned_subgroup(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> Option<SubgroupPick> {
    let k = key(ctx, dtype, head_dim, "subgroup");
    tuned_entry(ctx, &k, || Ok(search_subgroup(ctx, dtype, head_dim)?.best)).map(|e| subgroup_pick(&e))
}

/// A cache entry of tier `subgroup` as a pick (entries from before the shape search have
/// no shape: the built-in one).
fn subgroup_pick(e: &TileEntry) -> SubgroupPick {
    match e.variant.as_deref() {
        Some("tiled") => SubgroupPick::Tiled,
        _ => SubgroupPick::Shuffle(e.shape),
    }
}

/// Batch and sequence length of the subgroup tier's search problem (8 heads): 2048
/// workgroups of 64 rows, as many as one sequence of 16384 tokens launches, so both
/// kernels fill the GPU as they do at long sequences (at (1, 4096) the grid is a single
/// wave on an H100 and the kernels tie), each walking 8192 keys. On an H100 (f32,
/// head_dim 64) the tiled kernel was 5 % faster at (4, 4096), the search's earlier
/// problem, where its per-workgroup setup (Q^T) weighs more, and 9 % at (1, 16384).
pub const SUBGROUP_SEARCH: (usize, usize) = (2, 8192);

/// Times the subgroup tier's shuffle kernel in its built-in shape and the other shapes
/// of [`flash::shuffle_candidates`] (tile shapes, rows per group, invocations per
/// workgroup), and its register-tiled kernel (where that fits), on a `SUBGROUP_SEARCH`
/// problem. Another shuffle shape replaces the built-in one only when it is at least
/// `TUNE_MARGIN` faster, twice (a second timing of the two confirms it); the tiled
/// kernel is picked only when it beats the best shuffle shape by the same margin, twice.
/// Nothing is searched on CPU adapters or where the tier does not run.
pub fn search_subgroup(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> Result<SubgroupReport> {
    let mut report = SubgroupReport { key: key(ctx, dtype, head_dim, "subgroup"), timings: Vec::new(), best: None };
    if !ctx.capabilities().tiers().contains(&crate::kernels::Tier::Subgroup) || ctx.info().device_type == wgpu::DeviceType::Cpu {
        return Ok(report);
    }
    let problem = Problem::new(ctx, Shape::new(SUBGROUP_SEARCH.0, SUBGROUP_SEARCH.1, 8, head_dim), dtype)?;
    let shuffles = flash::shuffle_candidates(ctx, dtype, head_dim);
    let builtin = shuffles[0];
    let cfgs: Vec<flash::TileConfig> = shuffles.into_iter().chain(flash::tiled_config(ctx, head_dim, u32::MAX)).collect();
    let built = crate::context::par_map(&cfgs, |&cfg| flash::prepare_subgroup_with(ctx, dtype, head_dim, cfg).ok().map(|p| (cfg, p)));
    let preps: Vec<(flash::TileConfig, flash::Prepared)> = built.into_iter().flatten().collect();
    let medians = time_candidates(ctx, &problem, preps.iter().map(|(_, p)| p))?;
    report.timings = preps.iter().zip(medians).filter_map(|((cfg, _), ms)| Some((*cfg, ms?))).collect();
    let prep_of = |c: &flash::TileConfig| preps.iter().find(|(p, _)| p == c).map(|(_, p)| p);
    let tiled_cfg = |c: &flash::TileConfig| matches!(c.variant, flash::SgVariant::Tiled { .. });
    // The shuffle kernel: the built-in shape unless another beats it by the margin, twice.
    let shuffles: Vec<(flash::TileConfig, f64)> = report.timings.iter().filter(|(c, _)| !tiled_cfg(c)).copied().collect();
    let fastest = shuffles.iter().min_by(|a, b| a.1.total_cmp(&b.1)).copied();
    let mut shuffle = keep_default_unless_faster(fastest, &shuffles, builtin);
    if let (Some((c, _)), Some(&(_, d_ms))) = (shuffle, shuffles.iter().find(|(c, _)| *c == builtin)) {
        if let (true, Some(d), Some(p)) = (c != builtin, prep_of(&builtin), prep_of(&c)) {
            if !confirmed(ctx, &problem, d, p)?.is_some_and(|(d2, p2)| beats(p2, d2)) {
                shuffle = Some((builtin, d_ms));
            }
        }
    }
    let tiled = report.timings.iter().find(|(c, _)| tiled_cfg(c)).copied();
    let mut pick = pick_subgroup(shuffle.map(|s| s.1), tiled.map(|t| t.1));
    // The tiled kernel must win a second timing too (see `confirmed`).
    if let (Some(("tiled", _)), Some((s, _)), Some((t, _))) = (pick, shuffle, tiled) {
        if let (Some(sp), Some(tp)) = (prep_of(&s), prep_of(&t)) {
            if let Some((s_ms, t_ms)) = confirmed(ctx, &problem, sp, tp)? {
                pick = pick_subgroup(Some(s_ms), Some(t_ms));
            }
        }
    }
    // A shuffle pick other than the built-in shape is stored with its shape, and the
    // shuffle kernel's wave (the key-split rule's) is measured in the picked shape.
    let shape = shuffle.filter(|(c, _)| *c != builtin).map(|(c, _)| [c.bq, c.bk, c.r, c.m]);
    let steps = match (pick, shuffle.and_then(|(c, _)| prep_of(&c))) {
        // A failed measurement leaves the built-in wave and cores (the pick stands).
        (Some(("shuffle", _)), Some(p)) => measure_wave(ctx, dtype, head_dim, p).ok().flatten().map(|s| (s, p.cfg.invocations() as u64)),
        _ => None,
    };
    let (wave, cores) = (steps.map(|(s, per_wg)| s.workgroups() * per_wg), steps.map(|(s, _)| s.cores));
    report.best = pick.map(|(v, ms)| TileEntry {
        mq: 0,
        w: 0,
        bk: 0,
        variant: Some(v.to_string()),
        shape: if v == "shuffle" { shape } else { None },
        wave: if v == "shuffle" { wave } else { None },
        cores: if v == "shuffle" { cores } else { None },
        ms,
        unix_time: unix_now(),
    });
    Ok(report)
}

/// Keys each workgroup of a wave probe walks ([`measure_wave`]): about 0.25-0.5 ms of
/// work for one workgroup on an H100 (head_dims 64-128), well over a launch's overhead.
pub const WAVE_PROBE_KEYS: usize = 2048;

/// The most workgroups a wave probe launches ([`measure_wave`]); a GPU that runs more at
/// once keeps the built-in wave.
pub const WAVE_MAX_WORKGROUPS: u64 = 1024;

/// A launch that takes this many times a one-workgroup launch puts two workgroups on
/// some core ([`wave_workgroups`]'s first step: the cores' count).
pub const WAVE_FIRST_STEP: f64 = 1.25;

/// One more workgroup past k per core that adds this many one-workgroup times waits for
/// a slot ([`wave_workgroups`]): the cores hold k at once. Workgroups that share a core
/// add less (on an H100 the head_dim 32 kernel ran two per SM in 1.6 times one's time).
pub const WAVE_FULL_STEP: f64 = 0.75;

/// The most workgroups per core [`wave_workgroups`] looks for.
pub const WAVE_MAX_PER_CORE: u64 = 16;

/// What a wave measurement found ([`wave_workgroups`]): the cores (workgroups that run
/// one per core before any core takes a second) and the workgroups each core holds at
/// once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaveSteps {
    pub cores: u64,
    pub per_core: u64,
}

impl WaveSteps {
    /// Workgroups that run at once: the wave in workgroups.
    pub fn workgroups(&self) -> u64 {
        self.cores * self.per_core
    }
}

/// How many workgroups of `prep` run at once on this adapter (the wave: times `prep`'s
/// invocations per workgroup, the key-split rule's unit), from the times of launches of
/// w workgroups, each walking [`WAVE_PROBE_KEYS`] keys (one head, `w` query tiles; the
/// best of three runs after one untimed): the cores' count, where a launch first takes
/// longer than one workgroup, times the workgroups a core holds, where one more adds a
/// whole workgroup's time ([`wave_workgroups`]). `None` where that does not show up to
/// [`WAVE_MAX_WORKGROUPS`] (or as many as one binding of Q holds) or a launch failed.
/// The workgroups are the ones of `prep`; a small grid's halved ones may fit more.
pub fn measure_wave(ctx: &GpuContext, dtype: Dtype, head_dim: usize, prep: &flash::Prepared) -> Result<Option<WaveSteps>> {
    let bq = prep.cfg.bq as usize;
    let seed = crate::reference::fresh_seed();
    let kv = Shape::new(1, WAVE_PROBE_KEYS, 1, head_dim);
    let rand = |s: u64| GpuTensor::from_f32(ctx, &crate::reference::random_vec(kv.q_len(), s), kv.q_dims(), dtype);
    let (k, v) = (rand(seed ^ 1)?, rand(seed ^ 2)?);
    // As many workgroups as a binding of Q holds, at most WAVE_MAX_WORKGROUPS.
    let row_bytes = (head_dim as u64 * dtype.size()).max(1);
    let max = WAVE_MAX_WORKGROUPS.min(ctx.capabilities().limits.max_storage_buffer_binding_size / row_bytes / bq as u64);
    let timer = GpuTimer::new(ctx);
    // Q, O and LSE of the largest launch so far (allocated, and Q filled, once per size
    // the doubling reaches), viewed at each launch's size.
    let bufs: std::cell::RefCell<Option<(usize, GpuTensor, GpuTensor, LseBuffer)>> = Default::default();
    let probe = |w: u64| -> Result<Option<f64>> {
        let s = Shape { seq_q: bq * w as usize, ..kv };
        let mut kept = bufs.borrow_mut();
        if kept.as_ref().is_none_or(|(rows, ..)| *rows < s.seq_q) {
            let q = GpuTensor::from_f32(ctx, &crate::reference::random_vec(s.q_len(), seed), s.q_dims(), dtype)?;
            *kept = Some((s.seq_q, q, GpuTensor::empty(ctx, s.q_dims(), dtype)?, LseBuffer::empty(ctx, s.lse_dims())?));
        }
        let Some((_, q_all, o_all, lse_all)) = kept.as_ref() else { return Ok(None) };
        let q = GpuTensor::from_buffer(q_all.buffer().clone(), s.q_dims(), dtype)?;
        let o = GpuTensor::from_buffer(o_all.buffer().clone(), s.q_dims(), dtype)?;
        let lse = LseBuffer::from_buffer(lse_all.buffer().clone(), s.lse_dims())?;
        let args = FlashArgs { q: &q, k: &k, v: &v, o: &o, lse: &lse, scale: 1.0 / (head_dim as f32).sqrt(), causal: None, mask: None };
        let mut best = f64::INFINITY;
        for rep in 0..4 {
            let Some(ms) = run_timed(ctx, timer.as_ref(), prep, &args)? else { return Ok(None) };
            if rep > 0 {
                best = best.min(ms);
            }
        }
        Ok(Some(best))
    };
    // Clocks up first (as the searches do).
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_millis(200) {
        if probe(max.clamp(1, 64))?.is_none() {
            return Ok(None);
        }
    }
    let mut failed = false;
    let found = wave_workgroups(
        |w| {
            let t = probe(w)?;
            failed |= t.is_none();
            Ok(t.unwrap_or(f64::INFINITY))
        },
        max,
    )?;
    Ok(found.filter(|_| !failed))
}

/// The workgroups a GPU runs at once, from `time(w)`, the time of a launch of `w`
/// workgroups of equal work (t1 = `time(1)`). First the cores (c): w doubled while a
/// launch takes at most [`WAVE_FIRST_STEP`] t1, then bisection to the last such w (one
/// workgroup per core; the next puts two on one). Then workgroups per core k = 1, 2, ...:
/// while k c + 1 workgroups take less than [`WAVE_FULL_STEP`] t1 longer than k c, the
/// extra one shares a core that runs it alongside (the core gains throughput); the
/// first k where it adds nearly a whole t1 is the cores' hold (it waits for a slot),
/// and k c is the wave: the unit in which more work costs whole rounds, as the split
/// rule models it. (On an H100: 132 SMs; one workgroup of the head_dim 64 and 128
/// kernels per SM, three of the head_dim 32 one, whose registers allow them and whose
/// second and third still add throughput.) `None` when no launch up to `max`
/// workgroups is slower, or no full step shows within [`WAVE_MAX_PER_CORE`] per core.
pub fn wave_workgroups(mut time: impl FnMut(u64) -> Result<f64>, max: u64) -> Result<Option<WaveSteps>> {
    let mut seen = std::collections::BTreeMap::new();
    let mut at = |w: u64| -> Result<f64> {
        if let Some(&t) = seen.get(&w) {
            return Ok(t);
        }
        let t = time(w)?;
        seen.insert(w, t);
        Ok(t)
    };
    let t1 = at(1)?;
    let slow = |t: f64| t.is_nan() || t > t1 * WAVE_FIRST_STEP;
    let (mut lo, mut hi) = (1u64, None);
    let mut w = 2u64;
    while w <= max {
        if slow(at(w)?) {
            hi = Some(w);
            break;
        }
        lo = w;
        w *= 2;
    }
    let Some(mut hi) = hi else { return Ok(None) };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if slow(at(mid)?) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let cores = lo;
    for k in 1..=WAVE_MAX_PER_CORE {
        let w = k * cores;
        if w + 1 > max {
            break;
        }
        let step = at(w + 1)? - at(w)?;
        if step.is_nan() || step >= WAVE_FULL_STEP * t1 {
            return Ok(Some(WaveSteps { cores, per_core: k }));
        }
    }
    Ok(None)
}

/// The subgroup search's entry for `dtype` and `head_dim` that this context holds (the
/// search, or the disk cache's entry, is taken when the tier's pipeline is first
/// prepared). Reads nothing from disk and never searches, since every call asks for its
/// wave and cores; `None` with the search off or where it did not run in this context (a
/// shape that `RINGATTN_SUBGROUP_CFG` forces).
fn held_subgroup_entry(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> Option<TileEntry> {
    if !search_enabled() {
        return None;
    }
    ctx.tuned_get(&key(ctx, dtype, head_dim, "subgroup")).flatten()
}

/// The key-split rule's wave for `dtype` and `head_dim` on this adapter (see
/// [`measure_wave`]) from the held search entry; `None` where none is held or no wave
/// was measured.
pub(crate) fn tuned_wave(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> Option<u64> {
    held_subgroup_entry(ctx, dtype, head_dim).and_then(|e| e.wave)
}

/// The cores the wave measurement found (the small-grid rule's measure of a full launch;
/// [`TileEntry::cores`]), from the held search entry as [`tuned_wave`].
pub(crate) fn tuned_cores(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> Option<u64> {
    held_subgroup_entry(ctx, dtype, head_dim).and_then(|e| e.cores)
}

/// The subgroup tier's pick from the two kernels' times: the tiled kernel only when it
/// is at least `TUNE_MARGIN` faster than the shuffle kernel (or the only one that ran).
fn pick_subgroup(shuffle: Option<f64>, tiled: Option<f64>) -> Option<(&'static str, f64)> {
    match (shuffle, tiled) {
        (Some(s), Some(t)) if beats(t, s) => Some(("tiled", t)),
        (Some(s), _) => Some(("shuffle", s)),
        (None, Some(t)) => Some(("tiled", t)),
        (None, None) => None,
    }
}

/// Runs the subgroup-tier search for `dtype` and `head_dim` now (ignoring any cached
/// entry), stores the winner in the cache and in the context, and returns the report.
pub fn tune_subgroup(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> Result<SubgroupReport> {
    let r = search_subgroup(ctx, dtype, head_dim)?;
    store(ctx, &r.key, &r.best)?;
    Ok(r)
}

/// Runs the matrix tier's searches for `dtype` and `head_dim` now (ignoring any cached
/// entry), stores each winner in the cache and in the context, and returns the reports:
/// flash_matrix's tiles, and the register kernel's where it can run (f16, a fragment
/// layout it handles). Both run at every head_dim: at 64 the register kernel takes the
/// dense, causal and masked launches and flash_matrix the small grids; at 128
/// flash_matrix the dense ones and the register kernel the causal ones up to
/// [`flash::REGS_CAUSAL_WORK`] and the masked ones. Searching one only left the other
/// to a search in the middle of a later call.
pub fn tune(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> Result<Vec<TuneReport>> {
    let mut reports = Vec::new();
    for regs in [false, true] {
        if regs && !flash::regs_usable(ctx, dtype, head_dim) {
            continue;
        }
        let r = search_kernel(ctx, dtype, head_dim, regs)?;
        store(ctx, &r.key, &r.best)?;
        reports.push(r);
    }
    Ok(reports)
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

    #[test]
    fn the_tiled_kernel_must_beat_the_shuffle_kernel_by_the_margin() {
        assert_eq!(pick_subgroup(Some(1.0), Some(0.97)), Some(("shuffle", 1.0)));
        assert_eq!(pick_subgroup(Some(1.0), Some(0.9)), Some(("tiled", 0.9)));
        assert_eq!(pick_subgroup(Some(1.0), None), Some(("shuffle", 1.0)));
        assert_eq!(pick_subgroup(None, Some(2.0)), Some(("tiled", 2.0)));
        assert_eq!(pick_subgroup(None, None), None);
        // Old cache entries have no variant: not the tiled kernel.
        let e: TileEntry = serde_json::from_str(r#"{"mq":2,"w":4,"bk":32,"ms":0.2,"unix_time":1}"#).unwrap();
        assert_eq!(subgroup_pick(&e), SubgroupPick::Shuffle(None));
        assert!(e.variant.is_none() && e.shape.is_none());
    }

    #[test]
    fn subgroup_entries_carry_the_shuffle_shape() {
        let entry = |variant: &str, shape| TileEntry {
            mq: 0,
            w: 0,
            bk: 0,
            variant: Some(variant.into()),
            shape,
            wave: None,
            cores: None,
            ms: 1.0,
            unix_time: 1,
        };
        assert_eq!(subgroup_pick(&entry("tiled", None)), SubgroupPick::Tiled);
        assert_eq!(subgroup_pick(&entry("shuffle", None)), SubgroupPick::Shuffle(None));
        let e = entry("shuffle", Some([128, 16, 8, 4]));
        assert_eq!(subgroup_pick(&e), SubgroupPick::Shuffle(Some([128, 16, 8, 4])));
        // The shape survives the cache file; entries without one write none.
        let back: TileEntry = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(subgroup_pick(&back), SubgroupPick::Shuffle(Some([128, 16, 8, 4])));
        assert!(!serde_json::to_string(&entry("shuffle", None)).unwrap().contains("shape"));
        // The shuffle shapes' pick follows the same margin rule as the matrix tier's.
        let t = [("a", 1.0), ("b", 0.97), ("c", 0.9)];
        assert_eq!(keep_default_unless_faster(Some(("b", 0.97)), &t[..2], "a"), Some(("a", 1.0)));
        assert_eq!(keep_default_unless_faster(Some(("c", 0.9)), &t, "a"), Some(("c", 0.9)));
    }

    #[test]
    fn the_wave_is_what_the_cores_hold_at_once() {
        // A GPU of `cores` cores that hold `hold` workgroups each, and run k of them at
        // once in share(k) times one's time: a launch of w takes as long as its busiest
        // core (ceil(w / cores) workgroups, in batches of `hold`), plus 2 % noise.
        type Share = fn(f64) -> f64;
        let shares: [(&str, Share); 3] = [("saturated", |k| k), ("sqrt", |k: f64| k.sqrt()), ("0.6 per extra", |k| 1.0 + 0.6 * (k - 1.0))];
        for cores in [1u64, 2, 7, 28, 132, 133, 264] {
            for hold in [1u64, 2, 3, 4] {
                for (name, share) in shares {
                    let mut probes = 0;
                    let time = |w: u64| -> Result<f64> {
                        probes += 1;
                        let n = w.div_ceil(cores);
                        let rounds = (n - 1) / hold;
                        let noise = 1.0 + 0.02 * ((w * 7919 % 13) as f64 / 13.0);
                        Ok((rounds as f64 * share(hold as f64) + share((n - rounds * hold) as f64)) * noise)
                    };
                    let got = wave_workgroups(time, 4096).unwrap();
                    // A saturated core gains nothing from a second workgroup: one is its wave.
                    let want = WaveSteps { cores, per_core: if name == "saturated" { 1 } else { hold } };
                    assert_eq!(got, Some(want), "{cores} cores holding {hold}, {name}");
                    assert!(probes <= 2 * (64 - cores.leading_zeros()) as usize + 2 + 2 * hold as usize, "{cores} {hold} {name}: {probes} probes");
                }
            }
        }
        // No step within the probes' limit: unknown.
        assert_eq!(wave_workgroups(|_| Ok(1.0), 1024).unwrap(), None);
        assert_eq!(wave_workgroups(|w| Ok(w.div_ceil(2000) as f64), 1024).unwrap(), None);
        // Cores found, but no full step within WAVE_MAX_PER_CORE per core: unknown.
        assert_eq!(wave_workgroups(|w| Ok(1.0 + 0.5 * ((w - 1) / 4) as f64), 4096).unwrap(), None);
        // A failed launch (infinite time) counts as slow; an error ends the measurement.
        assert_eq!(wave_workgroups(|w| Ok(if w > 5 { f64::INFINITY } else { 1.0 }), 1024).unwrap(), Some(WaveSteps { cores: 5, per_core: 1 }));
        assert!(wave_workgroups(|w| if w > 3 { Err(Error::InvalidArgument("x".into())) } else { Ok(1.0) }, 1024).is_err());
        // Entries keep the wave and cores through the cache file; entries without them
        // write none, and files from before the cores read as none.
        let e = TileEntry {
            mq: 0,
            w: 0,
            bk: 0,
            variant: Some("shuffle".into()),
            shape: None,
            wave: Some(33792),
            cores: Some(132),
            ms: 1.0,
            unix_time: 1,
        };
        let back: TileEntry = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!((back.wave, back.cores), (Some(33792), Some(132)));
        let bare = serde_json::to_string(&TileEntry { wave: None, cores: None, ..e.clone() }).unwrap();
        assert!(!bare.contains("wave") && !bare.contains("cores"));
        let old: TileEntry = serde_json::from_str(r#"{"mq":0,"w":0,"bk":0,"variant":"shuffle","wave":33792,"ms":1.0,"unix_time":1}"#).unwrap();
        assert_eq!((old.wave, old.cores), (Some(33792), None));
        assert!(e.describe().contains("wave 33792 invocations, 132 cores"), "{}", e.describe());
    }
}
