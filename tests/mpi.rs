//! The ring over MPI ranks (`--features mpi`): `mpirun -np 2/3/4 ringattn run --devices
//! mpi` on one machine (lavapipe on CI) equals the f64 reference (the CLI's --check)
//! for dense, causal zigzag, block-sparse and f16 runs; a killed or stalled rank ends
//! the job with an error in bounded time. With several devices per rank (`--devices
//! mpi:logical:2`, `mpi:3`: in-process links inside a rank, MPI between ranks) the
//! output also equals single-device attention (`ringattn run` without `--devices`), and
//! a failing, stalled or killed device ends the job likewise.
//!
//! Skipped (with a message) when `mpirun` is not installed. As root, OpenMPI needs
//! `--allow-run-as-root`; `--oversubscribe` lets 4 ranks share 2 cores.
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringattn::npy::{read_npy, write_npy_f32};
use ringattn::reference::{fresh_seed, random_vec};

fn mpirun() -> Option<Command> {
    let ok = Command::new("mpirun").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)");
        return None;
    }
    let mut c = Command::new("mpirun");
    c.args(["--allow-run-as-root", "--oversubscribe"]);
    Some(c)
}

/// Random Q, K, V .npy files of shape (batch, seq, heads, head_dim) in a fresh directory.
fn inputs(tag: &str, shape: [usize; 4]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringattn-mpi-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let n: usize = shape.iter().product();
    let seed = fresh_seed();
    for (i, name) in ["q", "k", "v"].iter().enumerate() {
        write_npy_f32(dir.join(format!("{name}.npy")), &shape, &random_vec(n, seed ^ i as u64)).unwrap();
    }
    dir
}

/// Runs `mpirun -np n ringattn run --devices mpi ...` with a hard deadline; returns
/// (exit code, stdout + stderr, seconds).
fn run(np: usize, dir: &Path, extra: &[&str], deadline: Duration) -> Option<(i32, String, f64)> {
    run_on(np, "mpi", dir, extra, deadline)
}

/// [`run`] with `--devices devices` (mpi, mpi:L, mpi:logical:L).
fn run_on(np: usize, devices: &str, dir: &Path, extra: &[&str], deadline: Duration) -> Option<(i32, String, f64)> {
    let mut c = mpirun()?;
    let s = |p: &str| dir.join(p).to_string_lossy().into_owned();
    c.args(["-np", &np.to_string(), env!("CARGO_BIN_EXE_ringattn"), "run", "--devices", devices])
        .args(["--q", &s("q.npy"), "--k", &s("k.npy"), "--v", &s("v.npy"), "--out", &s("o.npy")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    wait(c, deadline, &format!("mpirun -np {np} --devices {devices} {extra:?}"))
}

fn wait(mut c: Command, deadline: Duration, what: &str) -> Option<(i32, String, f64)> {
    let t = Instant::now();
    let mut child = c.spawn().expect("start mpirun");
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            return Some((st.code().unwrap_or(-1), text, t.elapsed().as_secs_f64()));
        }
        if t.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {deadline:?} (hang)");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_checked(np: usize, dir: &Path, extra: &[&str]) {
    let mut args = vec!["--check"];
    args.extend_from_slice(extra);
    let Some((code, text, _)) = run(np, dir, &args, Duration::from_secs(600)) else { return };
    assert_eq!(code, 0, "mpirun -np {np} {args:?} failed:\n{text}");
    assert!(text.contains("check: ok"), "no passing check in:\n{text}");
    assert!(text.contains(&format!("ring: {np} MPI ranks")), "{text}");
}

#[test]
fn two_ranks_causal_zigzag_and_f16() {
    let dir = inputs("two", [1, 77, 2, 32]);
    assert_checked(2, &dir, &["--causal", "--placement", "zigzag"]);
    assert_checked(2, &dir, &["--dtype", "f16"]);
    // Blocks in many 1 KiB pieces: several MPI sends in flight at once, each from its
    // own mapped staging piece, on 3 ranks and with 2 devices per rank.
    assert_checked(3, &dir, &["--causal", "--placement", "zigzag", "--piece-bytes", "1024"]);
    if let Some((code, text, _)) = run_on(2, "mpi:logical:2", &dir, &["--check", "--piece-bytes", "1024"], Duration::from_secs(300)) {
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("check: ok"), "{text}");
    }
}

#[test]
fn four_ranks_dense_and_block_sparse() {
    let dir = inputs("four", [2, 45, 2, 32]);
    assert_checked(4, &dir, &[]);
    // Causal sliding window + global tokens in 16-token blocks: pairs and transfers skipped.
    assert_checked(4, &dir, &["--causal", "--placement", "zigzag", "--window", "16,0", "--global", "4", "--block-size", "16"]);
}

#[test]
fn killed_or_stalled_rank_ends_the_job_with_an_error() {
    let dir = inputs("fault", [1, 40, 1, 32]);
    // A rank that dies (abort, as if killed) at step 1: the launcher ends the job.
    if let Some((code, text, secs)) = run(3, &dir, &["--crash-at", "1:1"], Duration::from_secs(120)) {
        assert_ne!(code, 0, "a killed rank must fail the job:\n{text}");
        assert!(secs < 120.0);
    }
    // A rank that stops responding: its neighbour times out, reports and aborts the job.
    if let Some((code, text, secs)) = run(3, &dir, &["--stall-at", "1:1", "--ring-timeout", "5"], Duration::from_secs(120)) {
        assert_eq!(code, 2, "a stalled rank must fail the job with exit 2:\n{text}");
        assert!(text.contains("timed out"), "the error must name the timeout:\n{text}");
        assert!(secs < 100.0, "took {secs} s");
    }
    // A rank that fails with an error.
    if let Some((code, text, _)) = run(2, &dir, &["--fail-at", "0:1"], Duration::from_secs(120)) {
        assert_eq!(code, 2, "{text}");
        assert!(text.contains("rank 0") && text.contains("fault injected"), "{text}");
    }
}

/// Relative L2 error of `got` against `want`.
fn rel_diff(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&a, &b) in got.iter().zip(want) {
        num += (a as f64 - b as f64).powi(2);
        den += (b as f64).powi(2);
    }
    (num / den.max(1e-300)).sqrt()
}

/// `mpirun -np np ringattn run --devices devices --check` with `attn` (attention and
/// mask flags) and `ring` (ring-only flags) must pass the f64 check, name the ring's
/// size, and, for f32, equal single-device `ringattn run` with `attn` (rel. err < 1e-4).
fn assert_multi(np: usize, per_rank: usize, devices: &str, dir: &Path, attn: &[&str], ring: &[&str]) {
    let mut args = vec!["--check"];
    args.extend_from_slice(attn);
    args.extend_from_slice(ring);
    let Some((code, text, _)) = run_on(np, devices, dir, &args, Duration::from_secs(300)) else { return };
    assert_eq!(code, 0, "mpirun -np {np} --devices {devices} {args:?} failed:\n{text}");
    assert!(text.contains("check: ok"), "no passing check in:\n{text}");
    assert!(text.contains(&format!("ring: {np} MPI ranks x {per_rank} devices ({} ring devices)", np * per_rank)), "{text}");
    if per_rank > 1 {
        // lavapipe's logical devices import host memory: the in-rank links share it.
        assert!(text.contains("in-rank links: shared") || text.contains("in-rank links: device"), "{text}");
    }
    if attn.contains(&"f16") {
        return;
    }
    let ring_o = read_npy(dir.join("o.npy")).unwrap().to_f32_vec();
    let s = |p: &str| dir.join(p).to_string_lossy().into_owned();
    let mut c = Command::new(env!("CARGO_BIN_EXE_ringattn"));
    c.args(["run", "--q", &s("q.npy"), "--k", &s("k.npy"), "--v", &s("v.npy"), "--out", &s("o1.npy")])
        .args(attn)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (code, text, _) = wait(c, Duration::from_secs(120), "single-device ringattn run").unwrap();
    assert_eq!(code, 0, "single-device run {attn:?} failed:\n{text}");
    let single = read_npy(dir.join("o1.npy")).unwrap().to_f32_vec();
    let e = rel_diff(&ring_o, &single);
    assert!(e < 1e-4, "--devices {devices} {attn:?} {ring:?}: rel. error {e:.2e} against single-device attention");
}

/// `--mpi-inputs root`: only rank 0 reads the files and scatters the chunks; the
/// output still passes --check (one device per rank, and two logical devices per rank
/// with a causal block mask). A missing input file ends every rank with an error (rank
/// 0 names the file), no hang.
#[test]
fn inputs_read_by_rank_zero_only() {
    let dir = inputs("root", [1, 150, 2, 32]);
    if let Some((code, text, _)) = run(2, &dir, &["--mpi-inputs", "root", "--check", "--causal", "--placement", "zigzag"], Duration::from_secs(300)) {
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("inputs: read by rank 0, scattered") && text.contains("check: ok"), "{text}");
    }
    let extra = ["--mpi-inputs", "root", "--check", "--causal", "--window", "40,0", "--block-size", "16"];
    if let Some((code, text, _)) = run_on(2, "mpi:logical:2", &dir, &extra, Duration::from_secs(300)) {
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("ring: 2 MPI ranks x 2 devices") && text.contains("check: ok"), "{text}");
    }
    let missing = std::env::temp_dir().join(format!("ringattn-mpi-missing-{}", std::process::id()));
    std::fs::create_dir_all(&missing).unwrap();
    if let Some((code, text, secs)) = run(2, &missing, &["--mpi-inputs", "root"], Duration::from_secs(120)) {
        assert_ne!(code, 0, "{text}");
        assert!(text.contains("q.npy") && text.contains("rank 0 could not read the inputs"), "{text}");
        assert!(secs < 60.0, "took {secs} s");
    }
}

#[test]
fn two_ranks_of_two_logical_devices() {
    let dir = inputs("multi2", [1, 77, 2, 32]);
    assert_multi(2, 2, "mpi:logical:2", &dir, &[], &[]);
    assert_multi(2, 2, "mpi:logical:2", &dir, &["--causal"], &["--placement", "zigzag"]);
    assert_multi(2, 2, "mpi:logical:2", &dir, &["--dtype", "f16", "--causal"], &[]);
}

#[test]
fn two_ranks_of_three_devices_dense_and_block_sparse() {
    // `mpi:3` on lavapipe (no GPU adapter): 3 logical devices per rank, 6 in the ring.
    let dir = inputs("multi3", [2, 100, 2, 32]);
    assert_multi(2, 3, "mpi:3", &dir, &[], &[]);
    // Causal sliding window + global tokens in 16-token blocks over 12 zigzag chunks:
    // empty chunks, skipped pairs and skipped transfers, inside ranks and across them.
    assert_multi(2, 3, "mpi:3", &dir, &["--causal", "--window", "16,0", "--global", "4", "--block-size", "16"], &["--placement", "zigzag"]);
}

#[test]
fn failing_stalled_or_killed_device_of_a_multi_device_rank_ends_the_job() {
    let dir = inputs("multifault", [1, 40, 1, 32]);
    let dev = "mpi:logical:2";
    // Ring device 1 (rank 0's second device, which sends over MPI) fails with an error.
    if let Some((code, text, secs)) = run_on(2, dev, &dir, &["--fail-at", "1:1"], Duration::from_secs(120)) {
        assert_eq!(code, 2, "{text}");
        assert!(text.contains("rank 0") && text.contains("ring device 1 failed at step 1") && text.contains("fault injected"), "{text}");
        assert!(secs < 60.0, "took {secs} s");
    }
    // Ring device 2 (rank 1's first device, which receives over MPI) stops responding:
    // rank 0's sender or rank 1's other device times out, reports and aborts the job.
    if let Some((code, text, secs)) = run_on(2, dev, &dir, &["--stall-at", "2:1", "--ring-timeout", "3"], Duration::from_secs(120)) {
        assert_eq!(code, 2, "a stalled device must fail the job with exit 2:\n{text}");
        assert!(text.contains("timed out"), "the error must name the timeout:\n{text}");
        assert!(secs < 60.0, "took {secs} s");
    }
    // Rank 1's process dies (abort, as if killed) in ring device 3 at step 1.
    if let Some((code, text, secs)) = run_on(2, dev, &dir, &["--crash-at", "3:1"], Duration::from_secs(120)) {
        assert_ne!(code, 0, "a killed rank must fail the job:\n{text}");
        assert!(secs < 60.0, "took {secs} s");
    }
    // Bad device counts fail every rank with a clear error instead of hanging.
    if let Some((code, text, _)) = run_on(2, "mpi:0", &dir, &[], Duration::from_secs(60)) {
        assert_ne!(code, 0, "{text}");
        assert!(text.contains("devices per MPI rank"), "{text}");
    }
    // Ranks asking for different device counts (MPMD launch): every rank refuses.
    if let Some(mut c) = mpirun() {
        let s = |p: &str| dir.join(p).to_string_lossy().into_owned();
        let files = ["--q".to_string(), s("q.npy"), "--k".into(), s("k.npy"), "--v".into(), s("v.npy"), "--out".into(), s("o.npy")];
        c.args(["-np", "1", env!("CARGO_BIN_EXE_ringattn"), "run", "--devices", "mpi:1"]).args(&files);
        c.args([":", "-np", "1", env!("CARGO_BIN_EXE_ringattn"), "run", "--devices", "mpi:logical:2"]).args(&files);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let (code, text, _) = wait(c, Duration::from_secs(60), "mismatched devices per rank").unwrap();
        assert_ne!(code, 0, "{text}");
        assert!(text.contains("every MPI rank must own the same number of devices"), "{text}");
    }
}

/// Through `examples/ring_mpi.rs`: inputs held by rank 0 only (`MpiRing::scatter`:
/// rank 0 sends every other rank's devices their chunks), and a Hilbert token order
/// (`RingOptions::order`: the caller's causal mask carried into curve order, outputs
/// gathered back into the caller's order); dense and causal zigzag outputs, gathered
/// on rank 0, match the f64 reference on rows from every device (the example exits
/// non-zero otherwise); rank 0 passing inputs of the wrong length ends every rank with
/// an error, no hang. The example is built by `.ci/run` (`cargo build --release
/// --features mpi --example ring_mpi`) before these tests; without it the test says so
/// and skips.
#[test]
fn scattered_inputs_and_token_orders_through_the_example() {
    let exe = std::env::current_exe().unwrap();
    let example = exe.parent().and_then(|d| d.parent()).map(|d| d.join("examples").join("ring_mpi")).unwrap();
    if !example.exists() {
        eprintln!("skipping: {} not built (cargo build --release --features mpi --example ring_mpi)", example.display());
        return;
    }
    let cases: [(usize, &[&str], &str); 5] = [
        (2, &["--scatter", "300", "2", "32"], "inputs scattered from rank 0"),
        (2, &["--scatter", "--per-rank", "2", "301", "2", "32"], "inputs scattered from rank 0"),
        (3, &["--scatter", "257", "1", "32"], "inputs scattered from rank 0"),
        (2, &["--hilbert", "300", "2", "32"], "Hilbert order"),
        (2, &["--hilbert", "--scatter", "--per-rank", "2", "301", "2", "32"], "Hilbert order"),
    ];
    // Rank 0 passes inputs of the wrong length: every rank ends with an error, no hang.
    if let Some(mut c) = mpirun() {
        c.args(["-np", "3"]).arg(&example).args(["--scatter", "--bad-inputs", "200", "1", "32"]).stdout(Stdio::piped()).stderr(Stdio::piped());
        let (code, text, secs) = wait(c, Duration::from_secs(120), "ring_mpi --scatter --bad-inputs").unwrap();
        assert_ne!(code, 0, "{text}");
        assert!(text.contains("could not send the inputs") && text.contains("wrong size for q"), "{text}");
        assert!(secs < 60.0, "took {secs} s");
    }
    for (np, extra, says) in cases {
        let Some(mut c) = mpirun() else { return };
        c.args(["-np", &np.to_string()]).arg(&example).args(extra).stdout(Stdio::piped()).stderr(Stdio::piped());
        let (code, text, _) = wait(c, Duration::from_secs(120), &format!("ring_mpi -np {np} {extra:?}")).unwrap();
        assert_eq!(code, 0, "{extra:?}: {text}");
        assert!(text.contains(says), "{extra:?}: {text}");
        assert_eq!(text.matches(": ok (rel err vs f64").count(), 2, "{extra:?}: dense and causal must both pass:\n{text}");
    }
}
