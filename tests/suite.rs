//! The benchmark suites end to end (`ringattn bench compare,memory,extreme,sweep,ring`
//! and `ringattn report`) at tiny sizes, the results files, interrupted runs, and the
//! memory accounting against the buffers actually created.
//!
//! Sizes stay tiny (seq <= 96, head_dim 32): CI runs this on Mesa lavapipe.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringattn::bench::{BenchOptions, Case, CaseStatus, CheckResult, Workload};
use ringattn::presets::{Preset, PresetKind};
use ringattn::reference;
use ringattn::suite::{self, read_csv, read_results, Engine, Suite, SuiteCase};
use ringattn::{Dtype, GpuContext, GpuTensor, LseBuffer, Shape};

mod common;
use common::cli::{assert_ok, ringattn, text};

fn assert_error(o: &Output, needles: &[&str]) {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(2), "expected exit code 2\n--- stdout\n{out}\n--- stderr\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
}

fn tmpdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("suite").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The one `*.json` results file in `dir`.
fn results_json(dir: &Path) -> PathBuf {
    let v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    assert_eq!(v.len(), 1, "one results file expected in {}: {v:?}", dir.display());
    v[0].clone()
}

#[test]
fn every_suite_runs_end_to_end_checks_and_reports() {
    let dir = tmpdir("all");
    let out_dir = dir.join("results");
    let t0 = Instant::now();
    let o = ringattn(&[
        "bench",
        "compare,memory,extreme",
        "sweep",
        "ring,sparse",
        "--densities",
        "0.25,0.5",
        "--block",
        "16",
        "--seqs",
        "48,96",
        "--head-dims",
        "32",
        "--heads",
        "2",
        "--batch",
        "1,2",
        "--gqa",
        "1,2",
        "--dtypes",
        "f32",
        "--devices",
        "logical:2",
        "--reps",
        "2",
        "--warmup",
        "1",
        "--check",
        "--check-rows",
        "5",
        "--out",
        s(&out_dir),
        "--no-progress",
    ]);
    let stdout = assert_ok(&o);
    eprintln!("suites ran in {:.1} s", t0.elapsed().as_secs_f64());
    assert!(stdout.contains("| suite | engine |"), "{stdout}");
    assert!(stdout.contains("memory scaling"), "{stdout}");

    // The JSON parses back with every suite, every case measured and checked.
    let json = results_json(&out_dir);
    let rep = read_results(&json).unwrap();
    assert_eq!(rep.complete, Some(true));
    assert_eq!(rep.suites, ["compare", "memory", "extreme", "sweep", "ring", "sparse"]);
    assert!(rep.git_commit.as_deref().is_some_and(|c| !c.is_empty()));
    assert!(rep.settings.is_some() && rep.devices.len() == 2);
    for sname in ["compare", "memory", "extreme", "sweep", "ring", "sparse"] {
        assert!(rep.results.iter().any(|r| r.suite.as_deref() == Some(sname)), "no {sname} results");
    }
    for r in &rep.results {
        let label = format!("{:?} {:?} N={} B={} H={}/{}", r.suite, r.preset, r.seq, r.batch, r.heads, r.kv_heads());
        assert_eq!(r.status, CaseStatus::Ok, "{label}: {:?}", r.note);
        let c = r.check.as_ref().unwrap_or_else(|| panic!("{label}: not checked"));
        assert!(c.passed && c.rows == 5 && c.o_rel_error < 1e-4, "{label}: {c:?}");
        assert!(r.peak_bytes.unwrap() > 0 && r.peak_bytes_total.unwrap() >= r.peak_bytes.unwrap(), "{label}");
        assert!(r.tokens_per_s.unwrap() > 0.0 && r.tflops.unwrap() > 0.0, "{label}");
        let flops = 4.0 * (r.batch * r.heads) as f64 * (r.seq * r.seq * r.head_dim) as f64 / if r.causal { 2.0 } else { 1.0 };
        assert_eq!(r.flops, flops, "{label}");
        match r.preset.as_deref() {
            Some("single") => assert_eq!((r.devices, r.time_source.as_deref()), (Some(1), Some("gpu")), "{label}"),
            Some(p) => {
                let kind: PresetKind = p.parse().unwrap_or_else(|e| panic!("{label}: {e}"));
                // Throughput from the ring's own time on resident shards (the timed
                // reps); one whole call (host transfers too) is timed besides.
                assert_eq!(r.time_source.as_deref(), Some("ring"), "{label}");
                let (ring, wall) = (r.ring_ms_median.unwrap(), r.wall_ms_median.unwrap());
                assert!(
                    ring > 0.0 && wall > 0.0 && r.ring_ms.len() == r.reps && r.wall_ms.len() == 1,
                    "{label}: ring {:?} ms, wall {:?} ms",
                    r.ring_ms,
                    r.wall_ms
                );
                let tflops = r.flops / (ring * 1e-3) / 1e12;
                assert!((r.tflops.unwrap() - tflops).abs() <= 1e-9 * tflops, "{label}: TFLOP/s from the ring time");
                let devices = r.devices.unwrap();
                // (A mask, the block-sparse one or the causal one carried into the curve
                // order, is cut at whole mask blocks: at tiny N one device may own every
                // block, or every cross-device pair may be empty, and nothing moves.)
                if devices > 1 && matches!(kind, PresetKind::Standard | PresetKind::Distributed) {
                    assert!(r.bytes_moved.unwrap() > 0, "{label}: a ring of {devices} moves K/V");
                }
                if kind == PresetKind::BlockSparse {
                    assert_eq!(r.mask_block, Some(16), "{label}: --block 16");
                    assert!(r.density.is_some_and(|d| d > 0.0 && d <= 1.0), "{label}");
                }
                if r.suite.as_deref() != Some("ring") {
                    assert_eq!(devices, 2, "{label}: on every device of --devices");
                }
            }
            None => panic!("{label}: no engine recorded"),
        }
    }
    // The suites' grids: GQA in the sweep, 1 and 2 devices in the ring suite, the
    // extreme suite on one device and on the ring.
    assert!(rep.results.iter().any(|r| r.suite.as_deref() == Some("sweep") && r.kv_heads() == 1 && r.heads == 2));
    let ring_devices: Vec<usize> = rep.results.iter().filter(|r| r.suite.as_deref() == Some("ring")).filter_map(|r| r.devices).collect();
    assert!(ring_devices.contains(&1) && ring_devices.contains(&2));
    // The sparse suite: a dense baseline and each density per N, masked cases with their density.
    let sparse: Vec<_> = rep.results.iter().filter(|r| r.suite.as_deref() == Some("sparse")).collect();
    assert_eq!(sparse.len(), 2 * 2 * 2 * 3, "2 lengths x 2 batches x 2 GQA ratios x (dense + 2 densities)");
    assert_eq!(sparse.iter().filter(|r| r.density.is_none()).count(), 8);
    assert!(sparse.iter().filter(|r| r.density.is_some()).all(|r| r.mask_block == Some(16)));
    let extreme: Vec<&str> = rep.results.iter().filter(|r| r.suite.as_deref() == Some("extreme")).filter_map(|r| r.preset.as_deref()).collect();
    assert!(extreme.contains(&"single") && extreme.contains(&"Distributed"), "{extreme:?}");
    // Memory grows linearly in N: fitted exponent ~1 for every series.
    let mem: Vec<_> = rep.results.iter().filter(|r| r.suite.as_deref() == Some("memory")).cloned().collect();
    let series = suite::memory_series(&mem);
    assert!(series.len() >= 3, "{series:?}");
    for m in &series {
        let f = m.fit.unwrap_or_else(|| panic!("{}: no fit", m.label));
        if ["single", "Standard", "Distributed"].iter().any(|p| m.label.starts_with(p)) {
            assert!((f.exponent - 1.0).abs() < 0.1, "{}: exponent {}", m.label, f.exponent);
        } else {
            // Masked rings cut chunks at whole mask blocks: at N = 48 and 96 with 16-token
            // blocks the busiest device holds 32 and 48 tokens. Still never quadratic.
            assert!(f.exponent > 0.3 && f.exponent < 1.2, "{}: exponent {}", m.label, f.exponent);
        }
    }

    // The CSV has the same cases with the run's metadata on every row.
    let csv = read_csv(&json.with_extension("csv")).unwrap();
    assert_eq!(csv.len(), rep.results.len());
    for (row, r) in csv.iter().zip(&rep.results) {
        assert_eq!((row.seq, row.batch, row.heads, row.kv_heads, row.causal), (r.seq, r.batch, r.heads, r.kv_heads(), r.causal));
        assert_eq!((&row.adapter, &row.git_commit, &row.date), (&rep.adapter.name, rep.git_commit.as_ref().unwrap(), &rep.date));
        // serde_json parses floats to within an ulp; the CSV keeps them exactly.
        let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
            (a, b) => a == b,
        };
        assert!(close(row.gpu_ms_median, r.gpu_ms_median) && close(row.wall_ms_median, r.wall_ms_median) && close(row.tokens_per_s, r.tokens_per_s));
        assert!(close(row.call_ms_median, r.call_ms_median), "call ms {:?} / {:?}", row.call_ms_median, r.call_ms_median);
        assert_eq!(row.peak_bytes, r.peak_bytes);
        assert_eq!(row.check_passed, Some(true));
    }
    // The CSV read back as a results report (what `ringattn report x.csv` renders).
    let back = read_results(&json.with_extension("csv")).unwrap();
    assert_eq!(back.results.len(), rep.results.len());
    assert_eq!((&back.adapter.name, &back.date, &back.git_commit), (&rep.adapter.name, &rep.date, &rep.git_commit));
    for (b, r) in back.results.iter().zip(&rep.results) {
        assert_eq!((&b.suite, &b.preset, b.seq, b.devices, b.status, b.density), (&r.suite, &r.preset, r.seq, r.devices, r.status, r.density));
        assert_eq!((b.peak_bytes, b.check.as_ref().map(|c| c.passed)), (r.peak_bytes, r.check.as_ref().map(|c| c.passed)));
        assert_eq!(b.call_ms_median.is_some(), r.call_ms_median.is_some());
    }

    // The report: Markdown tables and the plots it links to.
    let rdir = dir.join("report");
    let o = ringattn(&["report", s(&json), "--out", s(&rdir)]);
    assert_ok(&o);
    let md = std::fs::read_to_string(rdir.join("report.md")).unwrap();
    for needle in [
        "# ringattn benchmark report",
        "## Suite `compare`",
        "## Suite `memory`",
        "## Suite `ring`",
        "## Suite `sweep`",
        "## Suite `extreme`",
        "## Suite `sparse`",
    ] {
        assert!(md.contains(needle), "report lacks {needle}:\n{md}");
    }
    assert!(md.contains("| engine | tier | dtype |") && md.contains("|---|"), "no Markdown table:\n{md}");
    assert!(md.contains("exponent e"), "no memory fit table");
    assert!(md.contains(" speedup |"), "no speedup column in the ring table");
    assert!(md.contains(" speedup vs dense |") && md.contains("| density |"), "no density columns in the sparse table");
    for svg in ["compare-throughput.svg", "memory-per-token.svg", "ring-speedup.svg", "sparse-density.svg"] {
        assert!(md.contains(&format!("]({svg})")), "report does not link {svg}");
        let doc = std::fs::read_to_string(rdir.join(svg)).unwrap();
        assert!(doc.starts_with("<svg") && doc.contains("<polyline") && doc.trim_end().ends_with("</svg>"), "{svg}");
    }
    // More files of the same run join the first.
    let o = ringattn(&["report", s(&json), "--add", s(&json), "--out", s(&dir.join("joined"))]);
    assert_ok(&o);
    let md = std::fs::read_to_string(dir.join("joined").join("report.md")).unwrap();
    assert!(md.contains(&format!(
        "## Suite `compare` ({n} of {n} cases measured)",
        n = 2 * rep.results.iter().filter(|r| r.suite.as_deref() == Some("compare")).count()
    )));
    // Two files side by side.
    let o = ringattn(&["report", s(&json), s(&json), "--out", s(&dir.join("pair"))]);
    assert_ok(&o);
    let md = std::fs::read_to_string(dir.join("pair").join("report.md")).unwrap();
    assert!(md.contains("## Side by side"), "{md}");
    let matched = rep.results.len();
    assert!(md.contains(&format!("{matched} cases measured in both files")), "{md}");
    assert!(md.contains("| 1.00 |"), "a file against itself has speedup 1.00");
}

#[test]
fn a_case_that_cannot_run_is_recorded_and_the_run_goes_on() {
    let dir = tmpdir("skip");
    // B = 600000 at N = 64, H = 2, D = 32 needs more than 2^31 elements per tensor:
    // refused before anything is allocated. The run records it and goes on.
    let o = ringattn(&[
        "bench",
        "compare",
        "--seqs",
        "64",
        "--batch",
        "600000,1",
        "--heads",
        "2",
        "--head-dims",
        "32",
        "--causal",
        "on",
        "--dtypes",
        "f32",
        "--devices",
        "logical:2",
        "--reps",
        "1",
        "--json",
        s(&dir.join("r.json")),
    ]);
    let out = assert_ok(&o);
    assert!(out.contains("skipped"), "{out}");
    let rep = read_results(&dir.join("r.json")).unwrap();
    assert_eq!(rep.complete, Some(true));
    let (big, small): (Vec<_>, Vec<_>) = rep.results.iter().partition(|r| r.batch == 600000);
    let engines = 1 + PresetKind::ALL.len();
    assert_eq!(big.len(), engines);
    assert_eq!(small.len(), engines);
    for r in big {
        assert_eq!(r.status, CaseStatus::Skipped);
        assert!(r.note.as_deref().is_some_and(|n| n.contains("2^31")), "{:?}", r.note);
    }
    assert!(small.iter().all(|r| r.status == CaseStatus::Ok));
}

#[test]
fn an_interrupted_run_keeps_the_finished_cases() {
    let dir = tmpdir("interrupted");
    let json = dir.join("r.json");
    // Enough cases that the run is still going when it is killed.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringattn"))
        .args(["bench", "sweep", "--seqs", "32", "--batch", "1,2,3,4,5,6,7,8", "--heads", "1,2,3,4,5,6,7,8,9,10", "--head-dims", "32"])
        .args(["--gqa", "1", "--dtypes", "f32", "--reps", "200", "--warmup", "1", "--json", s(&json)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let finished = loop {
        let n = read_results(&json).map(|r| r.results.len()).unwrap_or(0);
        if n >= 2 {
            break n;
        }
        assert!(Instant::now() < deadline, "no case finished within 120 s");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be interrupted");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let rep = read_results(&json).expect("the results file stays valid JSON");
    assert_eq!(rep.complete, Some(false), "an interrupted run is marked incomplete");
    assert!(rep.results.len() >= finished && rep.results.len() < 17, "{} results", rep.results.len());
    assert!(rep.results.iter().all(|r| r.status == CaseStatus::Ok));
    let csv = read_csv(&json.with_extension("csv")).unwrap();
    assert!(csv.len() + 1 >= rep.results.len() && csv.len() <= rep.results.len(), "csv {} json {}", csv.len(), rep.results.len());
    // The report says so.
    let o = ringattn(&["report", s(&json)]);
    assert_ok(&o);
    let md = std::fs::read_to_string(dir.join("r-report").join("report.md")).unwrap();
    assert!(md.contains("**incomplete**"), "{md}");
}

#[test]
fn memory_accounting_matches_the_buffers_created() {
    let ctx = GpuContext::new().unwrap();
    // The counter against wgpu's own buffer sizes.
    let before = ctx.allocated_bytes();
    let a = GpuTensor::empty(&ctx, [1, 37, 3, 32], Dtype::F32).unwrap();
    let b = LseBuffer::empty(&ctx, [1, 3, 37]).unwrap();
    assert_eq!(ctx.allocated_bytes() - before, a.buffer().size() + b.buffer().size());
    assert_eq!(a.buffer().size(), 37 * 3 * 32 * 4);

    // A single-device case: Q, O (b, n, h, d), K, V (b, n, kv_heads, d), LSE (b, h, n).
    for (dtype, batch, seq, heads, kv_heads) in [(Dtype::F32, 2, 48, 4, 4), (Dtype::F32, 1, 37, 4, 1), (Dtype::F16, 1, 33, 2, 2)] {
        if dtype == Dtype::F16 && !ctx.capabilities().shader_f16 {
            continue;
        }
        let case = Case { tier: None, dtype, batch, seq, heads, kv_heads, head_dim: 32, causal: false };
        let es = dtype.size();
        let r4 = |x: u64| x.div_ceil(4) * 4;
        let q = r4((batch * seq * heads * 32) as u64 * es);
        let kv = r4((batch * seq * kv_heads * 32) as u64 * es);
        let lse = (batch * heads * seq) as u64 * 4;
        let want = 2 * q + 2 * kv + lse;
        assert_eq!(case.set_bytes(), want);
        // Two input sets (small inputs rotate): the counter grows by both, the case reports one.
        let before = ctx.allocated_bytes();
        let w = Workload::new(&ctx, case, &BenchOptions::default()).unwrap();
        assert_eq!(w.input_sets(), 2);
        assert_eq!(ctx.allocated_bytes() - before, 2 * want);
        assert_eq!(w.bytes_per_set(), want);
        assert!(w.check(&[0, seq - 1]).unwrap().passed);
        drop(w);
        // Through the suite: the result's peak bytes.
        let sc = SuiteCase { suite: Suite::Memory, engine: Engine::Single, case, devices: 1, sparse: None };
        let r = suite::run_case(&[Arc::new(GpuContext::new().unwrap())], &sc, &BenchOptions { reps: 1, warmup: 0, ..Default::default() }, None);
        assert_eq!(r.status, CaseStatus::Ok, "{:?}", r.note);
        assert_eq!((r.peak_bytes, r.peak_bytes_total), (Some(want), Some(want)));
        assert_eq!(r.bytes_per_token, Some(want as f64 / (batch * seq) as f64));
    }

    // A ring: the peak each device reports covers every buffer the library allocated
    // on it (the allocation counter) plus the readback of its O chunk(s), and a second
    // call with the same layout allocates nothing.
    let contexts: Vec<Arc<GpuContext>> = (0..2).map(|_| Arc::new(GpuContext::new().unwrap())).collect();
    let attn = Preset::standard().on_contexts(contexts.clone()).unwrap();
    let shape = Shape::new(1, 64, 2, 32);
    let q = reference::random_vec(shape.q_len(), 1);
    let before: Vec<u64> = contexts.iter().map(|c| c.allocated_bytes()).collect();
    let out = attn.forward(&q, &q, &q, shape, Dtype::F32, true).unwrap();
    let chunk_o = (32 * 2 * 32 * 4) as u64; // 32 rows per device, f32
    for (i, c) in contexts.iter().enumerate() {
        let allocated = c.allocated_bytes() - before[i];
        let peak = out.stats.peak_bytes[i];
        assert!(allocated > 0 && allocated <= peak, "device {i}: allocated {allocated}, peak {peak}");
        assert!(peak - allocated <= chunk_o, "device {i}: peak {peak} exceeds the allocations {allocated} by more than the O readback {chunk_o}");
    }
    // A second call with the same layout reuses the workspace: it allocates no more
    // than the first, and reports the same peak.
    let mid: Vec<u64> = contexts.iter().map(|c| c.allocated_bytes()).collect();
    let again = attn.forward(&q, &q, &q, shape, Dtype::F32, true).unwrap();
    for (i, c) in contexts.iter().enumerate() {
        assert!(c.allocated_bytes() - mid[i] <= mid[i] - before[i], "device {i}: the second call allocated more than the first");
    }
    assert_eq!(again.stats.peak_bytes, out.stats.peak_bytes);
    // Per device O(n / devices): half the sequence each.
    let one = Preset::standard().on_contexts(vec![contexts[0].clone()]).unwrap();
    let single = one.forward(&q, &q, &q, shape, Dtype::F32, true).unwrap();
    assert!(out.stats.peak_bytes[0] < single.stats.peak_bytes[0], "{:?} vs {:?}", out.stats.peak_bytes, single.stats.peak_bytes);
}

#[test]
fn check_catches_a_wrong_output() {
    let shape = Shape::new(1, 40, 2, 32);
    let q = reference::random_vec(shape.q_len(), 7);
    let k = reference::random_vec(shape.kv_len(), 8);
    let v = reference::random_vec(shape.kv_len(), 9);
    let r = reference::attention(&q, &k, &v, &shape, true, None);
    let o: Vec<f32> = r.o.iter().map(|&x| x as f32).collect();
    let lse: Vec<f32> = r.lse.iter().map(|&x| x as f32).collect();
    let rows = ringattn::bench::sample_rows(40, 6);
    assert_eq!(rows.first(), Some(&0));
    assert_eq!(rows.last(), Some(&39));
    assert!(CheckResult::compare(&q, &k, &v, &o, &lse, shape, Dtype::F32, true, &rows).passed);
    // Dense instead of causal, one corrupted row, a NaN: each fails.
    assert!(!CheckResult::compare(&q, &k, &v, &o, &lse, shape, Dtype::F32, false, &rows).passed);
    let mut bad = o.clone();
    bad[39 * 2 * 32 + 5] += 0.5;
    assert!(!CheckResult::compare(&q, &k, &v, &bad, &lse, shape, Dtype::F32, true, &rows).passed);
    let mut nan = o;
    nan[0] = f32::NAN;
    assert!(!CheckResult::compare(&q, &k, &v, &nan, &lse, shape, Dtype::F32, true, &rows).passed);
}

#[test]
fn presets_by_name_and_bad_input() {
    assert_eq!(Preset::by_name("DISTRIBUTED").unwrap().kind, PresetKind::Distributed);
    assert_error(&ringattn(&["bench", "sparse", "--densities", "1.5"]), &["--densities must be in [0, 1]"]);
    assert_error(&ringattn(&["bench", "sparse", "--block", "48"]), &["--block must be one of"]);
    // Hilbert needs self-attention.
    let one = vec![Arc::new(GpuContext::new().unwrap())];
    let shape = Shape::new(1, 32, 1, 32).with_seq_k(48);
    let (q, kv) = (reference::random_vec(shape.q_len(), 3), reference::random_vec(shape.kv_len(), 4));
    let e = Preset::hilbert().on_contexts(one).unwrap().forward(&q, &kv, &kv, shape, Dtype::F32, false).unwrap_err().to_string();
    assert!(e.contains("seq_q (32) must equal seq_k (48)"), "{e}");
    assert_error(&ringattn(&["bench", "speed"]), &["unknown suite `speed`", "compare", "ring"]);
    assert_error(&ringattn(&["bench", "compare", "--presets", "fast"]), &["unknown preset `fast`", "Standard", "Distributed"]);
    assert_error(&ringattn(&["bench", "kernels", "memory"]), &["on its own"]);
    assert_error(&ringattn(&["bench", "sweep", "--devices", "2"]), &["--devices applies"]);
    assert_error(&ringattn(&["bench", "compare", "--seqs", "0"]), &["--seqs needs positive values"]);
    assert_error(&ringattn(&["bench", "compare", "--head-dims", "48"]), &["48"]);
    let dir = tmpdir("bad");
    assert_error(&ringattn(&["report", s(&dir.join("missing.json"))]), &["missing.json"]);
    std::fs::write(dir.join("other.json"), "{\"hello\": 1}").unwrap();
    assert_error(&ringattn(&["report", s(&dir.join("other.json"))]), &["not a results file"]);
}

#[test]
fn the_kernel_table_stays_the_default_and_reports() {
    let dir = tmpdir("kernels");
    let json = dir.join("k.json");
    let o = ringattn(&[
        "bench",
        "--seqs",
        "32",
        "--head-dims",
        "32",
        "--tiers",
        "auto",
        "--dtypes",
        "f32",
        "--causal",
        "off",
        "--reps",
        "2",
        "--json",
        s(&json),
    ]);
    let out = assert_ok(&o);
    assert!(out.contains("| tier | dtype | N | D | causal | GPU ms (median) |"), "{out}");
    let rep = read_results(&json).unwrap();
    assert_eq!(rep.results.len(), 1);
    assert_eq!(rep.results[0].status, CaseStatus::Ok);
    assert!(rep.results[0].peak_bytes.is_some());
    let o = ringattn(&["report", s(&json), "--out", s(&dir.join("r"))]);
    assert_ok(&o);
    let md = std::fs::read_to_string(dir.join("r").join("report.md")).unwrap();
    assert!(md.contains("## Suite `kernels`") && md.contains("kernels-throughput.svg"), "{md}");
}

/// The Python baselines write the same schema: their output (here: the skip path when
/// torch or the old package is missing) reads back as a results file and renders.
#[test]
fn old_system_baseline_writes_the_results_schema() {
    let dir = tmpdir("old");
    let json = dir.join("old.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/old_ring_baseline.py");
    let o = match Command::new("python3").arg(&script).args(["--seqs", "1024,2048", "--causal", "both", "--json", s(&json)]).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("python3 not available ({e}): nothing to check");
            return;
        }
    };
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "--- stdout\n{out}\n--- stderr\n{err}");
    let rep = read_results(&json).unwrap();
    assert_eq!(rep.results.len(), 2 * 2 * 4, "2 lengths x 2 masks x 4 classes");
    assert_eq!(rep.suites, ["compare"]);
    for r in &rep.results {
        assert_eq!((r.batch, r.heads, r.head_dim, r.dtype.as_str(), r.suite.as_deref()), (2, 8, 64, "f16", Some("compare")));
        if r.status != CaseStatus::Ok {
            assert!(r.note.as_deref().is_some_and(|n| !n.is_empty()), "a skipped case says why");
        }
    }
    let presets: Vec<&str> = rep.results.iter().filter_map(|r| r.preset.as_deref()).collect();
    for p in ["Standard", "Distributed", "Hilbert", "BlockSparse"] {
        assert!(presets.contains(&p), "{p}");
    }
    let o = ringattn(&["report", s(&json), "--out", s(&dir.join("r"))]);
    assert_ok(&o);
}

/// The Hilbert preset runs in the Hilbert order of a 2D grid (each device owning a range
/// of the curve) and answers in the caller's order: the same O and LSE as plain
/// attention, causal in the caller's order; BlockSparse equals the reference under its
/// mask. On one device and on rings of 2 and 3.
#[test]
fn hilbert_and_block_sparse_presets_match_the_reference_on_rings() {
    use ringattn::presets::{square_grid, HilbertConfig, SparseConfig};
    let ctxs: Vec<Arc<GpuContext>> = (0..3).map(|_| Arc::new(GpuContext::new().unwrap())).collect();
    let ctx = ctxs[0].clone();
    for (devices, seq, grid, causal) in [(1, 48, None, true), (2, 48, None, false), (3, 60, Some((5, 12)), true), (2, 97, None, true)] {
        let shape = Shape::new(2, seq, 2, 32).with_kv_heads(1);
        let q = reference::random_vec(shape.q_len(), 11);
        let k = reference::random_vec(shape.kv_len(), 12);
        let v = reference::random_vec(shape.kv_len(), 13);
        let label = format!("{devices} devices, N={seq} causal {causal}");
        let hil = Preset::hilbert_with(HilbertConfig { grid }).on_contexts(ctxs[..devices].to_vec()).unwrap();
        let out = hil.forward(&q, &k, &v, shape, Dtype::F32, causal).unwrap();
        let r = reference::attention(&q, &k, &v, &shape, causal, None);
        let (err, lse) = (reference::rel_error(&out.o, &r.o), reference::lse_max_abs_error(&out.lse, &r.lse));
        assert!(err < 1e-4 && lse < 1e-3, "Hilbert {label} grid {:?}: rel error {err}, lse {lse}", grid.unwrap_or(square_grid(seq)));
        assert_eq!(out.stats.devices, devices);
        assert!(out.stats.peak_bytes.iter().all(|&p| p > 0));
        let cfg = SparseConfig { density: 0.3, block: 16, seed: 5 };
        let bs = Preset::block_sparse_with(cfg).on_contexts(ctxs[..devices].to_vec()).unwrap();
        let out = bs.forward(&q, &k, &v, shape, Dtype::F32, causal).unwrap();
        let mask = cfg.mask(seq, seq).unwrap();
        let r = reference::attention_masked(&q, &k, &v, &shape, None, |_, _, i, j| (!causal || j <= i) && mask.allows(0, i, j));
        let (err, lse) = (reference::rel_error(&out.o, &r.o), reference::lse_max_abs_error(&out.lse, &r.lse));
        assert!(err < 1e-4 && lse < 1e-3, "BlockSparse {label}: rel error {err}, lse {lse}");
    }
    // A grid that does not hold the sequence is an error, not another computation.
    let shape = Shape::new(1, 20, 1, 32);
    let x = reference::random_vec(shape.q_len(), 1);
    let attn = Preset::hilbert_with(HilbertConfig { grid: Some((4, 4)) }).on_contexts(vec![ctx]).unwrap();
    let e = attn.forward(&x, &x, &x, shape, Dtype::F32, true).unwrap_err().to_string();
    assert!(e.contains("holds 16 tokens"), "{e}");
}

/// A preset case reheats its devices after its first call (`BenchOptions::reheat_seconds`):
/// on a GPU `bench::preheat` keeps each device busy for at least the seconds asked; CPU
/// adapters have no clocks to raise and are skipped. The case (its first call a warm-up
/// run, then the reheat, then the rest of its warm-up) runs, times and checks.
#[test]
fn a_preset_case_reheats_its_devices_after_its_first_call() {
    let ctx = Arc::new(GpuContext::new().unwrap());
    let cpu = ctx.info().device_type == wgpu::DeviceType::Cpu;
    let t0 = Instant::now();
    let calls = ringattn::bench::preheat(&[ctx.as_ref()], 0.2).unwrap();
    if cpu {
        assert_eq!(calls, vec![0], "CPU adapters are not preheated");
    } else {
        assert!(calls[0] >= 2 && t0.elapsed() >= Duration::from_millis(200), "{calls:?} calls in {:?}", t0.elapsed());
    }
    assert_eq!(ringattn::bench::preheat(&[ctx.as_ref()], 0.0).unwrap(), vec![0]);
    let case = Case { tier: None, dtype: Dtype::F32, batch: 1, seq: 64, heads: 2, kv_heads: 2, head_dim: 32, causal: true };
    let sc = SuiteCase { suite: Suite::Ring, engine: Engine::Preset(PresetKind::Standard), case, devices: 1, sparse: None };
    let opts = BenchOptions { reps: 2, warmup: 2, reheat_seconds: 0.2, ..Default::default() };
    let r = suite::run_case(&[ctx], &sc, &opts, Some(4));
    assert_eq!(r.status, CaseStatus::Ok, "{:?}", r.note);
    assert_eq!(r.warmup_runs, 2);
    assert_eq!(r.ring_ms.len(), 2);
    assert!(r.check.as_ref().is_some_and(|c| c.passed), "{:?}", r.check);
}
