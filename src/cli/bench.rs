//! `ringattn bench`: times attention over a grid of tiers, dtypes, sequence lengths,
//! head dims and causal/dense, and prints a Markdown table (and optionally JSON in the
//! schema of [`crate::bench::BenchReport`]).
//!
//! GPU time comes from timestamp queries around the compute pass; wall time is the
//! host time of submit + wait, measured in the same iterations. Cases that cannot
//! run on the adapter are listed with a note instead of failing the run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::run::DtypeArg;
use super::{check_writable_dir, DeviceArgs, Status};
use crate::bench::{self, expand_tiers, grid, markdown_header, markdown_row, BenchOptions, BenchReport, CaseResult, CaseStatus, TierChoice};
use crate::error::{Error, Result};
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
    /// Kernel tiers, comma-separated: auto, all (every tier the adapter supports),
    /// portable, subgroup, matrix. A tier the adapter or kernels lack falls back to a
    /// lower one (the table shows the tier that ran).
    #[arg(long, value_delimiter = ',', default_value = "all", value_name = "TIERS", help_heading = "Grid")]
    pub tiers: Vec<TierChoice>,
    /// Element types, comma-separated [default: f32, plus f16 where the adapter has SHADER_F16].
    #[arg(long, value_delimiter = ',', value_enum, value_name = "DTYPES", help_heading = "Grid")]
    pub dtypes: Option<Vec<DtypeArg>>,
    /// Sequence lengths N (seq_q = seq_k), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1024,4096,16384,65536", value_name = "N,...", help_heading = "Grid")]
    pub seqs: Vec<usize>,
    /// Head dims D, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64,128", value_name = "D,...", help_heading = "Grid")]
    pub head_dims: Vec<usize>,
    /// Batch size B.
    #[arg(long, default_value_t = 1, help_heading = "Grid")]
    pub batch: usize,
    /// Heads H (kv_heads = heads).
    #[arg(long, default_value_t = 8, help_heading = "Grid")]
    pub heads: usize,
    /// Causal mask: both, on, off.
    #[arg(long, value_enum, default_value_t = CausalArg::Both, help_heading = "Grid")]
    pub causal: CausalArg,

    /// Timed iterations per case (the table shows the median).
    #[arg(long, default_value_t = 10, value_name = "N", help_heading = "Timing")]
    pub reps: usize,
    /// Untimed warm-up runs per case (at least 1 runs: it builds the pipeline).
    #[arg(long, default_value_t = 2, value_name = "N", help_heading = "Timing")]
    pub warmup: usize,
    /// Time budget per case in seconds (warm-up + timed runs); once spent, the
    /// remaining reps are skipped and the table notes how many ran.
    #[arg(long, value_name = "S", help_heading = "Timing")]
    pub max_seconds: Option<f64>,
    /// Do not use timestamp queries: wall time only.
    #[arg(long, help_heading = "Timing")]
    pub no_timestamps: bool,

    /// Write every result (samples included) as JSON.
    #[arg(long, value_name = "OUT.json", help_heading = "Output")]
    pub json: Option<PathBuf>,

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

pub fn execute(args: &BenchArgs) -> Result<Status> {
    if args.reps == 0 {
        return Err(Error::InvalidArgument("--reps must be at least 1".into()));
    }
    if let Some(s) = args.max_seconds {
        if !(s.is_finite() && s > 0.0) {
            return Err(Error::InvalidArgument(format!("--max-seconds must be positive, got {s}")));
        }
    }
    for (what, v) in [("--seqs", &args.seqs), ("--head-dims", &args.head_dims)] {
        if v.is_empty() || v.contains(&0) {
            return Err(Error::InvalidArgument(format!("{what} needs positive values, got {v:?}")));
        }
    }
    if args.batch == 0 || args.heads == 0 {
        return Err(Error::InvalidArgument("--batch and --heads must be at least 1".into()));
    }
    if let Some(d) = args.head_dims.iter().find(|d| !crate::SUPPORTED_HEAD_DIMS.contains(d)) {
        return Err(Error::UnsupportedHeadDim { got: *d, supported: crate::SUPPORTED_HEAD_DIMS });
    }
    if let Some(p) = &args.json {
        check_writable_dir(p)?;
    }

    let ctx = args.device.open()?;
    let caps = ctx.capabilities();
    let tiers = expand_tiers(&ctx, &args.tiers);
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
    let cases = grid(&tiers, &dtypes, &args.head_dims, &args.seqs, &args.causal.values(), args.batch, args.heads);
    let opts =
        BenchOptions { warmup: args.warmup, reps: args.reps, max_seconds: args.max_seconds, timestamps: !args.no_timestamps, ..Default::default() };

    let info = ctx.info();
    if info.device_type == wgpu::DeviceType::Cpu && args.seqs.iter().any(|&n| n > 1024) {
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
        args.batch,
        args.heads,
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
        assert_eq!(a.tiers, vec![TierChoice::One(Tier::Portable), TierChoice::One(Tier::Subgroup)]);
        assert_eq!(a.dtypes, Some(vec![DtypeArg::F32, DtypeArg::F16]));
        assert_eq!(a.seqs, vec![64, 128]);
        assert_eq!(a.head_dims, vec![64]);
        assert_eq!(a.causal.values(), vec![true]);
        assert_eq!(a.max_seconds, Some(1.5));
        assert_eq!(a.device.adapter.as_deref(), Some("llvmpipe"));

        let cli = crate::cli::Cli::try_parse_from(["ringattn", "bench"]).unwrap();
        let crate::cli::Command::Bench(a) = cli.command else { panic!("not bench") };
        assert_eq!(a.tiers, vec![TierChoice::All]);
        assert_eq!(a.seqs, vec![1024, 4096, 16384, 65536]);
        assert_eq!(a.head_dims, vec![64, 128]);
        assert_eq!((a.batch, a.heads, a.reps, a.warmup), (1, 8, 10, 2));
        assert_eq!(a.causal, CausalArg::Both);
        assert!(crate::cli::Cli::try_parse_from(["ringattn", "bench", "--tiers", "fastest"]).is_err());
    }
}
