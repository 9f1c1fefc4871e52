//! The `ringattn` command-line tool, one module per subcommand.
//!
//! * `ringattn info`: every adapter wgpu finds, its features, limits and tier.
//! * `ringattn run`: attention on `.npy` inputs, with an optional f64 check.
//! * `ringattn bench [SUITE]`: the kernel table (GPU and wall time over tiers, dtypes
//!   and shapes) or the benchmark suites (presets, memory, extreme lengths, sweeps,
//!   ring scaling) with JSON/CSV results.
//! * `ringattn report`: Markdown + SVG plots from results files, two side by side.
//!
//! Exit codes: 0 success, 1 a `--check` failed, 2 an error (bad input, missing
//! file, no adapter, ...; the message is printed as `error: <message>`).
//!
//! Adding a subcommand: write `src/cli/<name>.rs` with an `Args` struct (clap
//! derive) and `pub fn execute(args: &Args) -> Result<Status>`, then add one
//! variant to [`Command`] and one arm to [`Command::execute`].

pub mod bench;
pub mod info;
pub mod pattern;
pub mod report;
pub mod ringbench;
pub mod run;
pub mod tune;

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::context::{describe_adapter, enumerate_adapters, sort_adapters};
use crate::error::{Error, Result};
use crate::GpuContext;

/// Exit code when the command did what was asked.
pub const EXIT_OK: u8 = 0;
/// Exit code when `--check` found an error above tolerance.
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code for errors: bad arguments or inputs, missing files, no adapter, GPU errors.
pub const EXIT_ERROR: u8 = 2;

/// Portable long-sequence attention on wgpu.
#[derive(Parser, Debug)]
#[command(name = "ringattn", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every adapter wgpu finds: backend, features, limits and the kernel tier it gets.
    Info(info::InfoArgs),
    /// Run attention on .npy inputs and write O (and LSE) as .npy.
    Run(run::RunArgs),
    /// Benchmarks: the kernel table (default) or suites (compare, memory, extreme, sweep, ring, sparse) with JSON/CSV results.
    Bench(bench::BenchArgs),
    /// Time ring attention against one device over sequence lengths, device counts,
    /// placements and masks, and the ring's transport alone (checked against f64).
    RingBench(ringbench::RingBenchArgs),
    /// Markdown report with SVG plots from `ringattn bench` results files (two side by side).
    Report(report::ReportArgs),
    /// Search the fastest matrix-tier tiles for this adapter now and store them in the cache.
    Tune(tune::TuneArgs),
}

impl Command {
    pub fn execute(&self) -> Result<Status> {
        match self {
            Command::Info(a) => info::execute(a),
            Command::Run(a) => run::execute(a),
            Command::Bench(a) => bench::execute(a),
            Command::Report(a) => report::execute(a),
            Command::Tune(a) => tune::execute(a),
            Command::RingBench(a) => ringbench::execute(a),
        }
    }
}

/// How a command that did not fail with an [`Error`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    CheckFailed,
}

impl Status {
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => EXIT_OK,
            Status::CheckFailed => EXIT_CHECK_FAILED,
        }
    }
}

/// Parses the command line, runs the command, prints `error: ...` on failure.
pub fn main() -> ExitCode {
    // Usage errors exit with 2 through clap; --help and --version with 0.
    let cli = Cli::parse();
    ExitCode::from(run_cli(&cli))
}

/// Runs a parsed command line and returns the process exit code.
pub fn run_cli(cli: &Cli) -> u8 {
    match cli.command.execute() {
        Ok(s) => s.exit_code(),
        Err(e) => {
            error_line(&e.to_string());
            EXIT_ERROR
        }
    }
}

/// Prints `error: message` on stderr in a single write: under mpirun the ranks' stderr
/// is merged, and `eprintln!`'s piecewise writes of a formatted error let the lines of
/// ranks that fail together interleave mid-line.
pub(crate) fn error_line(message: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(format!("error: {message}\n").as_bytes());
}

/// Adapter selection shared by the subcommands that run on a GPU.
#[derive(Args, Debug, Clone, Default)]
pub struct DeviceArgs {
    /// Adapter to use: a case-insensitive substring of its name, or a backend
    /// (vulkan, metal, dx12, gl). Default: RINGATTN_ADAPTER, else the preferred adapter
    /// (see `ringattn info`).
    #[arg(long, value_name = "NAME|BACKEND", help_heading = "Device")]
    pub adapter: Option<String>,
}

impl DeviceArgs {
    /// Opens a context on the chosen adapter.
    pub fn open(&self) -> Result<GpuContext> {
        match &self.adapter {
            None => GpuContext::new(),
            Some(want) => open_matching(want),
        }
    }
}

/// Opens the first adapter (in preference order) whose name contains `want` or whose
/// backend is `want`.
pub fn open_matching(want: &str) -> Result<GpuContext> {
    let mut adapters = enumerate_adapters();
    sort_adapters(&mut adapters);
    let w = want.to_lowercase();
    let names: Vec<String> = adapters.iter().map(|a| describe_adapter(&a.get_info())).collect();
    let pos = adapters.iter().position(|a| {
        let i = a.get_info();
        i.name.to_lowercase().contains(&w) || format!("{:?}", i.backend).to_lowercase() == w
    });
    match pos {
        Some(p) => GpuContext::from_adapter(adapters.swap_remove(p)),
        None => Err(Error::NoAdapter(format!("--adapter {want} matches none of {names:?}"))),
    }
}

/// `1234567` -> `1234567 (1.2 MiB)`; small values are printed plain.
pub fn bytes_human(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return n.to_string();
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{n} ({v:.1} {})", UNITS[u - 1])
}

/// Milliseconds with a sensible number of digits.
pub fn ms(d: std::time::Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{:.1} us", ms * 1e3)
    }
}

/// Fails early (before any GPU work) when an output's directory does not exist.
pub(crate) fn check_writable_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::Io { path: path.display().to_string(), message: format!("cannot write: directory {} does not exist", dir.display()) });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn human_sizes() {
        assert_eq!(super::bytes_human(512), "512");
        assert_eq!(super::bytes_human(134217728), "134217728 (128.0 MiB)");
        assert_eq!(super::bytes_human(2147483647), "2147483647 (2.0 GiB)");
    }
}
