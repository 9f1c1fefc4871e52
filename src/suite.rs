//! Benchmark suites (`ringattn bench SUITE`): the Python system's benchmark tables
//! reproduced with the presets ([`crate::presets`]), extended to long sequences,
//! several devices and more shapes, with results files and memory accounting.
//!
//! | suite | what | default grid |
//! |---|---|---|
//! | `kernels` | the kernel table of `ringattn bench` (tiers x dtypes x N x D) | see [`crate::cli::bench`] |
//! | `compare` | every preset and plain single-device attention at the old settings | B=2, H=8, D=64, N=1K..64K, dense and causal |
//! | `memory` | peak GPU bytes per token and its scaling exponent over N | B=1, H=8, D=64, N=512..64K |
//! | `extreme` | 100K and 1M tokens on one device and on the ring (Distributed) | B=1, H=8, D=64, causal |
//! | `sweep` | batch 1..8, heads 1..32, head_dim 32..256, GQA 1..8, one axis at a time | around B=1, H=8, D=64, N=4096 |
//! | `ring` | the presets on 1..N devices (speedup over one device) | B=1, H=8, D=64, N=16K, 64K |
//! | `sparse` | block-sparse attention against density (seeded random blocks + diagonal) and dense | B=1, H=8, D=64, N=16K, 64K, density 0.05..0.5, 64-token blocks |
//!
//! Presets run on every device of `--devices` (the ring suite: on 1..=all of them).
//!
//! Single-device cases report GPU time from timestamp queries around the one
//! compute pass (inputs resident on the GPU). Preset cases run [`crate::RingAttention`]
//! from host slices to host output; there is no single GPU clock across devices, so
//! their time is the ring's own wall time on GPU-resident shards, uploaded once
//! ([`crate::RingAttention::forward_shards`], [`crate::RingStats::ring_seconds`], time
//! source "ring": every step, transfer and merge), and one whole call from host
//! slices to host output (upload and readback included) is timed after the reps
//! (`wall_ms`) and gives the outputs `--check` reads. They also report bytes moved
//! between devices and the transport GB/s.
//!
//! Memory comes from the library's own accounting: the bytes of the buffers it
//! allocated for the call ([`crate::bench::Workload::bytes_per_set`] on one device,
//! [`crate::RingStats::peak_bytes`] per device on a ring).
//!
//! Results go to a JSON file (schema [`crate::bench::SCHEMA`], the same as
//! `ringattn bench --json` and the Python baselines) and a CSV file with one flat row
//! per case; both are rewritten after every case, so an interrupted run keeps every
//! finished case ([`crate::bench::BenchReport::complete`] stays false).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use half::f16;
use serde::{Deserialize, Serialize};

use crate::attention::resolve_tier;
use crate::bench::{self, is_skip, random_inputs, sample_rows, BenchOptions, BenchReport, Case, CaseResult, CaseStatus, CheckResult};
use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::kernels::Tier;
use crate::presets::{Preset, PresetKind, SparseConfig};
use crate::tensor::Dtype;

/// A benchmark suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suite {
    Kernels,
    Compare,
    Memory,
    Extreme,
    Sweep,
    Ring,
    Sparse,
}

impl Suite {
    pub const ALL: &'static [Suite] = &[Suite::Kernels, Suite::Compare, Suite::Memory, Suite::Extreme, Suite::Sweep, Suite::Ring, Suite::Sparse];

    pub fn name(self) -> &'static str {
        match self {
            Suite::Kernels => "kernels",
            Suite::Compare => "compare",
            Suite::Memory => "memory",
            Suite::Extreme => "extreme",
            Suite::Sweep => "sweep",
            Suite::Ring => "ring",
            Suite::Sparse => "sparse",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Suite::Kernels => "kernel tiers x dtypes x N x D (GPU time)",
            Suite::Compare => "presets and single-device attention at the old settings (B=2, H=8, D=64), N up to 64K",
            Suite::Memory => "peak GPU bytes per token and its scaling exponent over N",
            Suite::Extreme => "100K and 1M tokens, one device and the ring",
            Suite::Sweep => "batch, heads, head_dim and GQA ratio, one axis at a time",
            Suite::Ring => "the presets over 1..N devices",
            Suite::Sparse => "block-sparse attention against mask density, and dense",
        }
    }
}

impl std::fmt::Display for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Suite {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let k = s.trim().to_ascii_lowercase();
        if let Some(x) = Suite::ALL.iter().find(|x| x.name() == k) {
            return Ok(*x);
        }
        let valid: Vec<&str> = Suite::ALL.iter().map(|x| x.name()).collect();
        Err(Error::InvalidArgument(format!("unknown suite `{s}` (valid: {}, all)", valid.join(", "))))
    }
}

/// What runs a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    /// [`crate::Attention`] on one device, inputs resident (GPU time).
    Single,
    /// A preset on a ring (the ring's wall time on resident shards; whole calls too).
    Preset(PresetKind),
}

impl Engine {
    /// "single" or the preset name.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Single => "single",
            Engine::Preset(k) => k.name(),
        }
    }
}

/// One case of a suite.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SuiteCase {
    pub suite: Suite,
    pub engine: Engine,
    pub case: Case,
    /// Devices of the ring (1 for [`Engine::Single`]).
    pub devices: usize,
    /// Block mask of a single-device case (the sparse suite); `None` = dense. The
    /// BlockSparse preset brings its own.
    pub sparse: Option<SparseConfig>,
}

impl SuiteCase {
    /// "compare Standard f16 B=2 N=1024 H=8 D=64 causal x2".
    pub fn label(&self) -> String {
        let c = &self.case;
        let kv = if c.kv_heads != c.heads { format!("/{}", c.kv_heads) } else { String::new() };
        format!(
            "{} {} {} B={} N={} H={}{kv} D={}{}{}",
            self.suite,
            self.engine.name(),
            c.dtype.name(),
            c.batch,
            c.seq,
            c.heads,
            c.head_dim,
            if c.causal { " causal" } else { "" },
            if self.devices > 1 { format!(" x{}", self.devices) } else { String::new() }
        ) + &self.sparse.map_or_else(String::new, |m| format!(" density {}", m.density))
    }
}

/// Grid values given on the command line; `None` takes the suite's default.
#[derive(Clone, Debug, Default)]
pub struct SuiteConfig {
    pub dtypes: Option<Vec<Dtype>>,
    /// Requested tiers (`None` = auto); empty = auto.
    pub tiers: Vec<Option<Tier>>,
    pub seqs: Option<Vec<usize>>,
    pub batches: Option<Vec<usize>>,
    pub heads: Option<Vec<usize>>,
    pub head_dims: Option<Vec<usize>>,
    /// GQA ratios heads / kv_heads.
    pub gqa: Option<Vec<usize>>,
    pub causal: Option<Vec<bool>>,
    pub presets: Option<Vec<PresetKind>>,
    /// Cases with a longer sequence are dropped (a size cap for CI).
    pub max_seq: Option<usize>,
    /// Mask densities of the sparse suite.
    pub densities: Option<Vec<f64>>,
    /// Mask block size (sparse suite and the BlockSparse preset).
    pub block: Option<usize>,
}

/// Default mask densities of the sparse suite.
pub const DEFAULT_DENSITIES: &[f64] = &[0.05, 0.1, 0.2, 0.5];

/// Default sequence lengths of each suite.
pub fn default_seqs(suite: Suite) -> Vec<usize> {
    match suite {
        Suite::Kernels => vec![1024, 4096, 16384, 65536],
        Suite::Compare => vec![1024, 2048, 4096, 8192, 16384, 32768, 65536],
        Suite::Memory => vec![512, 1024, 2048, 4096, 8192, 16384, 32768, 65536],
        Suite::Extreme => vec![100_000, 1_048_576],
        Suite::Sweep => vec![4096],
        Suite::Ring | Suite::Sparse => vec![16384, 65536],
    }
}

/// Default timed repetitions of each suite.
pub fn default_reps(suite: Suite) -> usize {
    match suite {
        Suite::Memory | Suite::Extreme => 1,
        Suite::Ring => 5,
        _ => 10,
    }
}

fn default_causal(suite: Suite) -> Vec<bool> {
    match suite {
        Suite::Kernels | Suite::Compare | Suite::Ring => vec![false, true],
        Suite::Memory | Suite::Sweep | Suite::Sparse => vec![false],
        Suite::Extreme => vec![true],
    }
}

/// The cases of `suite` with `devices` devices available (the ring suite runs 1..=devices),
/// plus notes on what was left out.
pub fn plan(suite: Suite, cfg: &SuiteConfig, devices: usize, shader_f16: bool) -> (Vec<SuiteCase>, Vec<String>) {
    let mut notes = Vec::new();
    let dtypes = cfg.dtypes.clone().unwrap_or_else(|| vec![if shader_f16 { Dtype::F16 } else { Dtype::F32 }]);
    let tiers = if cfg.tiers.is_empty() { vec![None] } else { cfg.tiers.clone() };
    let seqs = cfg.seqs.clone().unwrap_or_else(|| default_seqs(suite));
    let causal = cfg.causal.clone().unwrap_or_else(|| default_causal(suite));
    let presets: Vec<PresetKind> = cfg.presets.clone().unwrap_or_else(|| PresetKind::ALL.to_vec());
    let one = |v: &Option<Vec<usize>>, d: usize| v.clone().unwrap_or_else(|| vec![d]);
    // (batch, heads, kv_heads, head_dim) combinations.
    let shapes: Vec<(usize, usize, usize, usize)> = match suite {
        Suite::Sweep => {
            let batches = cfg.batches.clone().unwrap_or_else(|| vec![1, 2, 4, 8]);
            let heads = cfg.heads.clone().unwrap_or_else(|| vec![1, 2, 4, 8, 16, 32]);
            let dims = cfg.head_dims.clone().unwrap_or_else(|| crate::SUPPORTED_HEAD_DIMS.to_vec());
            let gqa = cfg.gqa.clone().unwrap_or_else(|| vec![1, 2, 4, 8]);
            let pick = |v: &[usize], want: usize| if v.contains(&want) { want } else { v[0] };
            let (b0, h0, d0) = (pick(&batches, 1), pick(&heads, 8), pick(&dims, 64));
            let hmax = heads.iter().copied().max().unwrap_or(h0);
            let mut v = Vec::new();
            v.extend(batches.iter().map(|&b| (b, h0, h0, d0)));
            v.extend(heads.iter().map(|&h| (b0, h, h, d0)));
            v.extend(dims.iter().map(|&d| (b0, h0, h0, d)));
            for &r in &gqa {
                if r == 0 || hmax % r != 0 {
                    notes.push(format!("GQA ratio {r} skipped: it does not divide {hmax} heads"));
                } else {
                    v.push((b0, hmax, hmax / r, d0));
                }
            }
            let mut seen = std::collections::HashSet::new();
            v.retain(|x| seen.insert(*x));
            v
        }
        _ => {
            let batches = one(&cfg.batches, if suite == Suite::Compare { 2 } else { 1 });
            let heads = one(&cfg.heads, 8);
            let dims = one(&cfg.head_dims, 64);
            let gqa = one(&cfg.gqa, 1);
            let mut v = Vec::new();
            for &b in &batches {
                for &h in &heads {
                    for &r in &gqa {
                        if r == 0 || h % r != 0 {
                            notes.push(format!("GQA ratio {r} skipped for {h} heads: it does not divide them"));
                            continue;
                        }
                        for &d in &dims {
                            v.push((b, h, h / r, d));
                        }
                    }
                }
            }
            v
        }
    };
    let engines: Vec<(Engine, Vec<usize>)> = match suite {
        Suite::Kernels | Suite::Sweep | Suite::Sparse => vec![(Engine::Single, vec![1])],
        Suite::Compare | Suite::Memory => {
            let mut e = vec![(Engine::Single, vec![1])];
            e.extend(presets.iter().map(|&p| (Engine::Preset(p), vec![devices])));
            e
        }
        Suite::Extreme => {
            let mut e = vec![(Engine::Single, vec![1])];
            let ring = if presets.contains(&PresetKind::Distributed) { Some(PresetKind::Distributed) } else { presets.first().copied() };
            e.extend(ring.map(|p| (Engine::Preset(p), vec![devices])));
            e
        }
        Suite::Ring => presets.iter().map(|&p| (Engine::Preset(p), (1..=devices).collect())).collect(),
    };
    // Mask variants: the sparse suite runs dense (None) and every density.
    let block = cfg.block.unwrap_or(SparseConfig::default().block);
    let masks: Vec<Option<SparseConfig>> = match suite {
        Suite::Sparse => {
            let mut m = vec![None];
            let dens = cfg.densities.clone().unwrap_or_else(|| DEFAULT_DENSITIES.to_vec());
            m.extend(dens.iter().map(|&density| Some(SparseConfig { density, block, ..Default::default() })));
            m
        }
        _ => vec![None],
    };
    let mut cases = Vec::new();
    let mut dropped = 0;
    for &tier in &tiers {
        for &dtype in &dtypes {
            for &(batch, heads, kv_heads, head_dim) in &shapes {
                for &seq in &seqs {
                    for &c in &causal {
                        for (engine, devs) in &engines {
                            for &d in devs {
                                for &sparse in &masks {
                                    if cfg.max_seq.is_some_and(|m| seq > m) {
                                        dropped += 1;
                                        continue;
                                    }
                                    let case = Case { tier, dtype, batch, seq, heads, kv_heads, head_dim, causal: c };
                                    // The BlockSparse preset: its default mask at the chosen block size.
                                    let sparse = match engine {
                                        Engine::Preset(PresetKind::BlockSparse) => Some(SparseConfig { block, ..Default::default() }),
                                        _ => sparse,
                                    };
                                    cases.push(SuiteCase { suite, engine: *engine, case, devices: d, sparse });
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if dropped > 0 {
        notes.push(format!("{suite}: {dropped} case(s) over --max-seq {} left out", cfg.max_seq.unwrap_or(0)));
    }
    (cases, notes)
}

/// Runs one case on `contexts` (single-device cases use the first) and returns its
/// result; never panics on a case that cannot run (skipped / error with a note).
pub fn run_case(contexts: &[Arc<GpuContext>], sc: &SuiteCase, opts: &BenchOptions, check_rows: Option<usize>) -> CaseResult {
    let mut r = match sc.engine {
        Engine::Single => match bench::plan_tier(&contexts[0], &sc.case, opts) {
            Ok(tier) => match sc.sparse.map(|m| m.mask(sc.case.seq, sc.case.seq)) {
                None => bench::run_case_checked(&contexts[0], &sc.case, tier, opts, check_rows),
                Some(Ok(mask)) => {
                    let mut r = bench::run_case_masked(&contexts[0], &sc.case, tier, opts, check_rows, Some(&mask));
                    r.mask_block = Some(mask.block());
                    r
                }
                Some(Err(e)) => {
                    let mut r = CaseResult::new(&sc.case, tier.name().into(), opts);
                    r.status = if is_skip(&e) { CaseStatus::Skipped } else { CaseStatus::Error };
                    r.note = Some(e.to_string());
                    r
                }
            },
            Err(r) => *r,
        },
        Engine::Preset(kind) => run_preset(contexts, kind, sc, opts, check_rows),
    };
    r.suite = Some(sc.suite.name().into());
    r.preset = Some(sc.engine.name().into());
    r.devices = Some(sc.devices);
    r
}

type PresetMeasured = (usize, (Vec<f64>, Vec<f64>), crate::ring::RingOutput, Option<CheckResult>);

fn run_preset(contexts: &[Arc<GpuContext>], kind: PresetKind, sc: &SuiteCase, opts: &BenchOptions, check_rows: Option<usize>) -> CaseResult {
    let case = &sc.case;
    let mut preset = Preset::of(kind);
    if let (Some(cfg), Some(own)) = (sc.sparse, preset.sparse.as_mut()) {
        *own = cfg;
    }
    let tier_name =
        resolve_tier(&contexts[0], case.tier, case.dtype, case.head_dim).map(|t| t.name().to_string()).unwrap_or_else(|_| case.tier_requested());
    let mut res = CaseResult::new(case, tier_name, opts);
    res.placement = Some(preset.placement.name().into());
    if sc.devices == 0 || sc.devices > contexts.len() {
        res.note = Some(format!("needs {} devices, {} open (see --devices)", sc.devices, contexts.len()));
        return res;
    }
    let devs = &contexts[..sc.devices];
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<PresetMeasured> {
        let shape = case.shape();
        shape.validate()?;
        for ctx in devs {
            ctx.check_dtype(case.dtype, "the benchmark")?;
        }
        let seed = opts.seed ^ (case.seq as u64) << 20 ^ (case.head_dim as u64) << 8 ^ case.batch as u64;
        let q = random_inputs(shape.q_len(), seed);
        let k = random_inputs(shape.kv_len(), seed.wrapping_add(1));
        let v = random_inputs(shape.kv_len(), seed.wrapping_add(2));
        let mut attn = preset.on_contexts(devs.to_vec())?;
        attn.tier = case.tier;
        // The ring is timed on GPU-resident shards (uploaded once, as an application
        // that produces Q/K/V on the GPUs would hold them); the first call allocates
        // the ring's buffers and builds the pipelines.
        let ring_opts = attn.options(&shape, case.causal)?;
        let shards = attn.ring().upload(&q, &k, &v, shape, case.dtype, &ring_opts)?;
        // The first call (a warm-up run) builds the pipelines: on a fresh machine the
        // driver's compiles and the tile searches take seconds of mostly idle GPU. The
        // devices may have idled then, or while the host prepared this case: raise
        // their clocks with sustained work before the ring's own (bursty) warm-up, and
        // count the case's budget from there.
        let (warm, start) =
            opts.warm_up(devs, opts.reheat_seconds, || attn.ring().forward_shards(&shards, shape, case.dtype, &ring_opts).map(|_| ()))?;
        let over = || opts.spent(start);
        let mut ring = Vec::new();
        for i in 0..opts.reps.max(1) {
            if i > 0 && over() {
                break;
            }
            ring.push(attn.ring().forward_shards(&shards, shape, case.dtype, &ring_opts)?.stats.ring_seconds);
        }
        drop(shards);
        // One whole call, host slices in and out: its wall time, its stats and the
        // outputs the check reads.
        let out = attn.forward(&q, &k, &v, shape, case.dtype, case.causal)?;
        let wall = vec![out.stats.wall_seconds];
        let check = match check_rows {
            Some(n) => {
                let rows = sample_rows(case.seq, n);
                // The devices computed on f16-rounded inputs in f16 runs.
                let round = |x: &[f32]| -> Vec<f32> {
                    match case.dtype {
                        Dtype::F32 => x.to_vec(),
                        Dtype::F16 => x.iter().map(|&a| f16::from_f32(a).to_f32()).collect(),
                    }
                };
                let mask = attn.mask(shape.seq_q, shape.seq_k).transpose()?;
                let (q, k, v) = (round(&q), round(&k), round(&v));
                Some(CheckResult::compare_masked(&q, &k, &v, &out.o, &out.lse, shape, case.dtype, case.causal, mask.as_ref(), &rows))
            }
            None => None,
        };
        Ok((warm, (ring, wall), out, check))
    }));
    if let Some(c) = preset.sparse {
        res.mask_block = Some(c.block);
        res.density = c.mask(case.seq, case.seq).ok().map(|m| m.density());
    }
    let mut notes: Vec<String> = Vec::new();
    match outcome {
        Ok(Ok((warm, (ring, wall), out, check))) => {
            res.status = CaseStatus::Ok;
            res.warmup_runs = warm;
            res.input_sets = 1;
            res.set_ring_samples(&ring, &wall);
            let st = &out.stats;
            res.set_peak(st.peak_bytes.iter().copied().max().unwrap_or(0), st.peak_bytes.iter().sum());
            res.bytes_moved = Some(st.bytes_moved);
            res.transport_gbps = (st.bytes_moved > 0 && st.staging != crate::ring::StagingMemory::Shared).then(|| st.gbps());
            let mut tiers: Vec<&str> = st.tiers.iter().map(|t| t.name()).collect();
            tiers.dedup();
            res.tier = tiers.join("+");
            res.check = check;
            if res.reps < opts.reps.max(1) {
                notes.push(format!("{} of {} reps ran (--max-seconds budget spent)", res.reps, opts.reps));
            }
        }
        Ok(Err(e)) => {
            res.status = if is_skip(&e) { CaseStatus::Skipped } else { CaseStatus::Error };
            notes.push(e.to_string());
        }
        Err(p) => {
            res.status = CaseStatus::Error;
            let msg = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
            notes.push(format!("panicked: {msg}"));
        }
    }
    if !notes.is_empty() {
        res.note = Some(notes.join("; "));
    }
    res
}

/// A results file pair (JSON + CSV) rewritten after every case.
#[derive(Debug)]
pub struct ResultsFile {
    pub json: PathBuf,
    pub csv: PathBuf,
    pub report: BenchReport,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io { path: path.display().to_string(), message: e.to_string() }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader (or an
/// interrupted run) never sees half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    std::fs::write(&tmp, bytes).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

impl ResultsFile {
    /// Creates the directory of `json` if needed and writes the (empty) report; the
    /// CSV goes next to it with the extension `.csv`.
    pub fn create(json: PathBuf, mut report: BenchReport) -> Result<Self> {
        if let Some(dir) = json.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        let csv = json.with_extension("csv");
        report.complete = Some(false);
        let f = ResultsFile { json, csv, report };
        f.write()?;
        Ok(f)
    }

    fn write(&self) -> Result<()> {
        let s = serde_json::to_string_pretty(&self.report).map_err(|e| io_err(&self.json, e))?;
        write_atomic(&self.json, (s + "\n").as_bytes())?;
        write_atomic(&self.csv, &csv_bytes(&self.report)?)
    }

    /// Adds a finished case and rewrites both files.
    pub fn push(&mut self, r: CaseResult) -> Result<()> {
        self.report.results.push(r);
        self.write()
    }

    /// Marks the run complete and rewrites both files.
    pub fn finish(&mut self) -> Result<()> {
        self.report.complete = Some(true);
        self.write()
    }
}

/// Reads a results JSON file (any `ringattn-bench/1` file: suites, `ringattn bench
/// --json`, the Python baselines).
pub fn read_results(path: &Path) -> Result<BenchReport> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        return report_from_csv(path);
    }
    let s = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    let r: BenchReport = serde_json::from_str(&s).map_err(|e| io_err(path, format!("not a results file: {e}")))?;
    if r.schema != bench::SCHEMA {
        return Err(io_err(path, format!("schema `{}` is not `{}`", r.schema, bench::SCHEMA)));
    }
    Ok(r)
}

/// One flat CSV row: the case with the run's adapter, commit and date.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CsvRow {
    pub date: String,
    pub git_commit: String,
    pub adapter: String,
    pub backend: String,
    pub driver: String,
    pub implementation: String,
    pub suite: String,
    pub preset: String,
    pub tier: String,
    pub dtype: String,
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub causal: bool,
    pub devices: Option<usize>,
    pub placement: String,
    pub status: String,
    pub reps: usize,
    pub warmup_runs: usize,
    pub time_source: String,
    pub gpu_ms_median: Option<f64>,
    pub gpu_ms_min: Option<f64>,
    pub gpu_ms_max: Option<f64>,
    pub wall_ms_median: Option<f64>,
    pub wall_ms_min: Option<f64>,
    pub wall_ms_max: Option<f64>,
    /// Ring cases: median wall time of the ring on resident shards (absent in CSV files
    /// written before this column existed).
    #[serde(default)]
    pub ring_ms_median: Option<f64>,
    /// Single-device cases: median host time of a whole call (encode, submit, wait;
    /// absent in CSV files written before this column existed).
    #[serde(default)]
    pub call_ms_median: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub tflops: Option<f64>,
    pub flops: f64,
    pub peak_bytes: Option<u64>,
    pub peak_bytes_total: Option<u64>,
    pub bytes_per_token: Option<f64>,
    pub bytes_moved: Option<u64>,
    pub transport_gbps: Option<f64>,
    pub check_o_rel_error: Option<f64>,
    pub check_lse_max_error: Option<f64>,
    pub check_passed: Option<bool>,
    pub note: String,
    /// Block-sparse cases: the mask's density and block size (absent in CSV files
    /// written before these columns existed).
    #[serde(default)]
    pub density: Option<f64>,
    #[serde(default)]
    pub mask_block: Option<usize>,
    /// Single-device cases: the kernel's tiles (absent in CSV files written before this
    /// column existed).
    #[serde(default)]
    pub tile: String,
}

/// The CSV rows of a report.
pub fn csv_rows(report: &BenchReport) -> Vec<CsvRow> {
    let a = &report.adapter;
    report
        .results
        .iter()
        .map(|r| CsvRow {
            date: report.date.clone(),
            git_commit: report.git_commit.clone().unwrap_or_default(),
            adapter: a.name.clone(),
            backend: a.backend.clone(),
            driver: a.driver_line(),
            implementation: r.implementation.clone(),
            suite: r.suite.clone().unwrap_or_default(),
            preset: r.preset.clone().unwrap_or_default(),
            tier: r.tier.clone(),
            dtype: r.dtype.clone(),
            batch: r.batch,
            seq: r.seq,
            heads: r.heads,
            kv_heads: r.kv_heads(),
            head_dim: r.head_dim,
            causal: r.causal,
            devices: r.devices,
            placement: r.placement.clone().unwrap_or_default(),
            status: format!("{:?}", r.status).to_lowercase(),
            reps: r.reps,
            warmup_runs: r.warmup_runs,
            time_source: r.time_source.clone().unwrap_or_default(),
            gpu_ms_median: r.gpu_ms_median,
            gpu_ms_min: r.gpu_ms_min,
            gpu_ms_max: r.gpu_ms_max,
            wall_ms_median: r.wall_ms_median,
            wall_ms_min: r.wall_ms_min,
            wall_ms_max: r.wall_ms_max,
            ring_ms_median: r.ring_ms_median,
            call_ms_median: r.call_ms_median,
            tokens_per_s: r.tokens_per_s,
            tflops: r.tflops,
            flops: r.flops,
            peak_bytes: r.peak_bytes,
            peak_bytes_total: r.peak_bytes_total,
            bytes_per_token: r.bytes_per_token,
            bytes_moved: r.bytes_moved,
            transport_gbps: r.transport_gbps,
            check_o_rel_error: r.check.as_ref().map(|c| c.o_rel_error),
            check_lse_max_error: r.check.as_ref().map(|c| c.lse_max_error),
            check_passed: r.check.as_ref().map(|c| c.passed),
            note: r.note.clone().unwrap_or_default(),
            density: r.density,
            mask_block: r.mask_block,
            tile: r.tile.clone().unwrap_or_default(),
        })
        .collect()
}

/// A results report rebuilt from a CSV file written by the suites (for `ringattn
/// report`). The CSV keeps every per-case figure, but not the per-run settings, the
/// individual samples or the adapter's capability flags.
pub fn report_from_csv(path: &Path) -> Result<BenchReport> {
    let rows = read_csv(path)?;
    let first = rows.first().ok_or_else(|| io_err(path, "no rows"))?;
    let (driver, driver_info) = first.driver.split_once(' ').map_or((first.driver.clone(), String::new()), |(a, b)| (a.to_string(), b.to_string()));
    let adapter = bench::AdapterReport { name: first.adapter.clone(), backend: first.backend.clone(), driver, driver_info, ..Default::default() };
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let mut results = Vec::with_capacity(rows.len());
    for r in &rows {
        let status = match r.status.as_str() {
            "ok" => CaseStatus::Ok,
            "skipped" => CaseStatus::Skipped,
            "duplicate" => CaseStatus::Duplicate,
            _ => CaseStatus::Error,
        };
        let check = match (r.check_o_rel_error, r.check_lse_max_error, r.check_passed) {
            (Some(o), Some(l), Some(passed)) => {
                Some(bench::CheckResult { rows: 0, o_rel_error: o, lse_max_error: l, o_tolerance: f64::NAN, lse_tolerance: f64::NAN, passed })
            }
            _ => None,
        };
        results.push(CaseResult {
            implementation: r.implementation.clone(),
            tier: r.tier.clone(),
            tier_requested: r.tier.clone(),
            dtype: r.dtype.clone(),
            batch: r.batch,
            seq: r.seq,
            heads: r.heads,
            head_dim: r.head_dim,
            causal: r.causal,
            status,
            note: opt(&r.note),
            warmup_runs: r.warmup_runs,
            reps_requested: r.reps,
            reps: r.reps,
            input_sets: 0,
            gpu_ms_median: r.gpu_ms_median,
            gpu_ms_min: r.gpu_ms_min,
            gpu_ms_max: r.gpu_ms_max,
            wall_ms_median: r.wall_ms_median,
            wall_ms_min: r.wall_ms_min,
            wall_ms_max: r.wall_ms_max,
            flops: r.flops,
            tflops: r.tflops,
            tokens_per_s: r.tokens_per_s,
            time_source: opt(&r.time_source),
            gpu_ms: Vec::new(),
            wall_ms: Vec::new(),
            suite: opt(&r.suite),
            preset: opt(&r.preset),
            kv_heads: Some(r.kv_heads),
            devices: r.devices,
            placement: opt(&r.placement),
            peak_bytes: r.peak_bytes,
            peak_bytes_total: r.peak_bytes_total,
            bytes_per_token: r.bytes_per_token,
            bytes_moved: r.bytes_moved,
            transport_gbps: r.transport_gbps,
            check,
            density: r.density,
            mask_block: r.mask_block,
            ring_ms: Vec::new(),
            ring_ms_median: r.ring_ms_median,
            tile: opt(&r.tile),
            call_ms: Vec::new(),
            call_ms_median: r.call_ms_median,
        });
    }
    let suites: Vec<String> = rows.iter().map(|r| r.suite.clone()).filter(|s| !s.is_empty()).fold(Vec::new(), |mut v, s| {
        if !v.contains(&s) {
            v.push(s);
        }
        v
    });
    Ok(BenchReport {
        schema: bench::SCHEMA.into(),
        implementation: first.implementation.clone(),
        version: format!("(from {})", path.display()),
        unix_time: 0,
        date: first.date.clone(),
        adapter,
        warmup: first.warmup_runs,
        reps: first.reps,
        max_seconds: None,
        results,
        git_commit: opt(&first.git_commit),
        suites,
        settings: None,
        devices: Vec::new(),
        complete: None,
    })
}

fn csv_bytes(report: &BenchReport) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let rows = csv_rows(report);
    if rows.is_empty() {
        // Header only, so an empty file still says what its columns are.
        let empty = CsvRow::default();
        let mut tmp = csv::Writer::from_writer(Vec::new());
        tmp.serialize(&empty).map_err(|e| Error::InvalidArgument(format!("csv: {e}")))?;
        let bytes = tmp.into_inner().map_err(|e| Error::InvalidArgument(format!("csv: {e}")))?;
        let header_end = bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| p + 1);
        return Ok(bytes[..header_end].to_vec());
    }
    for r in &rows {
        w.serialize(r).map_err(|e| Error::InvalidArgument(format!("csv: {e}")))?;
    }
    w.into_inner().map_err(|e| Error::InvalidArgument(format!("csv: {e}")))
}

/// Reads a CSV file written by the suites.
pub fn read_csv(path: &Path) -> Result<Vec<CsvRow>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| io_err(path, e))?;
    r.deserialize().collect::<std::result::Result<Vec<CsvRow>, _>>().map_err(|e| io_err(path, format!("not a suite CSV file: {e}")))
}

/// `y = coefficient * x^exponent` fitted by least squares on (ln x, ln y).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerFit {
    pub exponent: f64,
    pub coefficient: f64,
    /// Coefficient of determination of the log-log fit (1 = exact power law).
    pub r2: f64,
    pub points: usize,
}

/// Fits `y = c * x^e` to positive points; `None` with fewer than two distinct x.
pub fn fit_power_law(points: &[(f64, f64)]) -> Option<PowerFit> {
    let p: Vec<(f64, f64)> =
        points.iter().filter(|(x, y)| *x > 0.0 && *y > 0.0 && x.is_finite() && y.is_finite()).map(|(x, y)| (x.ln(), y.ln())).collect();
    let n = p.len() as f64;
    if p.len() < 2 {
        return None;
    }
    let mx = p.iter().map(|a| a.0).sum::<f64>() / n;
    let my = p.iter().map(|a| a.1).sum::<f64>() / n;
    let sxx: f64 = p.iter().map(|a| (a.0 - mx).powi(2)).sum();
    if sxx <= 1e-18 {
        return None;
    }
    let sxy: f64 = p.iter().map(|a| (a.0 - mx) * (a.1 - my)).sum();
    let e = sxy / sxx;
    let b = my - e * mx;
    let ss_tot: f64 = p.iter().map(|a| (a.1 - my).powi(2)).sum();
    let ss_res: f64 = p.iter().map(|a| (a.1 - (b + e * a.0)).powi(2)).sum();
    let r2 = if ss_tot > 0.0 { 1.0 - ss_res / ss_tot } else { 1.0 };
    Some(PowerFit { exponent: e, coefficient: b.exp(), r2, points: p.len() })
}

/// One memory series: every ok case with the same engine and shape except N.
#[derive(Clone, Debug, PartialEq)]
pub struct MemorySeries {
    /// "Standard f16 B=1 H=8 D=64 x2".
    pub label: String,
    /// (N, peak bytes on the busiest device, peak bytes over all devices).
    pub points: Vec<(usize, u64, u64)>,
    /// Fit of the busiest device's peak bytes over N.
    pub fit: Option<PowerFit>,
}

/// Groups the results with peak bytes into series over N and fits each.
pub fn memory_series(results: &[CaseResult]) -> Vec<MemorySeries> {
    let mut groups: std::collections::BTreeMap<String, Vec<(usize, u64, u64)>> = std::collections::BTreeMap::new();
    for r in results.iter().filter(|r| r.status == CaseStatus::Ok) {
        let (Some(p), Some(t)) = (r.peak_bytes, r.peak_bytes_total) else { continue };
        groups.entry(series_label(r)).or_default().push((r.seq, p, t));
    }
    groups
        .into_iter()
        .map(|(label, mut points)| {
            points.sort();
            points.dedup_by_key(|p| p.0);
            let fit = fit_power_law(&points.iter().map(|&(n, p, _)| (n as f64, p as f64)).collect::<Vec<_>>());
            MemorySeries { label, points, fit }
        })
        .collect()
}

/// A case's identity without N: engine, dtype, shape, mask, devices.
pub fn series_label(r: &CaseResult) -> String {
    let kv = r.kv_heads();
    let kv = if kv != r.heads { format!("/{kv}") } else { String::new() };
    let dev = match r.devices {
        Some(d) if d > 1 => format!(" x{d}"),
        _ => String::new(),
    };
    let mask = match (r.density, r.preset.as_deref()) {
        // The BlockSparse preset's density is its own; a masked single-device case shows its block size.
        (Some(_), Some("single")) => format!(" masked b={}", r.mask_block.unwrap_or(0)),
        _ => String::new(),
    };
    format!(
        "{}{mask} {} B={} H={}{kv} D={}{}{dev}",
        r.preset.as_deref().unwrap_or(&r.tier),
        r.dtype,
        r.batch,
        r.heads,
        r.head_dim,
        if r.causal { " causal" } else { "" }
    )
}

/// `benchmarks/results/<date>-<adapter>/<suites>-<HHMMSS>.json` (UTC).
pub fn default_results_path(adapter: &str, unix_time: u64, suites: &[Suite]) -> PathBuf {
    let date = bench::utc_date(unix_time);
    let s = unix_time % 86_400;
    let names: Vec<&str> = suites.iter().map(|s| s.name()).collect();
    PathBuf::from("benchmarks/results").join(format!("{date}-{}", slug(adapter))).join(format!(
        "{}-{:02}{:02}{:02}.json",
        names.join("+"),
        s / 3600,
        s / 60 % 60,
        s % 60
    ))
}

/// "NVIDIA H200 (Vulkan)" -> "nvidia-h200-vulkan" (at most 40 characters).
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(40).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "adapter".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_names() {
        for s in Suite::ALL {
            assert_eq!(s.name().parse::<Suite>().unwrap(), *s);
        }
        assert_eq!("Compare".parse::<Suite>().unwrap(), Suite::Compare);
        let e = "speed".parse::<Suite>().unwrap_err().to_string();
        assert!(e.contains("unknown suite `speed`") && e.contains("compare") && e.contains("memory"), "{e}");
        assert_eq!("sparse".parse::<Suite>().unwrap(), Suite::Sparse);
    }

    #[test]
    fn power_fit() {
        let pts: Vec<(f64, f64)> = [512.0, 1024.0, 4096.0, 65536.0].iter().map(|&n: &f64| (n, 3.0 * n.powf(1.5))).collect();
        let f = fit_power_law(&pts).unwrap();
        assert!((f.exponent - 1.5).abs() < 1e-9 && (f.coefficient - 3.0).abs() < 1e-6 && (f.r2 - 1.0).abs() < 1e-9, "{f:?}");
        // y = n + 1000: between O(1) and O(n), and not an exact power law.
        let pts: Vec<(f64, f64)> = [512.0, 4096.0, 65536.0].iter().map(|&n| (n, n + 1000.0)).collect();
        let f = fit_power_law(&pts).unwrap();
        assert!(f.exponent > 0.5 && f.exponent < 1.0 && f.r2 < 1.0, "{f:?}");
        assert!(fit_power_law(&[(1.0, 1.0)]).is_none());
        assert!(fit_power_law(&[(2.0, 1.0), (2.0, 3.0)]).is_none());
    }

    #[test]
    fn plans() {
        let cfg = SuiteConfig::default();
        let (c, _) = plan(Suite::Compare, &cfg, 2, true);
        // 7 lengths x 2 masks x (single + every preset).
        assert_eq!(c.len(), 7 * 2 * (1 + PresetKind::ALL.len()));
        assert!(c.iter().all(|x| x.case.batch == 2 && x.case.heads == 8 && x.case.head_dim == 64 && x.case.dtype == Dtype::F16));
        assert!(c.iter().all(|x| x.devices == if x.engine == Engine::Single { 1 } else { 2 }));
        let (r, notes) = plan(Suite::Ring, &cfg, 3, false);
        assert_eq!(r.iter().map(|x| x.devices).max(), Some(3));
        assert_eq!(r.len(), PresetKind::ALL.len() * 3 * 2 * 2);
        assert!(notes.is_empty(), "{notes:?}");
        let (sp, _) = plan(Suite::Sparse, &SuiteConfig::default(), 2, true);
        assert_eq!(sp.len(), 2 * (1 + DEFAULT_DENSITIES.len()));
        assert!(sp.iter().all(|x| x.engine == Engine::Single && x.devices == 1));
        assert_eq!(sp.iter().filter(|x| x.sparse.is_none()).count(), 2, "a dense baseline per N");
        let (s, notes) = plan(Suite::Sweep, &SuiteConfig { gqa: Some(vec![1, 2, 3]), ..Default::default() }, 1, true);
        assert!(s.iter().any(|x| x.case.heads == 32 && x.case.kv_heads == 16));
        assert!(notes.iter().any(|n| n.contains("GQA ratio 3")));
        // No duplicate shapes (the base case appears once).
        let mut keys: Vec<_> = s.iter().map(|x| (x.case.batch, x.case.heads, x.case.kv_heads, x.case.head_dim)).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
        let (e, notes) = plan(Suite::Extreme, &SuiteConfig { max_seq: Some(200_000), ..Default::default() }, 2, true);
        assert!(e.iter().all(|x| x.case.seq == 100_000 && x.case.causal));
        assert!(notes.iter().any(|n| n.contains("--max-seq")));
    }

    #[test]
    fn slugs_and_paths() {
        assert_eq!(slug("NVIDIA H200 (Vulkan)"), "nvidia-h200-vulkan");
        assert_eq!(slug("llvmpipe (LLVM 15.0.6, 256 bits)"), "llvmpipe-llvm-15-0-6-256-bits");
        assert_eq!(slug("***"), "adapter");
        let p = default_results_path("NVIDIA H200", 1_700_000_000, &[Suite::Compare, Suite::Memory]);
        assert_eq!(p, PathBuf::from("benchmarks/results/2023-11-14-nvidia-h200/compare+memory-221320.json"));
    }
}
