//! `ringattn report RESULTS.json [OTHER.json]`: a Markdown report with SVG plots from
//! the results files of `ringattn bench` (see [`crate::report`]).

use std::path::{Path, PathBuf};

use clap::Args;

use super::Status;
use crate::error::{Error, Result};
use crate::report;
use crate::suite::read_results;

/// Arguments of `ringattn report`.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// Results file (JSON) of `ringattn bench`.
    #[arg(value_name = "RESULTS.json")]
    pub results: PathBuf,
    /// A second results file to put side by side (another adapter, or before/after a change).
    #[arg(value_name = "OTHER.json")]
    pub other: Option<PathBuf>,
    /// More results files of the same run to report together with RESULTS.json (e.g.
    /// the extreme suite run in a separate call); repeatable. Their cases join A's.
    #[arg(long = "add", value_name = "MORE.json")]
    pub add: Vec<PathBuf>,
    /// Directory for report.md and the SVG plots (default: `<RESULTS stem>-report/` next to RESULTS.json).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also print the Markdown to standard output.
    #[arg(long)]
    pub print: bool,
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

pub fn execute(args: &ReportArgs) -> Result<Status> {
    let mut a = read_results(&args.results)?;
    for p in &args.add {
        let more = read_results(p)?;
        if more.adapter.name != a.adapter.name || more.adapter.driver != a.adapter.driver {
            eprintln!(
                "note: {} was measured on {} ({}), {} on {} ({})",
                p.display(),
                more.adapter.name,
                more.adapter.driver_line(),
                args.results.display(),
                a.adapter.name,
                a.adapter.driver_line()
            );
        }
        for s in more.suites {
            if !a.suites.contains(&s) {
                a.suites.push(s);
            }
        }
        a.complete = match (a.complete, more.complete) {
            (Some(x), Some(y)) => Some(x && y),
            (x, y) => x.or(y),
        };
        a.results.extend(more.results);
    }
    let b = args.other.as_deref().map(read_results).transpose()?;
    let (na, nb) = (file_name(&args.results), args.other.as_deref().map(file_name).unwrap_or_default());
    let (na, nb) = if na == nb && b.is_some() {
        (args.results.display().to_string(), args.other.as_ref().map(|p| p.display().to_string()).unwrap_or_default())
    } else {
        (na, nb)
    };
    let out = match &args.out {
        Some(d) => d.clone(),
        None => {
            let stem = args
                .results
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .ok_or_else(|| Error::InvalidArgument(format!("{} names no file", args.results.display())))?;
            args.results.with_file_name(format!("{stem}-report"))
        }
    };
    let rendered = report::render(&a, b.as_ref(), (&na, &nb));
    let path = rendered.write(&out)?;
    if args.print {
        println!("{}", rendered.markdown);
    }
    println!("wrote {} ({} plot{})", path.display(), rendered.plots.len(), if rendered.plots.len() == 1 { "" } else { "s" });
    Ok(Status::Ok)
}
