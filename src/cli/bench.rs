//! `ringattn bench [SUITE,...]`: benchmark suites.
//!
//! Without a suite (or with `kernels`) it times attention over a grid of tiers,
//! dtypes, sequence lengths, head dims and causal/dense, and prints a Markdown table
//! (and optionally JSON in the schema of [`crate::bench::BenchReport`]).
//!
//! The other suites (`compare`, `memory`, `extreme`, `sweep`, `ring`, or `all`; see
//! [`crate::suite`]) run the presets and single-device attention, print a row per
//! case as it finishes (a progress bar on a terminal), and write every result to a
//! JSON and a CSV file under `benchmarks/results/` (rewritten after every case, so
//! an interrupted run keeps what finished). `ringattn report` turns those files into
//! Markdown with plots.
//!
//! GPU time comes from timestamp queries around the compute pass; wall time is the
//! host time of submit + wait, measured in the same iterations. Cases that cannot
//! run on the adapter are listed with a note instead of failing the run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, ValueEnum};

use super::run::{open_ring, DevicesSpec, DtypeArg};
use super::{check_writable_dir, DeviceArgs, Status};
use crate::bench::{
    self, expand_tiers, grid, markdown_header, markdown_row, si, sig3, BenchOptions, BenchReport, CaseResult, CaseStatus, TierChoice,
};
use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::presets::PresetKind;
use crate::suite::{self, ResultsFile, Suite, SuiteConfig};
use crate::tensor::Dtype;

/// Which masks to time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum CausalArg {
    /// Dense and causal.
    #[default]
    Both,
    /// Causal only.
    #[value(alias = "yes", alias = "true", alias = "causal")]
    On,
    /// Dense only.
    #[value(alias = "no", alias = "false", alias = "dense")]
    Off,
}

impl CausalArg {
    pub fn values(self) -> Vec<bool> {
        match self {
            CausalArg::Both => vec![false, true],
            CausalArg::On => vec![true],
            CausalArg::Off => vec![false],
        }
    }
}

/// Arguments of `ringattn bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Suites to run, comma- or space-separated: kernels (the default: the kernel
    /// table), compare, memory, extreme, sweep, ring, sparse, or all (every suite but
    /// kernels). Grid options left out take each suite's defaults (see the docs).
    #[arg(value_delimiter = ',', value_name = "SUITE")]
    pub suites: Vec<String>,

    /// Kernel tiers, comma-separated: auto, all (every tier the adapter supports),
    /// portable, subgroup, matrix. A tier the adapter or kernels lack falls back to a
    /// lower one (the table shows the tier that ran) [default: all for kernels, auto
    /// for the other suites].
    #[arg(long, value_delimiter = ',', value_name = "TIERS", help_heading = "Grid")]
    pub tiers: Option<Vec<TierChoice>>,
    /// Element types, comma-separated [default: kernels f32 plus f16 where the adapter
    /// has SHADER_F16; the other suites f16 where available, else f32].
    #[arg(long, value_delimiter = ',', value_enum, value_name = "DTYPES", help_heading = "Grid")]
    pub dtypes: Option<Vec<DtypeArg>>,
    /// Sequence lengths N (seq_q = seq_k), comma-separated [default: kernels
    /// 1024,4096,16384,65536; compare 1024..65536 (powers of 2); memory 512..65536;
    /// extreme 100000,1048576; sweep 4096; ring and sparse 16384,65536].
    #[arg(long, value_delimiter = ',', value_name = "N,...", help_heading = "Grid")]
    pub seqs: Option<Vec<usize>>,
    /// Head dims D, comma-separated [default: kernels 64,128; sweep every supported; others 64].
    #[arg(long, value_delimiter = ',', value_name = "D,...", help_heading = "Grid")]
    pub head_dims: Option<Vec<usize>>,
    /// Batch sizes B, comma-separated [default: compare 2, sweep 1,2,4,8, others 1].
    #[arg(long, value_delimiter = ',', value_name = "B,...", help_heading = "Grid")]
    pub batch: Option<Vec<usize>>,
    /// Query heads H, comma-separated [default: sweep 1,2,4,8,16,32, others 8].
    #[arg(long, value_delimiter = ',', value_name = "H,...", help_heading = "Grid")]
    pub heads: Option<Vec<usize>>,
    /// GQA ratios heads / kv_heads, comma-separated [default: sweep 1,2,4,8 at the
    /// largest head count, others 1].
    #[arg(long, value_delimiter = ',', value_name = "R,...", help_heading = "Grid")]
    pub gqa: Option<Vec<usize>>,
    /// Causal mask: both, on, off [default: kernels, compare, ring both; extreme on; memory, sweep, sparse off].
    #[arg(long, value_enum, help_heading = "Grid")]
    pub causal: Option<CausalArg>,
    /// Presets the suites run, comma-separated, case-insensitive [default: every preset].
    #[arg(long, value_delimiter = ',', value_name = "NAMES", help_heading = "Grid")]
    pub presets: Option<Vec<String>>,
    /// Devices of the preset (ring) cases: N (the first N GPU adapters), all (every GPU
    /// adapter; 2 logical devices on a CPU-only machine) or logical:N (N devices on the
    /// --adapter adapter). The ring suite runs 1..=that many. [default: all]
    #[arg(long, value_name = "N|all|logical:N", help_heading = "Grid")]
    pub devices: Option<DevicesSpec>,
    /// Leave out cases with a longer sequence (a size cap, e.g. for CI).
    #[arg(long, value_name = "N", help_heading = "Grid")]
    pub max_seq: Option<usize>,
    /// Mask densities of the sparse suite (fraction of key blocks kept by the seeded
    /// random mask; the diagonal is always kept) [default: 0.05,0.1,0.2,0.5].
    #[arg(long, value_delimiter = ',', value_name = "P,...", help_heading = "Grid")]
    pub densities: Option<Vec<f64>>,
    /// Mask block size in tokens (sparse suite and the BlockSparse preset) [default: 64].
    #[arg(long, value_name = "TOKENS", help_heading = "Grid")]
    pub block: Option<usize>,

    /// Timed iterations per case (the table shows the median) [default: kernels,
    /// compare, sweep 10; ring 5; memory, extreme 1].
    #[arg(long, value_name = "N", help_heading = "Timing")]
    pub reps: Option<usize>,
    /// Untimed warm-up runs per case (at least 1 runs: it builds the pipeline).
    #[arg(long, default_value_t = 2, value_name = "N", help_heading = "Timing")]
    pub warmup: usize,
    /// On GPUs, warm-up also lasts at least this many seconds per case, after its first
    /// run (clocks drop while the host prepares a case and the driver compiles its
    /// pipelines; CPU adapters: not applied).
    #[arg(long, default_value_t = 0.25, value_name = "S", help_heading = "Timing")]
    pub warmup_seconds: f64,
    /// Time budget per case in seconds (warm-up + timed runs, from after the first run);
    /// once spent, the remaining reps are skipped and the table notes how many ran.
    #[arg(long, value_name = "S", help_heading = "Timing")]
    pub max_seconds: Option<f64>,
    /// Seconds of attention on every GPU before the first timed case, so that no case
    /// runs at idle clocks (0: none; CPU adapters never).
    #[arg(long, default_value_t = 2.0, value_name = "S", help_heading = "Timing")]
    pub preheat: f64,
    /// Seconds of attention on a case's GPUs between its first call and its warm-up:
    /// GPUs that idled while the host prepared the case or the driver compiled its
    /// pipelines come back at low clocks, which a case's own calls raise only slowly
    /// (0: none; CPU adapters never).
    #[arg(long, default_value_t = 0.5, value_name = "S", help_heading = "Timing")]
    pub reheat: f64,
    /// Do not use timestamp queries: wall time only.
    #[arg(long, help_heading = "Timing")]
    pub no_timestamps: bool,

    /// Write every result (samples included) as JSON to this file (suites: the CSV
    /// goes next to it) [default for suites: see --out].
    #[arg(long, value_name = "OUT.json", help_heading = "Output")]
    pub json: Option<PathBuf>,
    /// Directory of the suites' results files (default:
    /// `benchmarks/results/<date>-<adapter>/`; files `<suites>-<HHMMSS>.json` and `.csv`).
    #[arg(long, value_name = "DIR", conflicts_with = "json", help_heading = "Output")]
    pub out: Option<PathBuf>,
    /// Suites: no progress bar (it is drawn only on a terminal anyway).
    #[arg(long, help_heading = "Output")]
    pub no_progress: bool,

    /// Suites: after timing each case, compare sampled output rows (every batch and
    /// head) with the f64 CPU reference; failures are marked and the command exits 1.
    #[arg(long, help_heading = "Verification")]
    pub check: bool,
    /// Rows per case that --check compares, evenly spread over the sequence.
    #[arg(long, default_value_t = 8, value_name = "N", requires = "check", help_heading = "Verification")]
    pub check_rows: usize,

    #[command(flatten)]
    pub device: DeviceArgs,
}

fn write_json(path: &Path, report: &BenchReport) -> Result<()> {
    let s = serde_json::to_string_pretty(report).map_err(|e| Error::Io { path: path.display().to_string(), message: e.to_string() })?;
    std::fs::write(path, s + "\n").map_err(|e| Error::Io { path: path.display().to_string(), message: e.to_string() })
}

/// Footnotes of the table, numbered by first use, deduplicated by text.
#[derive(Default)]
struct Notes {
    index: HashMap<String, usize>,
    list: Vec<String>,
    duplicates: Vec<(String, usize)>,
}

impl Notes {
    fn mark(&mut self, note: &str) -> String {
        let n = *self.index.entry(note.to_string()).or_insert_with(|| {
            self.list.push(note.to_string());
            self.list.len()
        });
        format!("[{n}]")
    }
    fn duplicate(&mut self, note: &str) {
        match self.duplicates.iter_mut().find(|(n, _)| n == note) {
            Some((_, c)) => *c += 1,
            None => self.duplicates.push((note.to_string(), 1)),
        }
    }
}

/// The suites named on the command line (`all` = every suite but kernels; none = kernels).
pub fn parse_suites(names: &[String]) -> Result<Vec<Suite>> {
    let mut out: Vec<Suite> = Vec::new();
    for n in names.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let add: Vec<Suite> =
            if n.eq_ignore_ascii_case("all") { Suite::ALL.iter().copied().filter(|s| *s != Suite::Kernels).collect() } else { vec![n.parse()?] };
        for s in add {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    if out.is_empty() {
        out.push(Suite::Kernels);
    }
    if out.len() > 1 && out.contains(&Suite::Kernels) {
        return Err(Error::InvalidArgument("run the kernels suite on its own (it prints its own table); the other suites can be combined".into()));
    }
    Ok(out)
}

fn check_common(args: &BenchArgs) -> Result<()> {
    if args.reps == Some(0) {
        return Err(Error::InvalidArgument("--reps must be at least 1".into()));
    }
    if let Some(s) = args.max_seconds {
        if !(s.is_finite() && s > 0.0) {
            return Err(Error::InvalidArgument(format!("--max-seconds must be positive, got {s}")));
        }
    }
    for (what, v) in
        [("--seqs", &args.seqs), ("--head-dims", &args.head_dims), ("--batch", &args.batch), ("--heads", &args.heads), ("--gqa", &args.gqa)]
    {
        if let Some(v) = v {
            if v.is_empty() || v.contains(&0) {
                return Err(Error::InvalidArgument(format!("{what} needs positive values, got {v:?}")));
            }
        }
    }
    if let Some(d) = args.head_dims.iter().flatten().find(|d| !crate::SUPPORTED_HEAD_DIMS.contains(d)) {
        return Err(Error::UnsupportedHeadDim { got: *d, supported: crate::SUPPORTED_HEAD_DIMS });
    }
    if let Some(d) = args.densities.iter().flatten().find(|d| !(0.0..=1.0).contains(*d)) {
        return Err(Error::InvalidArgument(format!("--densities must be in [0, 1], got {d}")));
    }
    if let Some(b) = args.block.filter(|b| !crate::mask::BLOCK_SIZES.contains(b)) {
        return Err(Error::InvalidArgument(format!("--block must be one of {:?}, got {b}", crate::mask::BLOCK_SIZES)));
    }
    if args.max_seq == Some(0) {
        return Err(Error::InvalidArgument("--max-seq must be at least 1".into()));
    }
    if args.check && args.check_rows == 0 {
        return Err(Error::InvalidArgument("--check-rows must be at least 1".into()));
    }
    if let Some(p) = &args.json {
        check_writable_dir(p)?;
    }
    Ok(())
}

pub fn execute(args: &BenchArgs) -> Result<Status> {
    let suites = parse_suites(&args.suites)?;
    check_common(args)?;
    if suites == [Suite::Kernels] {
        execute_kernels(args)
    } else {
        execute_suites(args, &suites)
    }
}

/// A single value of a list option (the kernels table takes one batch and head count).
fn single(v: &Option<Vec<usize>>, what: &str, default: usize) -> Result<usize> {
    match v.as_deref() {
        None => Ok(default),
        Some([x]) => Ok(*x),
        Some(more) => Err(Error::InvalidArgument(format!("the kernels suite takes one {what}, got {more:?}"))),
    }
}

fn execute_kernels(args: &BenchArgs) -> Result<Status> {
    for (what, given) in [
        ("--gqa", args.gqa.is_some()),
        ("--presets", args.presets.is_some()),
        ("--devices", args.devices.is_some()),
        ("--densities", args.densities.is_some()),
        ("--block", args.block.is_some()),
        ("--check", args.check),
        ("--out", args.out.is_some()),
    ] {
        if given {
            return Err(Error::InvalidArgument(format!(
                "{what} applies to the suites (compare, memory, extreme, sweep, ring), not to the kernels table"
            )));
        }
    }
    let batch = single(&args.batch, "--batch", 1)?;
    let heads = single(&args.heads, "--heads", 8)?;
    let seqs = args.seqs.clone().unwrap_or_else(|| suite::default_seqs(Suite::Kernels));
    let head_dims = args.head_dims.clone().unwrap_or_else(|| vec![64, 128]);
    let causal = args.causal.unwrap_or_default();
    let reps = args.reps.unwrap_or(10);
    let ctx = args.device.open()?;
    let caps = ctx.capabilities();
    let tiers = expand_tiers(&ctx, args.tiers.as_deref().unwrap_or(&[TierChoice::All]));
    let mut header_notes = Vec::new();
    let dtypes: Vec<Dtype> = match &args.dtypes {
        Some(d) => {
            let mut v: Vec<Dtype> = Vec::new();
            for x in d {
                let x = Dtype::from(*x);
                if !v.contains(&x) {
                    v.push(x);
                }
            }
            v
        }
        None if caps.shader_f16 => vec![Dtype::F32, Dtype::F16],
        None => {
            header_notes.push("f16 not measured: the adapter lacks SHADER_F16".to_string());
            vec![Dtype::F32]
        }
    };
    let mut cases = grid(&tiers, &dtypes, &head_dims, &seqs, &causal.values(), batch, heads);
    if let Some(m) = args.max_seq {
        cases.retain(|c| c.seq <= m);
    }
    let opts = BenchOptions {
        warmup: args.warmup,
        warmup_seconds: args.warmup_seconds,
        reheat_seconds: args.reheat,
        reps,
        max_seconds: args.max_seconds,
        timestamps: !args.no_timestamps,
        ..Default::default()
    };

    let info = ctx.info();
    if info.device_type == wgpu::DeviceType::Cpu && seqs.iter().any(|&n| n > 1024) {
        eprintln!("note: {} is a CPU adapter; long sequences take very long here (try --seqs 256 --reps 3)", info.name);
    }
    let mut partial = BenchReport::new(&ctx, &opts);
    let gpu_timer = if args.no_timestamps {
        "off (--no-timestamps): wall time only"
    } else if caps.timestamp_query {
        "timestamp queries"
    } else {
        "n/a (no TIMESTAMP_QUERY): wall time only"
    };
    let a = &partial.adapter;
    println!(
        "adapter: {} | backend: {} ({}) | driver: {} | date: {} UTC | ringattn {}",
        a.name,
        a.backend,
        a.device_type,
        a.driver_line(),
        partial.date,
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "batch {}, heads {}, warmup {}, reps {} (median){} | GPU time: {} | adapter tiers: {}",
        batch,
        heads,
        opts.warmup.max(1),
        opts.reps,
        opts.max_seconds.map_or_else(String::new, |s| format!(", budget {s} s per case")),
        gpu_timer,
        a.tiers.join(", ")
    );
    for n in &header_notes {
        println!("note: {n}");
    }
    println!();
    println!("{}", markdown_header());

    bench::preheat(&[&ctx], args.preheat)?;
    let mut notes = Notes::default();
    let mut json_err: Option<Error> = None;
    let report = bench::run_cases(&ctx, &cases, &opts, |r: &CaseResult| {
        match (&r.status, &r.note) {
            (CaseStatus::Duplicate, Some(n)) => notes.duplicate(n),
            (_, note) => {
                let mark = note.as_deref().map(|n| notes.mark(n)).unwrap_or_default();
                println!("{}", markdown_row(r, &mark));
            }
        }
        if let Some(p) = &args.json {
            partial.results.push(r.clone());
            if let Err(e) = write_json(p, &partial) {
                json_err.get_or_insert(e);
            }
        }
    });

    if !notes.list.is_empty() || !notes.duplicates.is_empty() {
        println!();
    }
    for (i, n) in notes.list.iter().enumerate() {
        println!("[{}] {n}", i + 1);
    }
    for (n, count) in &notes.duplicates {
        println!("not run separately ({count} case{}): {n}", if *count == 1 { "" } else { "s" });
    }
    if let Some(e) = json_err {
        return Err(e);
    }
    if let Some(p) = &args.json {
        write_json(p, &report)?;
        println!("\nwrote {}", p.display());
    }
    let failed = report.results.iter().filter(|r| r.status == CaseStatus::Error).count();
    if failed > 0 {
        return Err(Error::Gpu { adapter: ctx.name().to_string(), message: format!("{failed} benchmark case(s) failed (see the notes above)") });
    }
    Ok(Status::Ok)
}

/// The devices of the suites: the preset cases run on all of them (the ring suite on
/// 1..=all), single-device cases on the first.
fn open_devices(args: &BenchArgs, needs_ring: bool) -> Result<(Vec<Arc<GpuContext>>, Option<String>)> {
    if !needs_ring {
        return Ok((vec![Arc::new(args.device.open()?)], None));
    }
    let ring = open_ring(args.devices.unwrap_or(DevicesSpec::All), &args.device)?;
    let note = ring.fallback().map(str::to_string);
    Ok((ring.contexts().to_vec(), note))
}

/// One Markdown row of the suites' live table.
fn suite_row(r: &CaseResult) -> String {
    let opt = |x: Option<f64>, f: fn(f64) -> String| x.map_or_else(|| "-".to_string(), f);
    let time = match (r.status, r.time_ms()) {
        (CaseStatus::Ok, Some((t, src))) => format!("{} ({src})", sig3(t)),
        (s, _) => format!("{s:?}").to_lowercase(),
    };
    let engine = match r.density {
        Some(d) => format!("{} d={}", r.preset.as_deref().unwrap_or("-"), sig3(d)),
        None => r.preset.as_deref().unwrap_or("-").to_string(),
    };
    let check = match &r.check {
        None => "-".to_string(),
        Some(c) if c.passed => format!("ok {:.1e}", c.o_rel_error),
        Some(c) => format!("FAIL {:.1e}", c.o_rel_error),
    };
    let kv = r.kv_heads();
    let heads = if kv != r.heads { format!("{}/{kv}", r.heads) } else { r.heads.to_string() };
    let note = match r.status {
        CaseStatus::Ok => String::new(),
        _ => r.note.clone().unwrap_or_default().replace('|', "\\|"),
    };
    format!(
        "| {} | {} | {} | {} | {} | {} | {heads} | {} | {} | {} | {time} | {} | {} | {} | {check} | {note} |",
        r.suite.as_deref().unwrap_or("-"),
        engine,
        r.tier,
        r.dtype,
        r.batch,
        r.seq,
        r.head_dim,
        if r.causal { "yes" } else { "no" },
        r.devices.unwrap_or(1),
        opt(r.tokens_per_s, si),
        opt(r.tflops, sig3),
        r.peak_bytes.map_or_else(|| "-".into(), |b| sig3(b as f64 / (1u64 << 20) as f64)),
    )
}

fn execute_suites(args: &BenchArgs, suites: &[Suite]) -> Result<Status> {
    let presets: Option<Vec<PresetKind>> = match &args.presets {
        None => None,
        Some(v) => {
            let mut out: Vec<PresetKind> = Vec::new();
            for n in v.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
                let k: PresetKind = n.parse()?;
                if !out.contains(&k) {
                    out.push(k);
                }
            }
            if out.is_empty() {
                return Err(Error::InvalidArgument("--presets needs at least one name".into()));
            }
            Some(out)
        }
    };
    let uses_presets = suites.iter().any(|s| matches!(s, Suite::Compare | Suite::Memory | Suite::Extreme | Suite::Ring));
    if !uses_presets && args.devices.is_some() {
        return Err(Error::InvalidArgument("--devices applies to the suites that run presets (compare, memory, extreme, ring)".into()));
    }
    let (contexts, device_note) = open_devices(args, uses_presets)?;
    let ctx0 = &contexts[0];
    let caps = ctx0.capabilities();
    let tiers = match &args.tiers {
        Some(t) => expand_tiers(ctx0, t),
        None => vec![None],
    };
    let cfg = SuiteConfig {
        dtypes: args.dtypes.as_ref().map(|d| {
            let mut v: Vec<Dtype> = Vec::new();
            for x in d {
                let x = Dtype::from(*x);
                if !v.contains(&x) {
                    v.push(x);
                }
            }
            v
        }),
        tiers,
        seqs: args.seqs.clone(),
        batches: args.batch.clone(),
        heads: args.heads.clone(),
        head_dims: args.head_dims.clone(),
        gqa: args.gqa.clone(),
        causal: args.causal.map(|c| c.values()),
        presets,
        max_seq: args.max_seq,
        densities: args.densities.clone(),
        block: args.block,
    };
    let mut cases = Vec::new();
    let mut notes = Vec::new();
    for &s in suites {
        let (c, n) = suite::plan(s, &cfg, contexts.len(), caps.shader_f16);
        cases.extend(c);
        notes.extend(n);
    }
    let base_opts = BenchOptions {
        warmup: args.warmup,
        warmup_seconds: args.warmup_seconds,
        reheat_seconds: args.reheat,
        reps: args.reps.unwrap_or_else(|| suite::default_reps(suites[0])),
        max_seconds: args.max_seconds,
        timestamps: !args.no_timestamps,
        ..Default::default()
    };
    let mut report = BenchReport::new(ctx0, &base_opts);
    report.suites = suites.iter().map(|s| s.name().to_string()).collect();
    report.devices = contexts.iter().enumerate().map(|(i, c)| format!("{i}: {}", c.describe())).collect();
    report.settings = Some(serde_json::json!({
        "suites": report.suites,
        "tiers": args.tiers.as_ref().map(|t| format!("{t:?}")),
        "dtypes": cfg.dtypes.as_ref().map(|d| d.iter().map(|x| x.name()).collect::<Vec<_>>()),
        "seqs": cfg.seqs, "batch": cfg.batches, "heads": cfg.heads, "head_dims": cfg.head_dims, "gqa": cfg.gqa,
        "causal": args.causal.map(|c| format!("{c:?}").to_lowercase()),
        "presets": cfg.presets.as_ref().map(|p| p.iter().map(|k| k.name()).collect::<Vec<_>>()),
        "devices": contexts.len(),
        "max_seq": args.max_seq,
        "densities": args.densities, "block": args.block,
        "reps": args.reps, "warmup": args.warmup, "warmup_seconds": args.warmup_seconds, "preheat": args.preheat, "reheat": args.reheat, "max_seconds": args.max_seconds,
        "timestamps": !args.no_timestamps,
        "check_rows": args.check.then_some(args.check_rows),
        "(unset values)": "each suite's defaults, see ringattn bench --help",
    }));
    let json = match (&args.json, &args.out) {
        (Some(p), _) => p.clone(),
        (None, dir) => {
            let def = suite::default_results_path(&report.adapter.name, report.unix_time, suites);
            match dir {
                Some(d) => d.join(def.file_name().expect("the default path names a file")),
                None => def,
            }
        }
    };
    let mut file = ResultsFile::create(json, report)?;

    let a = &file.report.adapter;
    println!(
        "adapter: {} | backend: {} ({}) | driver: {} | date: {} UTC | ringattn {} | commit {}",
        a.name,
        a.backend,
        a.device_type,
        a.driver_line(),
        file.report.date,
        env!("CARGO_PKG_VERSION"),
        file.report.git_commit.as_deref().unwrap_or("unknown")
    );
    if uses_presets {
        println!("devices ({}):", contexts.len());
        for d in &file.report.devices {
            println!("  {d}");
        }
    }
    if let Some(n) = &device_note {
        println!("note: {n}");
    }
    for n in &notes {
        println!("note: {n}");
    }
    println!("suites: {} | {} cases | results (rewritten after every case): {}", file.report.suites.join(", "), cases.len(), file.json.display());
    println!();
    println!("| suite | engine | tier | dtype | B | N | H | D | causal | dev | ms | tokens/s | TFLOP/s | peak MiB/dev | check | note |");
    println!("|---|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---|");

    bench::preheat(&contexts, args.preheat)?;
    let pb = if args.no_progress { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(cases.len() as u64) };
    pb.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}, eta {eta}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let check_rows = args.check.then_some(args.check_rows);
    let (mut failed, mut check_failed) = (0usize, 0usize);
    for sc in &cases {
        pb.set_message(sc.label());
        let opts = BenchOptions { reps: args.reps.unwrap_or_else(|| suite::default_reps(sc.suite)), ..base_opts.clone() };
        let r = suite::run_case(&contexts, sc, &opts, check_rows);
        failed += usize::from(r.status == CaseStatus::Error);
        check_failed += usize::from(r.check.as_ref().is_some_and(|c| !c.passed));
        pb.suspend(|| println!("{}", suite_row(&r)));
        file.push(r)?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    file.finish()?;

    if suites.contains(&Suite::Memory) {
        let mem: Vec<CaseResult> = file.report.results.iter().filter(|r| r.suite.as_deref() == Some("memory")).cloned().collect();
        println!("\nmemory scaling (peak bytes of the busiest device = c * N^e, least squares on log-log):");
        for m in suite::memory_series(&mem) {
            match m.fit {
                Some(f) => println!("  {}: e = {:.3} (R² {:.4}, {} points)", m.label, f.exponent, f.r2, f.points),
                None => println!("  {}: too few points to fit", m.label),
            }
        }
    }
    let skipped = file.report.results.iter().filter(|r| r.status == CaseStatus::Skipped).count();
    if skipped > 0 {
        println!("\n{skipped} case(s) skipped (the note column says why)");
    }
    println!("\nwrote {} and {}", file.json.display(), file.csv.display());
    println!("report: ringattn report {}", file.json.display());
    if failed > 0 {
        return Err(Error::Gpu { adapter: ctx0.name().to_string(), message: format!("{failed} benchmark case(s) failed (see the notes above)") });
    }
    if check_failed > 0 {
        eprintln!("--check: {check_failed} case(s) above tolerance");
        return Ok(Status::CheckFailed);
    }
    Ok(Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Tier;

    #[test]
    fn parses_bench_args() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "ringattn",
            "bench",
            "--tiers",
            "portable,subgroup",
            "--dtypes",
            "f32,fp16",
            "--seqs",
            "64,128",
            "--head-dims",
            "64",
            "--causal",
            "on",
            "--reps",
            "2",
            "--max-seconds",
            "1.5",
            "--json",
            "out.json",
            "--adapter",
            "llvmpipe",
        ])
        .unwrap();
        let crate::cli::Command::Bench(a) = cli.command else { panic!("not bench") };
        assert_eq!(a.tiers, Some(vec![TierChoice::One(Tier::Portable), TierChoice::One(Tier::Subgroup)]));
        assert_eq!(a.dtypes, Some(vec![DtypeArg::F32, DtypeArg::F16]));
        assert_eq!(a.seqs, Some(vec![64, 128]));
        assert_eq!(a.head_dims, Some(vec![64]));
        assert_eq!(a.causal.map(|c| c.values()), Some(vec![true]));
        assert_eq!(a.max_seconds, Some(1.5));
        assert_eq!(a.device.adapter.as_deref(), Some("llvmpipe"));
        assert_eq!(parse_suites(&a.suites).unwrap(), vec![Suite::Kernels]);

        let cli = crate::cli::Cli::try_parse_from(["ringattn", "bench"]).unwrap();
        let crate::cli::Command::Bench(a) = cli.command else { panic!("not bench") };
        assert_eq!((a.tiers, a.seqs, a.head_dims, a.batch, a.heads, a.reps, a.warmup), (None, None, None, None, None, None, 2));
        assert!(crate::cli::Cli::try_parse_from(["ringattn", "bench", "--tiers", "fastest"]).is_err());

        let cli = crate::cli::Cli::try_parse_from([
            "ringattn",
            "bench",
            "compare,memory",
            "ring",
            "--devices",
            "logical:3",
            "--presets",
            "standard,Distributed",
            "--batch",
            "1,2",
            "--gqa",
            "1,4",
            "--max-seq",
            "256",
            "--check",
            "--check-rows",
            "4",
            "--out",
            "results",
            "--no-progress",
        ])
        .unwrap();
        let crate::cli::Command::Bench(a) = cli.command else { panic!("not bench") };
        assert_eq!(parse_suites(&a.suites).unwrap(), vec![Suite::Compare, Suite::Memory, Suite::Ring]);
        assert_eq!(a.devices, Some(DevicesSpec::Logical(3)));
        assert_eq!((a.batch, a.gqa, a.max_seq, a.check, a.check_rows), (Some(vec![1, 2]), Some(vec![1, 4]), Some(256), true, 4));
        assert!(a.no_progress && a.out.is_some());
        // --check-rows needs --check; --out and --json exclude each other.
        assert!(crate::cli::Cli::try_parse_from(["ringattn", "bench", "compare", "--check-rows", "3"]).is_err());
        assert!(crate::cli::Cli::try_parse_from(["ringattn", "bench", "compare", "--out", "d", "--json", "x.json"]).is_err());
    }

    #[test]
    fn suite_names_on_the_command_line() {
        let all = parse_suites(&["all".into()]).unwrap();
        assert!(!all.contains(&Suite::Kernels) && all.contains(&Suite::Ring) && all.contains(&Suite::Sparse) && all.len() == Suite::ALL.len() - 1);
        assert_eq!(parse_suites(&[]).unwrap(), vec![Suite::Kernels]);
        assert_eq!(parse_suites(&["MEMORY".into(), "memory".into()]).unwrap(), vec![Suite::Memory]);
        let e = parse_suites(&["kernels".into(), "compare".into()]).unwrap_err().to_string();
        assert!(e.contains("on its own"), "{e}");
        let e = parse_suites(&["fast".into()]).unwrap_err().to_string();
        assert!(e.contains("unknown suite `fast`") && e.contains("extreme"), "{e}");
    }
}
