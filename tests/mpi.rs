//! The ring over MPI ranks (`--features mpi`): `mpirun -np 2/3/4 ringattn run --devices
//! mpi` on one machine (lavapipe on CI) equals the f64 reference (the CLI's --check)
//! for dense, causal zigzag, block-sparse and f16 runs; a killed or stalled rank ends
//! the job with an error in bounded time.
//!
//! Skipped (with a message) when `mpirun` is not installed. As root, OpenMPI needs
//! `--allow-run-as-root`; `--oversubscribe` lets 4 ranks share 2 cores.
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringattn::npy::write_npy_f32;
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
    let mut c = mpirun()?;
    let s = |p: &str| dir.join(p).to_string_lossy().into_owned();
    c.args(["-np", &np.to_string(), env!("CARGO_BIN_EXE_ringattn"), "run", "--devices", "mpi"])
        .args(["--q", &s("q.npy"), "--k", &s("k.npy"), "--v", &s("v.npy"), "--out", &s("o.npy")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
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
            panic!("mpirun -np {np} {extra:?} did not finish within {deadline:?} (hang)");
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
