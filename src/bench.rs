//! A reusable attention benchmark runner (used by `ringattn bench` and the criterion
//! bench in `benches/attention.rs`).
//!
//! For each [`Case`] the runner allocates random (never zero) Q/K/V once, warms up
//! (the first run builds the pipeline), then runs timed iterations. Each timed
//! iteration records timestamp queries around the one compute pass
//! ([`GpuTimer`]) and, separately, the host wall time of `submit + wait`. Cases that
//! cannot run (f16 without `SHADER_F16`, a buffer over an adapter limit, out of
//! memory, ...) come back as skipped results with a note; nothing panics.
//!
//! Results are serde-serializable ([`BenchReport`], schema [`SCHEMA`]);
//! `benches/python/sdpa_baseline.py` writes the same schema for PyTorch SDPA so the
//! two can be joined on (dtype, batch, seq, heads, head_dim, causal).
//!
//! ```no_run
//! use ringattn::bench::{run_cases, BenchOptions, Case};
//! use ringattn::{Dtype, GpuContext};
//! # fn main() -> ringattn::Result<()> {
//! let ctx = GpuContext::new()?;
//! let cases = [Case { tier: None, dtype: Dtype::F32, batch: 1, seq: 1024, heads: 8, kv_heads: 8, head_dim: 64, causal: true }];
//! let report = run_cases(&ctx, &cases, &BenchOptions::default(), |r| println!("{}", r.label()));
//! println!("{}", serde_json::to_string_pretty(&report).unwrap());
//! # Ok(()) }
//! ```

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use half::f16;
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::attention::{resolve_tier, Attention, AttentionOptions};
use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::kernels::flash::TileConfig;
use crate::kernels::Tier;
use crate::tensor::{Dtype, GpuTensor, LseBuffer, Shape};
use crate::timing::{median, GpuTimer};

/// Schema tag of [`BenchReport`] (also written by `benches/python/sdpa_baseline.py`).
pub const SCHEMA: &str = "ringattn-bench/1";

/// Inputs smaller than this (Q + K + V of one set) get a second set, and timed runs
/// alternate between the two so they do not just measure warm caches.
pub const ROTATE_BELOW_BYTES: u64 = 64 << 20;

/// One benchmark case: self-attention (seq_q = seq_k); `kv_heads < heads` is GQA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Case {
    /// Requested tier; `None` = auto (`RINGATTN_TIER`, else the adapter's best).
    pub tier: Option<Tier>,
    pub dtype: Dtype,
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    /// Key/value heads (`heads` for plain multi-head attention; must divide `heads`).
    pub kv_heads: usize,
    pub head_dim: usize,
    pub causal: bool,
}

impl Case {
    pub fn shape(&self) -> Shape {
        Shape::new(self.batch, self.seq, self.heads, self.head_dim).with_kv_heads(self.kv_heads)
    }
    /// Bytes of Q + K + V.
    pub fn input_bytes(&self) -> u64 {
        let s = self.shape();
        (s.q_len() + 2 * s.kv_len()) as u64 * self.dtype.size()
    }
    /// Bytes of one full set of buffers (Q, K, V, O and LSE), as the library
    /// allocates them (each buffer rounded up to 4 bytes).
    pub fn set_bytes(&self) -> u64 {
        let s = self.shape();
        let r4 = |b: u64| b.max(4).div_ceil(4) * 4;
        let es = self.dtype.size();
        2 * r4(s.q_len() as u64 * es) + 2 * r4(s.kv_len() as u64 * es) + r4(s.lse_len() as u64 * 4)
    }
    /// "auto" or the tier name.
    pub fn tier_requested(&self) -> String {
        self.tier.map_or_else(|| "auto".to_string(), |t| t.name().to_string())
    }
    /// Dense multiply-add FLOPs (halved when causal).
    pub fn flops(&self) -> f64 {
        self.shape().flops(self.causal)
    }
    /// Tokens per call: batch * seq.
    pub fn tokens(&self) -> u64 {
        (self.batch * self.seq) as u64
    }
}

/// Every combination of the given values, in the order tier, dtype, head_dim, seq, causal.
pub fn grid(tiers: &[Option<Tier>], dtypes: &[Dtype], head_dims: &[usize], seqs: &[usize], causal: &[bool], batch: usize, heads: usize) -> Vec<Case> {
    let mut v = Vec::new();
    for &tier in tiers {
        for &dtype in dtypes {
            for &head_dim in head_dims {
                for &seq in seqs {
                    for &c in causal {
                        v.push(Case { tier, dtype, batch, seq, heads, kv_heads: heads, head_dim, causal: c });
                    }
                }
            }
        }
    }
    v
}

/// A tier selection as written on a command line or in an environment variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TierChoice {
    /// `RINGATTN_TIER`, else the adapter's best.
    Auto,
    /// Every tier the adapter supports.
    All,
    One(Tier),
}

impl std::str::FromStr for TierChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(TierChoice::Auto),
            "all" => Ok(TierChoice::All),
            o => Ok(TierChoice::One(o.parse()?)),
        }
    }
}

/// Expands tier choices to requested tiers (`None` = auto), without repeats.
pub fn expand_tiers(ctx: &GpuContext, choices: &[TierChoice]) -> Vec<Option<Tier>> {
    let mut out: Vec<Option<Tier>> = Vec::new();
    for c in choices {
        let add: Vec<Option<Tier>> = match c {
            TierChoice::Auto => vec![None],
            TierChoice::All => ctx.capabilities().tiers().into_iter().map(Some).collect(),
            TierChoice::One(t) => vec![Some(*t)],
        };
        for t in add {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

/// Parses a comma-separated list (`"1024,4096"`); empty items are ignored.
pub fn parse_list<T: std::str::FromStr>(s: &str) -> std::result::Result<Vec<T>, String>
where
    T::Err: std::fmt::Display,
{
    s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(|x| x.parse::<T>().map_err(|e| format!("`{x}`: {e}"))).collect()
}

/// How the runner times each case.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Untimed runs before timing; at least 1 runs (it builds the pipeline).
    pub warmup: usize,
    /// On GPUs (not CPU adapters), warm-up runs go on until this many seconds have
    /// passed too (after the first run): GPUs drop their clocks while the host prepares
    /// a case (inputs, the reference check, pipeline compiles), and a few short runs do
    /// not raise them again (seen on H200s: 16K-token cases stable at 4x their time at
    /// full clocks).
    pub warmup_seconds: f64,
    /// Seconds of sustained attention on a case's GPUs between its first call and its
    /// warm-up ([`preheat`] on the case's devices; 0: none; CPU adapters never). A GPU
    /// that idled while the host prepared the case (inputs, the previous case's check,
    /// pipeline builds and tile searches on a fresh machine) comes back at a low clock,
    /// and a ring's bursty calls raise it only slowly: on an H200 the SM clock fell from
    /// 1980 to 345 MHz after ~1.6 s idle and took ~3 s of ring calls to climb back, so
    /// 16K-token ring cases read 2-4x slow; sustained work raises it within ~0.3 s
    /// (BENCHMARKS.md, twenty-sixth session). Single-device cases need it too: in the
    /// first process on a fresh H200 the cases whose first call compiled new pipelines
    /// read 1.3-4x slow through a 0.25 s warm-up and ten reps (N=16384 causal 4.48 ms
    /// against 1.16; twenty-ninth session).
    pub reheat_seconds: f64,
    /// Timed iterations.
    pub reps: usize,
    /// Per-case budget (warm-up and timed runs, counted from after the first run, which
    /// builds the pipelines; not the input upload): once spent, the remaining reps are
    /// skipped. At least one warm-up and one timed run happen.
    pub max_seconds: Option<f64>,
    /// Use timestamp queries when the adapter has them (else wall time only).
    pub timestamps: bool,
    /// Two input sets below this many input bytes (see [`ROTATE_BELOW_BYTES`]).
    pub rotate_below_bytes: u64,
    /// When a requested tier falls back to one another case of the same shape
    /// measures anyway, skip it as a duplicate (status `duplicate`).
    pub dedupe_fallbacks: bool,
    /// Seed of the random inputs.
    pub seed: u64,
}

/// Keeps every GPU of `contexts` busy with attention (B=1, H=8, N=4096, D=64, the
/// best tier, f16 where available) for about `seconds` before anything is timed, all
/// devices at once: GPUs idle a moment ago run their first cases at low clocks
/// (measured on H200s: the first small cases of a suite 2-4x slower than the same
/// shapes later). CPU adapters (lavapipe) have no clocks to raise and are skipped.
/// Returns the calls made on each device. `contexts`: `&GpuContext`s or
/// `Arc<GpuContext>`s.
pub fn preheat<C: std::borrow::Borrow<GpuContext> + Sync>(contexts: &[C], seconds: f64) -> Result<Vec<usize>> {
    let heat = |ctx: &GpuContext| -> Result<usize> {
        if seconds <= 0.0 || ctx.info().device_type == wgpu::DeviceType::Cpu {
            return Ok(0);
        }
        let dtype = if ctx.capabilities().shader_f16 { Dtype::F16 } else { Dtype::F32 };
        let shape = Shape::new(1, 4096, 8, 64);
        let x = random_inputs(shape.q_len(), 0x4ea7);
        let q = GpuTensor::from_f32(ctx, &x, shape.q_dims(), dtype)?;
        let attn = Attention::new(ctx, AttentionOptions::default());
        let out = attn.alloc_output(&q, &q, &q)?;
        // The first call builds the pipelines and, on a fresh machine, runs the matrix
        // tile search (seconds of intermittent GPU work); the preheat proper starts after
        // it. (Counted from before it, a search used up the whole preheat, and the first
        // case of such a process read 3-5x slow on an H100: BENCHMARKS.md.)
        attn.forward_into(&q, &q, &q, &out.o, &out.lse)?;
        ctx.wait()?;
        let t0 = Instant::now();
        let mut calls = 1;
        while t0.elapsed().as_secs_f64() < seconds {
            attn.forward_into(&q, &q, &q, &out.o, &out.lse)?;
            ctx.wait()?;
            calls += 1;
        }
        Ok(calls)
    };
    std::thread::scope(|sc| {
        let hs: Vec<_> = contexts.iter().map(|c| sc.spawn(move || heat(c.borrow()))).collect();
        hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Error::InvalidArgument("a preheat thread panicked".into())))).collect()
    })
}

impl BenchOptions {
    /// Whether a case's warm-up goes on after `warm` runs begun at `t0`: at least
    /// `warmup` (and 1) runs, and on a GPU at least `warmup_seconds`; never past the
    /// case budget (`over`) once a run has happened.
    pub fn keep_warming(&self, ctx: &GpuContext, warm: usize, t0: Instant, over: bool) -> bool {
        if warm > 0 && over {
            return false;
        }
        let gpu = ctx.info().device_type != wgpu::DeviceType::Cpu;
        warm < self.warmup.max(1) || (gpu && t0.elapsed().as_secs_f64() < self.warmup_seconds)
    }

    /// A case's warm-up on `devs` (the first answers [`BenchOptions::keep_warming`]):
    /// `call` once, `reheat` seconds of sustained attention on every device
    /// ([`preheat`]; 0: none), then `call` while `keep_warming`. The first call builds
    /// the pipelines: on a fresh machine the driver's compiles and tile searches leave
    /// the GPUs idle for a second or more, and they drop their clocks. So the warm-up's
    /// seconds and the case budget count from after it; counted from before it, the
    /// compiles used up the kernel table's 0.25 s warm-up and the first process on a
    /// fresh H200 read 1.6-4x slow on every case shorter than a few ms (BENCHMARKS.md,
    /// twenty-eighth session). Returns the calls made and the budget's start (see
    /// [`BenchOptions::spent`]).
    pub fn warm_up<C: std::borrow::Borrow<GpuContext> + Sync>(
        &self,
        devs: &[C],
        reheat: f64,
        mut call: impl FnMut() -> Result<()>,
    ) -> Result<(usize, Instant)> {
        call()?;
        if reheat > 0.0 {
            preheat(devs, reheat)?;
        }
        let start = Instant::now();
        let mut warm = 1;
        while self.keep_warming(devs[0].borrow(), warm, start, self.spent(start)) {
            call()?;
            warm += 1;
        }
        Ok((warm, start))
    }

    /// Whether the case budget begun at `start` is spent.
    pub fn spent(&self, start: Instant) -> bool {
        self.max_seconds.is_some_and(|s| start.elapsed().as_secs_f64() >= s)
    }
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            warmup: 2,
            warmup_seconds: 0.0,
            reheat_seconds: 0.0,
            reps: 10,
            max_seconds: None,
            timestamps: true,
            rotate_below_bytes: ROTATE_BELOW_BYTES,
            dedupe_fallbacks: true,
            seed: 0x5eed,
        }
    }
}

/// One timed iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Seconds between the timestamps around the compute pass; `None` without timestamps.
    pub gpu_s: Option<f64>,
    /// Host seconds of `submit + wait` (encoding and the timestamp read-back excluded).
    pub wall_s: f64,
    /// Host seconds of the whole call as an application sees it: encode, submit and
    /// wait (the timestamp read-back excluded).
    pub call_s: f64,
}

struct IoSet {
    q: GpuTensor,
    k: GpuTensor,
    v: GpuTensor,
    o: GpuTensor,
    lse: LseBuffer,
}

/// Allocated, filled buffers for one case, ready to run repeatedly.
pub struct Workload<'a> {
    ctx: &'a GpuContext,
    attn: Attention<'a>,
    sets: Vec<IoSet>,
    next: Cell<usize>,
    case: Case,
    tier: Tier,
    /// The tiles the kernel runs with for this case's shape.
    tile: TileConfig,
    /// Key parts each call runs in (1: no split; [`Attention::key_splits_for`]).
    key_parts: usize,
    /// Bytes the context's allocation counter grew by per input set.
    bytes_per_set: u64,
    /// Block mask (block-sparse cases), on the host (for checks) and on the GPU.
    mask: Option<(crate::mask::BlockMask, crate::mask::GpuBlockMask)>,
}

/// Elements generated and uploaded per chunk.
const FILL_CHUNK: usize = 1 << 22;

/// Uniform magnitudes in [1/16, 1) with a random sign: never zero, never huge.
fn fill_chunk(rng: &mut SmallRng, out: &mut Vec<f32>, n: usize) {
    out.clear();
    out.extend((0..n).map(|_| {
        let r = rng.next_u32();
        let mag = 0.0625 + 0.9375 * ((r >> 9) as f32 * (1.0 / (1u32 << 23) as f32));
        if r & 1 == 1 {
            -mag
        } else {
            mag
        }
    }));
}

/// `len` host values like the benchmark's GPU inputs (magnitudes in [1/16, 1), random
/// sign, never zero), from `seed`.
pub fn random_inputs(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(len);
    let mut buf = Vec::with_capacity(FILL_CHUNK.min(len));
    while out.len() < len {
        let n = FILL_CHUNK.min(len - out.len());
        fill_chunk(&mut rng, &mut buf, n);
        out.extend_from_slice(&buf);
    }
    out
}

fn fill_random(ctx: &GpuContext, t: &GpuTensor, rng: &mut SmallRng) -> Result<()> {
    let n = t.numel();
    let mut buf = Vec::with_capacity(FILL_CHUNK.min(n));
    let mut start = 0;
    while start < n {
        let len = FILL_CHUNK.min(n - start);
        fill_chunk(rng, &mut buf, len);
        let off = start as u64 * t.dtype().size();
        match t.dtype() {
            Dtype::F32 => ctx.write_bytes(t.buffer(), off, bytemuck::cast_slice(&buf))?,
            Dtype::F16 => {
                let h: Vec<f16> = buf.iter().map(|&x| f16::from_f32(x)).collect();
                ctx.write_bytes(t.buffer(), off, bytemuck::cast_slice(&h))?
            }
        }
        start += len;
    }
    // Flush the staged writes so host staging memory stays bounded.
    ctx.scoped(|| ctx.queue().submit([]))?;
    ctx.wait()
}

impl<'a> Workload<'a> {
    /// Checks the case, resolves its tier, allocates one or two buffer sets (checking
    /// adapter limits by recording one unsubmitted pass) and fills the inputs.
    pub fn new(ctx: &'a GpuContext, case: Case, opts: &BenchOptions) -> Result<Self> {
        Self::with_mask(ctx, case, opts, None)
    }

    /// [`Workload::new`] for block-sparse attention under `mask` (uploaded once; the
    /// causal flag of the case applies on top of it).
    pub fn with_mask(ctx: &'a GpuContext, case: Case, opts: &BenchOptions, mask: Option<&crate::mask::BlockMask>) -> Result<Self> {
        ctx.check_dtype(case.dtype, "the benchmark")?;
        let shape = case.shape();
        shape.validate()?;
        let tier = resolve_tier(ctx, case.tier, case.dtype, case.head_dim)?;
        let attn = Attention::new(ctx, AttentionOptions { causal: case.causal, scale: None, tier: Some(tier) });
        let nsets = if case.input_bytes() < opts.rotate_below_bytes { 2 } else { 1 };
        let mask = match mask {
            Some(m) => Some((m.clone(), m.upload(ctx)?)),
            None => None,
        };
        let gmask = mask.as_ref().map(|m| &m.1);
        let before = ctx.allocated_bytes();
        let mut sets = Vec::with_capacity(nsets);
        for _ in 0..nsets {
            let q = GpuTensor::empty(ctx, shape.q_dims(), case.dtype)?;
            let k = GpuTensor::empty(ctx, shape.kv_dims(), case.dtype)?;
            let v = GpuTensor::empty(ctx, shape.kv_dims(), case.dtype)?;
            let o = GpuTensor::empty(ctx, shape.q_dims(), case.dtype)?;
            let lse = LseBuffer::empty(ctx, shape.lse_dims())?;
            if sets.is_empty() {
                // Limits (binding sizes, grid) are checked while encoding: find out
                // before spending time on random inputs. Builds the pipeline too.
                let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn bench probe") });
                attn.encode_with(&mut enc, &q, &k, &v, &o, &lse, gmask, None)?;
                drop(enc);
            }
            sets.push(IoSet { q, k, v, o, lse });
        }
        let bytes_per_set = (ctx.allocated_bytes() - before) / nsets as u64;
        let (_, tile, key_parts) = attn.plan(case.dtype, &shape, gmask)?;
        let mut rng = SmallRng::seed_from_u64(opts.seed ^ (case.seq as u64) << 20 ^ case.head_dim as u64);
        for s in &sets {
            for t in [&s.q, &s.k, &s.v] {
                fill_random(ctx, t, &mut rng)?;
            }
        }
        Ok(Workload { ctx, attn, sets, next: Cell::new(0), case, tier, tile, key_parts, bytes_per_set, mask })
    }

    /// Bytes of the GPU block mask (0 without one).
    pub fn mask_bytes(&self) -> u64 {
        self.mask.as_ref().map_or(0, |m| m.1.bytes())
    }

    /// The block mask's density (fraction of blocks computed), if any.
    pub fn mask_density(&self) -> Option<f64> {
        self.mask.as_ref().map(|m| m.0.density())
    }

    /// Bytes of GPU buffers one call needs (Q, K, V, O, LSE), from the context's
    /// allocation counter ([`GpuContext::allocated_bytes`]) while the workload
    /// allocated them, divided by the number of input sets. Every one of them is live
    /// during a call, so this is the call's peak; the few-byte uniform block of each
    /// launch is not counted.
    pub fn bytes_per_set(&self) -> u64 {
        self.bytes_per_set
    }

    /// Runs the first input set once more and compares `rows` query rows (every
    /// batch and head) of O and LSE against the f64 reference on the values the GPU
    /// holds (f16 inputs as rounded on upload).
    pub fn check(&self, rows: &[usize]) -> Result<CheckResult> {
        let s = &self.sets[0];
        let mut enc = self.ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn bench check") });
        self.attn.encode_with(&mut enc, &s.q, &s.k, &s.v, &s.o, &s.lse, self.mask.as_ref().map(|m| &m.1), None)?;
        self.submit_wait(enc.finish())?;
        let shape = self.case.shape();
        let (q, k, v) = (s.q.to_f32_vec(self.ctx)?, s.k.to_f32_vec(self.ctx)?, s.v.to_f32_vec(self.ctx)?);
        let o = s.o.to_f32_vec(self.ctx)?;
        let lse = s.lse.to_vec(self.ctx)?;
        let (causal, dtype) = (self.case.causal, self.case.dtype);
        Ok(CheckResult::compare_masked(&q, &k, &v, &o, &lse, shape, dtype, causal, self.mask.as_ref().map(|m| &m.0), rows))
    }

    pub fn case(&self) -> &Case {
        &self.case
    }
    /// The tier that runs (the requested one may have been lowered).
    pub fn tier(&self) -> Tier {
        self.tier
    }
    /// The tiles the kernel runs with (on the matrix tier they depend on the grid:
    /// [`crate::kernels::flash::matrix_config_for_grid`]).
    pub fn tile(&self) -> TileConfig {
        self.tile
    }
    /// The tiles as reports show them: [`TileConfig::describe`], then `keys/P` where
    /// each call runs in P key parts.
    pub fn tile_label(&self) -> String {
        let t = self.tile.describe(self.tier);
        if self.key_parts > 1 {
            format!("{t} keys/{}", self.key_parts)
        } else {
            t
        }
    }
    /// Number of input sets the runs alternate between.
    pub fn input_sets(&self) -> usize {
        self.sets.len()
    }

    fn encode(&self, timer: Option<&GpuTimer>) -> Result<wgpu::CommandBuffer> {
        let i = self.next.get();
        self.next.set((i + 1) % self.sets.len());
        let s = &self.sets[i];
        let mut enc = self.ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn bench") });
        self.attn.encode_with(&mut enc, &s.q, &s.k, &s.v, &s.o, &s.lse, self.mask.as_ref().map(|m| &m.1), timer.map(|t| t.writes()))?;
        if let Some(t) = timer {
            t.resolve(&mut enc);
        }
        Ok(enc.finish())
    }

    fn submit_wait(&self, cb: wgpu::CommandBuffer) -> Result<Duration> {
        let t0 = Instant::now();
        self.ctx.scoped(|| self.ctx.queue().submit([cb]))?;
        self.ctx.wait()?;
        Ok(t0.elapsed())
    }

    /// One untimed run (encode, submit, wait).
    pub fn run_once(&self) -> Result<()> {
        let cb = self.encode(None)?;
        self.submit_wait(cb).map(|_| ())
    }

    /// One timed run: timestamps around the pass when `timer` is given, and the wall
    /// time of submit + wait.
    pub fn run_timed(&self, timer: Option<&GpuTimer>) -> Result<Sample> {
        let t0 = Instant::now();
        let cb = self.encode(timer)?;
        let wall = self.submit_wait(cb)?;
        let call = t0.elapsed();
        let gpu_s = match timer {
            Some(t) => Some(t.read_seconds(self.ctx)?),
            None => None,
        };
        Ok(Sample { gpu_s, wall_s: wall.as_secs_f64(), call_s: call.as_secs_f64() })
    }
}

/// Outcome of `--check`: sampled output rows against the f64 reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Query rows compared (every batch and head of each).
    pub rows: usize,
    /// ||O - ref|| / ||ref|| over the sampled rows.
    pub o_rel_error: f64,
    /// Largest |LSE - ref| over the sampled rows.
    pub lse_max_error: f64,
    pub o_tolerance: f64,
    pub lse_tolerance: f64,
    pub passed: bool,
}

impl CheckResult {
    /// Compares rows `rows` of a full output (O (b, n, h, d), LSE (b, h, n)) with the
    /// f64 reference of `q`, `k`, `v` (the values the device computed on). Tolerances
    /// are those of `ringattn run --check`.
    #[allow(clippy::too_many_arguments)]
    pub fn compare(q: &[f32], k: &[f32], v: &[f32], o: &[f32], lse: &[f32], shape: Shape, dtype: Dtype, causal: bool, rows: &[usize]) -> CheckResult {
        Self::compare_masked(q, k, v, o, lse, shape, dtype, causal, None, rows)
    }

    /// [`CheckResult::compare`] under a block mask as well (a pair is allowed when the
    /// mask and, if `causal`, the causal mask allow it).
    #[allow(clippy::too_many_arguments)]
    pub fn compare_masked(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        o: &[f32],
        lse: &[f32],
        shape: Shape,
        dtype: Dtype,
        causal: bool,
        mask: Option<&crate::mask::BlockMask>,
        rows: &[usize],
    ) -> CheckResult {
        let diag = shape.seq_k as i64 - shape.seq_q as i64;
        let heads = mask.map_or(1, |m| m.heads());
        let allowed = |_b: usize, h: usize, i: usize, j: usize| {
            (!causal || (j as i64) <= i as i64 + diag) && mask.is_none_or(|m| m.allows(if heads == 1 { 0 } else { h }, i, j))
        };
        let r = crate::reference::attention_rows(q, k, v, &shape, None, rows, allowed);
        let o_rows = crate::reference::select_rows(o, shape.q_dims(), rows);
        let l_rows = crate::reference::select_lse_rows(lse, shape.lse_dims(), rows);
        let o_rel_error = crate::reference::rel_error(&o_rows, &r.o);
        let lse_max_error = crate::reference::lse_max_abs_error(&l_rows, &r.lse);
        let o_tolerance = crate::cli::run::o_tolerance(dtype);
        let lse_scale = r.lse.iter().filter(|x| x.is_finite()).fold(1.0f64, |m, x| m.max(x.abs()));
        let lse_tolerance = crate::cli::run::lse_tolerance(dtype) * lse_scale;
        let passed = o_rel_error <= o_tolerance && lse_max_error <= lse_tolerance;
        CheckResult { rows: rows.len(), o_rel_error, lse_max_error, o_tolerance, lse_tolerance, passed }
    }
}

/// `n` query rows evenly spread over `0..seq` (the first and the last included).
pub fn sample_rows(seq: usize, n: usize) -> Vec<usize> {
    if seq == 0 || n == 0 {
        return Vec::new();
    }
    if n >= seq {
        return (0..seq).collect();
    }
    if n == 1 {
        return vec![seq - 1];
    }
    let mut v: Vec<usize> = (0..n).map(|i| i * (seq - 1) / (n - 1)).collect();
    v.dedup();
    v
}

/// The adapter a report was measured on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdapterReport {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub vendor: u32,
    pub device: u32,
    pub timestamp_query: bool,
    pub shader_f16: bool,
    pub subgroup: bool,
    /// Tiers the adapter supports, fastest first.
    pub tiers: Vec<String>,
}

impl AdapterReport {
    pub fn of(ctx: &GpuContext) -> Self {
        let i = ctx.info();
        let c = ctx.capabilities();
        AdapterReport {
            name: i.name.clone(),
            backend: format!("{:?}", i.backend),
            device_type: format!("{:?}", i.device_type),
            driver: i.driver.clone(),
            driver_info: i.driver_info.clone(),
            vendor: i.vendor,
            device: i.device,
            timestamp_query: c.timestamp_query,
            shader_f16: c.shader_f16,
            subgroup: c.subgroup,
            tiers: c.tiers().iter().map(|t| t.name().to_string()).collect(),
        }
    }
    /// "driver driver_info", trimmed.
    pub fn driver_line(&self) -> String {
        format!("{} {}", self.driver, self.driver_info).trim().to_string()
    }
}

/// Outcome of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    /// Measured.
    Ok,
    /// Cannot run here (missing feature, over a limit, out of memory); see the note.
    Skipped,
    /// The requested tier falls back to a kernel another case measures.
    Duplicate,
    /// Failed unexpectedly (shader error, device lost, timeout, panic); see the note.
    Error,
}

/// One row of results. Times are milliseconds; `None` (JSON null) when not measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// "ringattn" (or "torch-sdpa" from the Python baseline).
    pub implementation: String,
    /// The tier that ran (for skipped cases: the one that would have).
    pub tier: String,
    /// The tier asked for ("auto" or a name).
    pub tier_requested: String,
    pub dtype: String,
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub causal: bool,
    pub status: CaseStatus,
    pub note: Option<String>,
    pub warmup_runs: usize,
    pub reps_requested: usize,
    /// Timed iterations that ran (fewer than requested when the budget ran out).
    pub reps: usize,
    /// Input sets the timed runs alternated between.
    pub input_sets: usize,
    pub gpu_ms_median: Option<f64>,
    pub gpu_ms_min: Option<f64>,
    pub gpu_ms_max: Option<f64>,
    pub wall_ms_median: Option<f64>,
    pub wall_ms_min: Option<f64>,
    pub wall_ms_max: Option<f64>,
    /// Dense multiply-add FLOPs of one call (halved when causal).
    pub flops: f64,
    /// TFLOP/s from the median time named by `time_source`.
    pub tflops: Option<f64>,
    /// Tokens (batch * seq) per second from the median time named by `time_source`.
    pub tokens_per_s: Option<f64>,
    /// "gpu" (timestamp queries / CUDA events) or "wall" (no GPU timer).
    pub time_source: Option<String>,
    pub gpu_ms: Vec<f64>,
    pub wall_ms: Vec<f64>,

    // Fields below came with the benchmark suites (`ringattn bench compare`, ...);
    // older files lack them and read as `None`.
    /// Suite that ran the case ("kernels", "compare", "memory", ...).
    #[serde(default)]
    pub suite: Option<String>,
    /// What ran: "single" (one device, [`crate::Attention`]) or a preset name.
    #[serde(default)]
    pub preset: Option<String>,
    /// Key/value heads (GQA when < heads).
    #[serde(default)]
    pub kv_heads: Option<usize>,
    /// Devices of the ring (1 for single-device runs).
    #[serde(default)]
    pub devices: Option<usize>,
    /// Ring placement ("contiguous", "zigzag").
    #[serde(default)]
    pub placement: Option<String>,
    /// Peak bytes of GPU buffers on the busiest device, from the library's own
    /// accounting (single device: [`Workload::bytes_per_set`]; ring: [`crate::RingStats::peak_bytes`]).
    #[serde(default)]
    pub peak_bytes: Option<u64>,
    /// Peak bytes summed over all devices.
    #[serde(default)]
    pub peak_bytes_total: Option<u64>,
    /// `peak_bytes_total` / (batch * seq).
    #[serde(default)]
    pub bytes_per_token: Option<f64>,
    /// Ring: bytes of K/V moved device -> host -> device in the last timed call.
    #[serde(default)]
    pub bytes_moved: Option<u64>,
    /// Ring: mean GB/s of one link ([`crate::RingStats::gbps`]).
    #[serde(default)]
    pub transport_gbps: Option<f64>,
    /// `--check`: sampled rows against the f64 reference.
    #[serde(default)]
    pub check: Option<CheckResult>,
    /// Block-sparse cases: the mask's density (fraction of blocks computed).
    #[serde(default)]
    pub density: Option<f64>,
    /// Block-sparse cases: the mask's block size in tokens.
    #[serde(default)]
    pub mask_block: Option<usize>,
    /// Ring cases: wall time of the ring itself on GPU-resident shards
    /// ([`crate::RingStats::ring_seconds`]: host upload and download excluded), per
    /// timed call, and its median. `wall_ms` holds the whole calls.
    #[serde(default)]
    pub ring_ms: Vec<f64>,
    #[serde(default)]
    pub ring_ms_median: Option<f64>,
    /// Single-device cases: the kernel's tiles for this shape ([`TileConfig::describe`]:
    /// query rows `bq`, keys per tile `bk`, then the tier's own parameters; `keys/P`
    /// where each call runs in P key parts merged by LSE).
    #[serde(default)]
    pub tile: Option<String>,
    /// Single-device cases: host ms of each timed call as an application sees it
    /// (encode, submit and wait; `wall_ms` is submit and wait only), and its median.
    #[serde(default)]
    pub call_ms: Vec<f64>,
    #[serde(default)]
    pub call_ms_median: Option<f64>,
}

impl CaseResult {
    /// A result row for `case` with nothing measured yet (status skipped).
    pub fn new(case: &Case, tier: String, opts: &BenchOptions) -> Self {
        CaseResult {
            implementation: "ringattn".into(),
            tier,
            tier_requested: case.tier_requested(),
            dtype: case.dtype.name().into(),
            batch: case.batch,
            seq: case.seq,
            heads: case.heads,
            head_dim: case.head_dim,
            causal: case.causal,
            status: CaseStatus::Skipped,
            note: None,
            warmup_runs: 0,
            reps_requested: opts.reps,
            reps: 0,
            input_sets: 0,
            gpu_ms_median: None,
            gpu_ms_min: None,
            gpu_ms_max: None,
            wall_ms_median: None,
            wall_ms_min: None,
            wall_ms_max: None,
            flops: case.flops(),
            tflops: None,
            tokens_per_s: None,
            time_source: None,
            gpu_ms: Vec::new(),
            wall_ms: Vec::new(),
            suite: None,
            preset: None,
            kv_heads: Some(case.kv_heads),
            devices: None,
            placement: None,
            peak_bytes: None,
            peak_bytes_total: None,
            bytes_per_token: None,
            bytes_moved: None,
            transport_gbps: None,
            check: None,
            density: None,
            mask_block: None,
            ring_ms: Vec::new(),
            ring_ms_median: None,
            tile: None,
            call_ms: Vec::new(),
            call_ms_median: None,
        }
    }

    /// Records peak bytes (busiest device, all devices) and bytes per token.
    pub fn set_peak(&mut self, busiest: u64, total: u64) {
        self.peak_bytes = Some(busiest);
        self.peak_bytes_total = Some(total);
        let tokens = (self.batch * self.seq) as f64;
        self.bytes_per_token = (tokens > 0.0).then(|| total as f64 / tokens);
    }

    /// Key/value heads (files from before GQA cases record none: = heads).
    pub fn kv_heads(&self) -> usize {
        self.kv_heads.unwrap_or(self.heads)
    }

    /// Fills the statistics from the samples (seconds).
    pub fn set_samples(&mut self, gpu_s: &[f64], wall_s: &[f64]) {
        let ms = |xs: &[f64]| xs.iter().map(|x| x * 1e3).collect::<Vec<f64>>();
        self.gpu_ms = ms(gpu_s);
        self.wall_ms = ms(wall_s);
        let stats = |v: &[f64]| {
            if v.is_empty() {
                (None, None, None)
            } else {
                (Some(median(v)), v.iter().copied().reduce(f64::min), v.iter().copied().reduce(f64::max))
            }
        };
        (self.gpu_ms_median, self.gpu_ms_min, self.gpu_ms_max) = stats(&self.gpu_ms);
        (self.wall_ms_median, self.wall_ms_min, self.wall_ms_max) = stats(&self.wall_ms);
        self.reps = self.gpu_ms.len().max(self.wall_ms.len());
        let (t, src) = match (self.gpu_ms_median, self.wall_ms_median) {
            (Some(g), _) => (Some(g), Some("gpu")),
            (None, Some(w)) => (Some(w), Some("wall")),
            _ => (None, None),
        };
        self.time_source = src.map(String::from);
        let tokens = (self.batch * self.seq) as f64;
        self.tflops = t.filter(|&t| t > 0.0).map(|t| self.flops / (t * 1e-3) / 1e12);
        self.tokens_per_s = t.filter(|&t| t > 0.0).map(|t| tokens / (t * 1e-3));
    }

    /// Fills the statistics of a ring case: the ring's own time (`ring_s`, GPU-resident
    /// shards, the timed reps) is the one throughput comes from (`time_source` "ring");
    /// `wall_s` are whole calls, host transfers included.
    pub fn set_ring_samples(&mut self, ring_s: &[f64], wall_s: &[f64]) {
        self.set_samples(&[], wall_s);
        self.ring_ms = ring_s.iter().map(|x| x * 1e3).collect();
        self.ring_ms_median = (!self.ring_ms.is_empty()).then(|| median(&self.ring_ms));
        self.reps = self.ring_ms.len().max(self.wall_ms.len());
        if let Some(t) = self.ring_ms_median.filter(|&t| t > 0.0) {
            self.time_source = Some("ring".into());
            self.tflops = Some(self.flops / (t * 1e-3) / 1e12);
            self.tokens_per_s = Some((self.batch * self.seq) as f64 / (t * 1e-3));
        }
    }

    /// Milliseconds of the median time throughput was computed from, and its source:
    /// "gpu" (timestamp queries), "ring" (the ring on resident shards) or "wall".
    pub fn time_ms(&self) -> Option<(f64, &'static str)> {
        match self.time_source.as_deref() {
            Some("ring") => self.ring_ms_median.map(|t| (t, "ring")),
            Some("wall") => self.wall_ms_median.map(|t| (t, "wall")),
            _ => self.gpu_ms_median.map(|t| (t, "gpu")).or(self.wall_ms_median.map(|t| (t, "wall"))),
        }
    }

    /// "subgroup f32 N=1024 D=64 causal".
    pub fn label(&self) -> String {
        let b = if self.batch != 1 { format!(" B={}", self.batch) } else { String::new() };
        format!("{} {} N={} D={} H={}{}{}", self.tier, self.dtype, self.seq, self.head_dim, self.heads, b, if self.causal { " causal" } else { "" })
    }
}

/// Everything one benchmark run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// [`SCHEMA`].
    pub schema: String,
    /// "ringattn" or "torch-sdpa".
    pub implementation: String,
    /// Version of the tool that measured ("ringattn 0.1.0", "torch 2.5.1", ...).
    pub version: String,
    pub unix_time: u64,
    /// UTC, "YYYY-MM-DD HH:MM:SS".
    pub date: String,
    pub adapter: AdapterReport,
    pub warmup: usize,
    pub reps: usize,
    pub max_seconds: Option<f64>,
    pub results: Vec<CaseResult>,

    // Fields below came with the benchmark suites; older files lack them.
    /// Commit the tool was built from (see [`git_commit`]).
    #[serde(default)]
    pub git_commit: Option<String>,
    /// Suites the run was asked for.
    #[serde(default)]
    pub suites: Vec<String>,
    /// The settings of the run (command-line options after defaults), free-form.
    #[serde(default)]
    pub settings: Option<serde_json::Value>,
    /// Devices of the run, one line each (ring suites).
    #[serde(default)]
    pub devices: Vec<String>,
    /// False while the run is still going (the file is rewritten after every case),
    /// true once every case ran; a file left at false is an interrupted run.
    #[serde(default)]
    pub complete: Option<bool>,
}

impl BenchReport {
    /// An empty report stamped with the adapter and the current time.
    pub fn new(ctx: &GpuContext, opts: &BenchOptions) -> Self {
        let unix_time = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        BenchReport {
            schema: SCHEMA.into(),
            implementation: "ringattn".into(),
            version: format!("ringattn {}", env!("CARGO_PKG_VERSION")),
            unix_time,
            date: utc_datetime(unix_time),
            adapter: AdapterReport::of(ctx),
            warmup: opts.warmup,
            reps: opts.reps,
            max_seconds: opts.max_seconds,
            results: Vec::new(),
            git_commit: Some(git_commit()),
            suites: Vec::new(),
            settings: None,
            devices: Vec::new(),
            complete: None,
        }
    }
}

/// The commit of the source this binary was built from: `git rev-parse` in the
/// source checkout at run time when it is still there (with "-dirty" when tracked
/// files changed), else the commit embedded at build time (build.rs), else "unknown".
pub fn git_commit() -> String {
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git").arg("-C").arg(env!("CARGO_MANIFEST_DIR")).args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let built = env!("RINGATTN_GIT_COMMIT");
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(c) if !c.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if c != built && built != "unknown" {
                // The checkout moved on since the build: the binary is what ran.
                return format!("{built} (checkout now at {c})");
            }
            if dirty {
                format!("{c}-dirty")
            } else {
                c
            }
        }
        _ => built.to_string(),
    }
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// "YYYY-MM-DD" (UTC) of a Unix time.
pub fn utc_date(unix_secs: u64) -> String {
    let (y, m, d) = civil_from_days((unix_secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// "YYYY-MM-DD HH:MM:SS" (UTC) of a Unix time.
pub fn utc_datetime(unix_secs: u64) -> String {
    let s = unix_secs % 86_400;
    format!("{} {:02}:{:02}:{:02}", utc_date(unix_secs), s / 3600, s / 60 % 60, s % 60)
}

/// Whether an error means "this case cannot run here" rather than a failure.
pub(crate) fn is_skip(e: &Error) -> bool {
    match e {
        Error::Ring { source, .. } => is_skip(source),
        Error::MissingFeature { .. }
        | Error::LimitExceeded { .. }
        | Error::UnsupportedHeadDim { .. }
        | Error::ZeroDim { .. }
        | Error::HeadsNotMultiple { .. }
        | Error::OutOfMemory { .. } => true,
        Error::Gpu { message, .. } => {
            let m = message.to_lowercase();
            m.contains("out of memory") || m.contains("outofmemory") || m.contains("limit") || m.contains("too large")
        }
        _ => false,
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// Decides, before running anything, the tier each case runs and which cases are
/// duplicates of another (a fallback onto a kernel another case measures).
/// A kernel and shape: cases with equal keys measure the same thing.
type KernelKey = (Tier, Dtype, usize, usize, usize, usize, usize, bool);

fn plan(ctx: &GpuContext, cases: &[Case], opts: &BenchOptions) -> Vec<std::result::Result<Tier, Box<CaseResult>>> {
    let resolved: Vec<std::result::Result<Tier, Box<CaseResult>>> = cases
        .iter()
        .map(|c| {
            let skip = |tier: String, note: String, status| {
                let mut r = CaseResult::new(c, tier, opts);
                r.status = status;
                r.note = Some(note);
                Box::new(r)
            };
            if let Err(e) = ctx.check_dtype(c.dtype, "the benchmark") {
                return Err(skip(c.tier_requested(), format!("{} not supported: {e}", c.dtype.name()), CaseStatus::Skipped));
            }
            resolve_tier(ctx, c.tier, c.dtype, c.head_dim)
                .map_err(|e| skip(c.tier_requested(), e.to_string(), if is_skip(&e) { CaseStatus::Skipped } else { CaseStatus::Error }))
        })
        .collect();
    if !opts.dedupe_fallbacks {
        return resolved;
    }
    // Representative of each (kernel, shape): an exact request beats auto beats a fallback.
    let rank = |c: &Case, t: Tier| match c.tier {
        Some(r) if r == t => 0,
        None => 1,
        Some(_) => 2,
    };
    let mut best: HashMap<KernelKey, (u8, usize)> = HashMap::new();
    for (i, (c, r)) in cases.iter().zip(&resolved).enumerate() {
        if let Ok(t) = r {
            let key = (*t, c.dtype, c.batch, c.seq, c.heads, c.kv_heads, c.head_dim, c.causal);
            let cand = (rank(c, *t), i);
            best.entry(key).and_modify(|b| *b = (*b).min(cand)).or_insert(cand);
        }
    }
    resolved
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let c = &cases[i];
            let t = r?;
            let (_, rep) = best[&(t, c.dtype, c.batch, c.seq, c.heads, c.kv_heads, c.head_dim, c.causal)];
            if rep == i {
                return Ok(t);
            }
            let mut res = CaseResult::new(c, t.name().into(), opts);
            res.status = CaseStatus::Duplicate;
            let why = match c.tier {
                Some(req) if req != t => format!("{req} falls back to {t} for {} head_dim {}", c.dtype.name(), c.head_dim),
                None => format!("auto runs {t} for {} head_dim {}", c.dtype.name(), c.head_dim),
                Some(_) => format!("{t} requested twice"),
            };
            let other = &cases[rep];
            res.note = Some(format!("{why}; measured in the row requested as {}", other.tier_requested()));
            Err(Box::new(res))
        })
        .collect()
}

/// Runs one case (already planned to run `tier`).
fn run_case(ctx: &GpuContext, case: &Case, tier: Tier, opts: &BenchOptions) -> CaseResult {
    run_case_checked(ctx, case, tier, opts, None)
}

/// Runs one case on `tier` (see [`plan_tier`]), records its peak bytes, and with
/// `check_rows = Some(n)` compares n sampled output rows against the f64 reference
/// after timing (a failed comparison leaves the case `ok` with `check.passed = false`).
pub fn run_case_checked(ctx: &GpuContext, case: &Case, tier: Tier, opts: &BenchOptions, check_rows: Option<usize>) -> CaseResult {
    run_case_masked(ctx, case, tier, opts, check_rows, None)
}

/// [`run_case_checked`] under an optional block mask: the result records the mask's
/// density, and its bytes in the peak.
pub fn run_case_masked(
    ctx: &GpuContext,
    case: &Case,
    tier: Tier,
    opts: &BenchOptions,
    check_rows: Option<usize>,
    mask: Option<&crate::mask::BlockMask>,
) -> CaseResult {
    let mut res = CaseResult::new(case, tier.name().into(), opts);
    let mut notes: Vec<String> = Vec::new();
    if let Some(req) = case.tier {
        if req != tier {
            notes.push(format!("{req} requested; {t} runs for {} head_dim {} on this adapter", case.dtype.name(), case.head_dim, t = tier));
        }
    }
    res.density = mask.map(|m| m.density());
    // (warm-up runs, (GPU, wall, call) seconds, input sets, peak bytes, check, tiles)
    type Measured = (usize, (Vec<f64>, Vec<f64>, Vec<f64>), usize, u64, Option<CheckResult>, String);
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<Measured> {
        let w = Workload::with_mask(ctx, *case, opts, mask)?;
        let (warm, start) = opts.warm_up(&[ctx], opts.reheat_seconds, || w.run_once())?;
        let over = || opts.spent(start);
        let timer = if opts.timestamps { GpuTimer::new(ctx) } else { None };
        let (mut gpu, mut wall, mut call) = (Vec::with_capacity(opts.reps), Vec::with_capacity(opts.reps), Vec::with_capacity(opts.reps));
        for i in 0..opts.reps.max(1) {
            if i > 0 && over() {
                break;
            }
            let s = w.run_timed(timer.as_ref())?;
            gpu.extend(s.gpu_s);
            wall.push(s.wall_s);
            call.push(s.call_s);
        }
        let check = match check_rows {
            Some(n) => Some(w.check(&sample_rows(case.seq, n))?),
            None => None,
        };
        Ok((warm, (gpu, wall, call), w.input_sets(), w.bytes_per_set() + w.mask_bytes(), check, w.tile_label()))
    }));
    match outcome {
        Ok(Ok((warm, (gpu, wall, call), sets, peak, check, tile))) => {
            res.status = CaseStatus::Ok;
            res.tile = Some(tile);
            res.warmup_runs = warm;
            res.input_sets = sets;
            res.set_samples(&gpu, &wall);
            res.call_ms = call.iter().map(|x| x * 1e3).collect();
            res.call_ms_median = (!res.call_ms.is_empty()).then(|| median(&res.call_ms));
            res.set_peak(peak, peak);
            res.devices = Some(1);
            res.check = check;
            if res.reps < opts.reps.max(1) {
                notes.push(format!("{} of {} reps ran (--max-seconds budget spent)", res.reps, opts.reps));
            }
            if gpu.is_empty() {
                notes.push(if !opts.timestamps { "GPU timer off: wall time only".into() } else { "no TIMESTAMP_QUERY: wall time only".into() });
            }
        }
        Ok(Err(e)) => {
            res.status = if is_skip(&e) { CaseStatus::Skipped } else { CaseStatus::Error };
            notes.push(e.to_string());
        }
        Err(p) => {
            res.status = CaseStatus::Error;
            notes.push(format!("panicked: {}", panic_message(p.as_ref())));
        }
    }
    if !notes.is_empty() {
        res.note = Some(notes.join("; "));
    }
    res
}

/// The tier `case` runs on `ctx`, or the skipped/error result explaining why it
/// cannot run (the per-case part of the planning [`run_cases`] does).
pub fn plan_tier(ctx: &GpuContext, case: &Case, opts: &BenchOptions) -> std::result::Result<Tier, Box<CaseResult>> {
    let o = BenchOptions { dedupe_fallbacks: false, ..opts.clone() };
    plan(ctx, std::slice::from_ref(case), &o).pop().expect("one plan per case")
}

/// Runs every case in order and returns the report; `on_result` sees each result as
/// soon as it is known (for streaming output). Never panics on a case that cannot run.
pub fn run_cases(ctx: &GpuContext, cases: &[Case], opts: &BenchOptions, mut on_result: impl FnMut(&CaseResult)) -> BenchReport {
    let mut report = BenchReport::new(ctx, opts);
    for (case, planned) in cases.iter().zip(plan(ctx, cases, opts)) {
        let r = match planned {
            Ok(tier) => run_case(ctx, case, tier, opts),
            Err(r) => *r,
        };
        on_result(&r);
        report.results.push(r);
    }
    report
}

/// A number with 3 significant digits, plain for 1e-3 <= |x| < 1e6, else in e-notation.
pub fn sig3(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 {
        "0".into()
    } else if !x.is_finite() {
        format!("{x}")
    } else if (1e-3..1e6).contains(&a) {
        let digits = (2 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.digits$}")
    } else {
        format!("{x:.2e}")
    }
}

/// `1.23e6` -> "1.23 M".
pub fn si(x: f64) -> String {
    const P: [(f64, &str); 4] = [(1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")];
    for (s, u) in P {
        if x.abs() >= s {
            return format!("{}{u}", sig3(x / s));
        }
    }
    sig3(x)
}

/// The Markdown table header: tier | dtype | N | D | causal | GPU ms (median) | wall ms | TFLOP/s | tokens/s.
pub fn markdown_header() -> String {
    "| tier | dtype | N | D | causal | GPU ms (median) | wall ms | TFLOP/s | tokens/s |\n|---|---|---:|---:|---|---:|---:|---:|---:|".into()
}

/// One Markdown row; `mark` (e.g. `[1]`) is appended to the tier cell. Throughput from
/// wall time (no GPU timer) is marked "(wall)".
pub fn markdown_row(r: &CaseResult, mark: &str) -> String {
    let opt = |x: Option<f64>| x.map_or_else(|| "n/a".to_string(), sig3);
    let tier = if r.tier_requested != r.tier && r.tier_requested != "auto" && r.status == CaseStatus::Ok {
        format!("{} ({} req.)", r.tier, r.tier_requested)
    } else {
        r.tier.clone()
    };
    let mark = if mark.is_empty() { String::new() } else { format!(" {mark}") };
    let causal = if r.causal { "yes" } else { "no" };
    match r.status {
        CaseStatus::Ok => {
            let wall_src = r.time_source.as_deref() == Some("wall");
            let suffix = if wall_src { " (wall)" } else { "" };
            format!(
                "| {tier}{mark} | {} | {} | {} | {causal} | {} | {} | {}{suffix} | {}{suffix} |",
                r.dtype,
                r.seq,
                r.head_dim,
                opt(r.gpu_ms_median),
                opt(r.wall_ms_median),
                opt(r.tflops),
                r.tokens_per_s.map_or_else(|| "n/a".to_string(), si),
            )
        }
        s => {
            let what = match s {
                CaseStatus::Duplicate => "duplicate",
                CaseStatus::Error => "error",
                _ => "skipped",
            };
            format!("| {tier}{mark} | {} | {} | {} | {causal} | {what} | - | - | - |", r.dtype, r.seq, r.head_dim)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(utc_datetime(1_700_000_000), "2023-11-14 22:13:20");
    }

    #[test]
    fn numbers() {
        assert_eq!(sig3(1234.5), "1234");
        assert_eq!(sig3(12.345), "12.3");
        assert_eq!(sig3(0.012345), "0.0123");
        assert_eq!(sig3(1.5e-5), "1.50e-5");
        assert_eq!(si(2.5e6), "2.50 M");
        assert_eq!(si(999.0), "999");
    }

    #[test]
    fn random_inputs_are_never_zero() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut v = Vec::new();
        fill_chunk(&mut rng, &mut v, 100_000);
        assert!(v.iter().all(|x| x.abs() >= 0.0625 && x.abs() < 1.0));
        assert!(v.iter().any(|&x| x < 0.0) && v.iter().any(|&x| x > 0.0));
    }

    #[test]
    fn stats_and_throughput() {
        let c = Case { tier: None, dtype: Dtype::F32, batch: 2, seq: 1024, heads: 8, kv_heads: 8, head_dim: 64, causal: true };
        let mut r = CaseResult::new(&c, "portable".into(), &BenchOptions::default());
        r.set_samples(&[0.003, 0.001, 0.002], &[0.004, 0.005]);
        assert_eq!(r.gpu_ms_median, Some(2.0));
        assert_eq!(r.gpu_ms_min, Some(1.0));
        assert_eq!(r.gpu_ms_max, Some(3.0));
        assert_eq!(r.wall_ms_median, Some(4.5));
        assert_eq!(r.time_source.as_deref(), Some("gpu"));
        let flops = 4.0 * 2.0 * 8.0 * 1024.0 * 1024.0 * 64.0 / 2.0;
        assert!((r.tflops.unwrap() - flops / 2e-3 / 1e12).abs() < 1e-9);
        assert!((r.tokens_per_s.unwrap() - 2048.0 / 2e-3).abs() < 1e-6);
        r.set_samples(&[], &[0.004]);
        assert_eq!(r.time_source.as_deref(), Some("wall"));
        assert_eq!(r.gpu_ms_median, None);
        let j = serde_json::to_string(&r).unwrap();
        let back: CaseResult = serde_json::from_str(&j).unwrap();
        assert_eq!(back, r);
    }

    /// Output of benches/python/sdpa_baseline.py (trimmed, from an H200 run): the
    /// Python baseline must stay readable as a [`BenchReport`].
    const SDPA_SAMPLE: &str = r#"{"schema": "ringattn-bench/1", "implementation": "torch-sdpa", "version": "torch 2.11.0+cu130", "unix_time": 1795655842, "date": "2026-11-26 01:17:22", "adapter": {"name": "NVIDIA H200", "backend": "cuda", "device_type": "DiscreteGpu", "driver": "580.159.04", "driver_info": "torch 2.11.0+cu130, CUDA 13.0, cuDNN 91900, sm_90, 132 SMs, 139.8 GiB", "vendor": 4318, "device": 0, "timestamp_query": true, "shader_f16": true, "subgroup": true, "tiers": ["sdpa-flash", "sdpa-efficient", "sdpa-math"]}, "warmup": 2, "reps": 5, "max_seconds": 3.0, "results": [{"implementation": "torch-sdpa", "tier": "sdpa-flash", "tier_requested": "sdpa-flash", "dtype": "f16", "batch": 1, "seq": 1024, "heads": 8, "head_dim": 64, "causal": false, "status": "ok", "note": null, "warmup_runs": 2, "reps_requested": 5, "reps": 5, "input_sets": 2, "gpu_ms_median": 0.036320000886917114, "gpu_ms_min": 0.033695999532938004, "gpu_ms_max": 0.05087999999523163, "wall_ms_median": 0.048419000009403135, "wall_ms_min": 0.045659999997837986, "wall_ms_max": 0.11752999999714575, "flops": 2147483648.0, "tflops": 59.12675097906037, "tokens_per_s": 28193831.910638984, "time_source": "gpu", "gpu_ms": [0.05087999999523163, 0.03872000053524971], "wall_ms": [0.11752999999714575, 0.05466300000023239]}, {"implementation": "torch-sdpa", "tier": "sdpa-math", "tier_requested": "sdpa-math", "dtype": "f32", "batch": 1, "seq": 65536, "heads": 8, "head_dim": 64, "causal": false, "status": "skipped", "note": "out of memory (tried to allocate 128.00 GiB)", "warmup_runs": 0, "reps_requested": 5, "reps": 0, "input_sets": 1, "gpu_ms_median": null, "gpu_ms_min": null, "gpu_ms_max": null, "wall_ms_median": null, "wall_ms_min": null, "wall_ms_max": null, "flops": 8796093022208.0, "tflops": null, "tokens_per_s": null, "time_source": null, "gpu_ms": [], "wall_ms": []}]}"#;

    #[test]
    fn reads_python_baseline_json() {
        let r: BenchReport = serde_json::from_str(SDPA_SAMPLE).unwrap();
        assert_eq!(r.schema, SCHEMA);
        assert_eq!(r.implementation, "torch-sdpa");
        assert_eq!(r.results.len(), 2);
        let ok = &r.results[0];
        assert_eq!((ok.status, ok.tier.as_str(), ok.dtype.as_str(), ok.seq, ok.head_dim), (CaseStatus::Ok, "sdpa-flash", "f16", 1024, 64));
        let c = Case { tier: None, dtype: Dtype::F16, batch: 1, seq: 1024, heads: 8, kv_heads: 8, head_dim: 64, causal: false };
        assert_eq!(ok.flops, c.flops());
        assert_eq!(r.results[1].status, CaseStatus::Skipped);
        assert_eq!(r.results[1].gpu_ms_median, None);
        println!("{}", markdown_row(ok, ""));
    }
}
