//! Integration tests of the `ringattn` binary: `info`, `run` on .npy inputs, and
//! error handling (exit code 2 with `error: ...`, never a panic).
//!
//! Sizes stay small (seq <= 64, head_dim <= 64): the tests run on Mesa lavapipe.

use std::path::{Path, PathBuf};
use std::process::Output;

use half::f16;
use ringattn::npy::{read_npy, write_npy_f16, write_npy_f32, NpyArray, NpyData};
use ringattn::reference::{self, lse_max_abs_error, random_vec, rel_error};
use ringattn::{Dtype, GpuContext, Shape};

mod common;
use common::cli::{assert_ok, ringattn, text};

/// Asserts exit code 2 with a one-line `error: ...` containing every needle, and no panic.
fn assert_error(o: &Output, needles: &[&str]) -> String {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(2), "expected exit code 2\n--- stdout\n{out}\n--- stderr\n{err}");
    assert!(!err.contains("panicked"), "panicked:\n{err}");
    let line = err.lines().rev().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("no `error:` line in stderr:\n{err}"));
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    line.to_string()
}

/// A fresh directory for one test's files.
fn tmpdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn default_has_f16() -> bool {
    GpuContext::new().map(|c| c.capabilities().shader_f16).unwrap_or(false)
}

/// The value of `rel error <x>` in the output.
fn printed_rel_error(stdout: &str) -> f64 {
    let line = stdout.lines().find(|l| l.starts_with("rel error ")).unwrap_or_else(|| panic!("no `rel error` line:\n{stdout}"));
    line["rel error ".len()..].split_whitespace().next().unwrap().parse().unwrap()
}

struct Case {
    name: &'static str,
    shape: Shape,
    file_dtype: Dtype,
    extra: Vec<&'static str>,
    causal: bool,
    scale: Option<f32>,
}

/// Writes random inputs, runs `ringattn run --check`, checks the files it wrote and
/// compares O and LSE with the f64 reference. Returns (rel error of O, LSE error, stdout).
fn run_case(c: &Case) -> (f64, f64, String) {
    let dir = tmpdir(c.name);
    let sh = c.shape;
    let seed = reference::fresh_seed();
    let mut q = random_vec(sh.q_len(), seed);
    let mut k = random_vec(sh.kv_len(), seed ^ 1);
    let mut v = random_vec(sh.kv_len(), seed ^ 2);
    let (qp, kp, vp, op, lp) = (dir.join("q.npy"), dir.join("k.npy"), dir.join("v.npy"), dir.join("o.npy"), dir.join("lse.npy"));
    match c.file_dtype {
        Dtype::F32 => {
            write_npy_f32(&qp, &sh.q_dims(), &q).unwrap();
            write_npy_f32(&kp, &sh.kv_dims(), &k).unwrap();
            write_npy_f32(&vp, &sh.kv_dims(), &v).unwrap();
        }
        Dtype::F16 => {
            for (p, x, dims) in [(&qp, &mut q, sh.q_dims()), (&kp, &mut k, sh.kv_dims()), (&vp, &mut v, sh.kv_dims())] {
                let h: Vec<f16> = x.iter().map(|&a| f16::from_f32(a)).collect();
                write_npy_f16(p, &dims, &h).unwrap();
                *x = h.iter().map(|a| a.to_f32()).collect();
            }
        }
    }
    let gpu_dtype = if c.extra.windows(2).any(|w| w == ["--dtype", "f16"]) {
        Dtype::F16
    } else if c.extra.windows(2).any(|w| w == ["--dtype", "f32"]) {
        Dtype::F32
    } else {
        c.file_dtype
    };
    let scale_s = c.scale.map(|x| x.to_string());
    let mut args = vec!["run", "--q", s(&qp), "--k", s(&kp), "--v", s(&vp), "--out", s(&op), "--lse", s(&lp), "--check"];
    if c.causal {
        args.push("--causal");
    }
    if let Some(sc) = &scale_s {
        args.extend(["--scale", sc.as_str()]);
    }
    args.extend(c.extra.iter().copied());
    let stdout = assert_ok(&ringattn(&args));
    for needle in ["adapter: ", "tier: ", "shape: ", "time: ", "check: ok"] {
        assert!(stdout.contains(needle), "stdout lacks {needle:?}:\n{stdout}");
    }

    // Values the GPU saw: f16-rounded when it ran in f16.
    if gpu_dtype == Dtype::F16 {
        for x in [&mut q, &mut k, &mut v] {
            for a in x.iter_mut() {
                *a = f16::from_f32(*a).to_f32();
            }
        }
    }
    let r = reference::attention(&q, &k, &v, &sh, c.causal, c.scale);

    let o = read_npy(&op).unwrap();
    assert_eq!(o.shape, sh.q_dims().to_vec(), "O shape");
    assert_eq!(o.dtype(), c.file_dtype, "O is written in Q's file dtype");
    let lse = read_npy(&lp).unwrap();
    assert_eq!(lse.shape, sh.lse_dims().to_vec(), "LSE shape");
    assert_eq!(lse.dtype(), Dtype::F32, "LSE is float32");
    let o_err = rel_error(&o.to_f32_vec(), &r.o);
    let lse_err = lse_max_abs_error(&lse.to_f32_vec(), &r.lse);
    let printed = printed_rel_error(&stdout);
    assert!(printed.is_finite() && printed <= 5e-3, "printed rel error {printed} (file O: {o_err})");
    (o_err, lse_err, stdout)
}

#[test]
fn info_lists_adapters() {
    let out = assert_ok(&ringattn(&["info"]));
    assert!(out.contains("[0] "), "{out}");
    for needle in [
        "backend:",
        "SHADER_F16",
        "SUBGROUP",
        "TIMESTAMP_QUERY",
        "EXPERIMENTAL_COOPERATIVE_MATRIX",
        "max_storage_buffer_binding_size",
        "max_buffer_size",
        "max_compute_workgroup_storage_size",
        "max_compute_invocations_per_workgroup",
        "max_compute_workgroups_per_dimension",
        "tier:",
        "ring:     ",
        "<- default",
    ] {
        assert!(out.contains(needle), "info lacks {needle:?}:\n{out}");
    }
    // Every adapter wgpu lists appears.
    let n = ringattn::context::enumerate_adapters().len();
    assert_eq!(out.lines().filter(|l| l.starts_with('[')).count(), n, "{out}");
    assert_eq!(out.matches("<- default").count(), 1, "{out}");
}

/// `ringattn info` lists the tile cache's entries for each adapter (the default one's
/// here, written into a cache file for the test), and not other adapters' entries.
#[test]
fn info_lists_the_tuned_entries() {
    use ringattn::tuning::{key, TileEntry};
    let ctx = GpuContext::new().expect("the default adapter");
    let path = tmpdir("info_tuned").join("tiles.json");
    let entry =
        TileEntry { mq: 0, w: 0, bk: 0, variant: Some("shuffle".into()), shape: None, wave: Some(4096), cores: Some(16), ms: 1.5, unix_time: 1 };
    let matrix = TileEntry { mq: 2, w: 4, bk: 16, variant: None, shape: None, wave: None, cores: None, ms: 0.25, unix_time: 1 };
    let mut entries = serde_json::Map::new();
    entries.insert(key(&ctx, Dtype::F32, 64, "subgroup"), serde_json::to_value(&entry).unwrap());
    entries.insert(key(&ctx, Dtype::F16, 128, "matrix"), serde_json::to_value(&matrix).unwrap());
    entries.insert("Another GPU | its driver | Vulkan | f32 | d64 | subgroup".into(), serde_json::to_value(&entry).unwrap());
    std::fs::write(&path, serde_json::json!({ "version": 1, "entries": entries }).to_string()).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ringattn")).arg("info").env("RINGATTN_TUNE_CACHE", &path).output().unwrap();
    let out = assert_ok(&o);
    for needle in [
        "tuned:    f16 | d128 | matrix: rows/subgroup 32, subgroups 4, keys/tile 16 (0.2500 ms)",
        "          f32 | d64 | subgroup: shuffle (built-in shape), wave 4096 invocations, 16 cores (1.5000 ms)",
    ] {
        assert!(out.contains(needle), "info lacks {needle:?}:\n{out}");
    }
    assert!(!out.contains("Another GPU"), "{out}");
    assert!(out.contains("nothing cached") || ringattn::context::enumerate_adapters().len() == 1, "{out}");
}

#[test]
fn run_f32_dense() {
    let (o, l, _) =
        run_case(&Case { name: "f32_dense", shape: Shape::new(1, 37, 2, 32), file_dtype: Dtype::F32, extra: vec![], causal: false, scale: None });
    assert!(o < 1e-5, "O rel error {o}");
    assert!(l < 1e-4, "LSE error {l}");
}

#[test]
fn run_f32_causal_batched_with_scale() {
    let (o, l, out) = run_case(&Case {
        name: "f32_causal",
        shape: Shape::new(2, 33, 3, 64),
        file_dtype: Dtype::F32,
        extra: vec![],
        causal: true,
        scale: Some(0.3),
    });
    assert!(o < 1e-5, "O rel error {o}");
    assert!(l < 1e-4, "LSE error {l}");
    assert!(out.contains("causal true"), "{out}");
}

#[test]
fn run_causal_with_fully_masked_rows() {
    // seq_q > seq_k: bottom-right alignment leaves the first 16 query rows without keys.
    let (o, l, _) = run_case(&Case {
        name: "f32_masked_rows",
        shape: Shape::new(1, 40, 2, 32).with_seq_k(24),
        file_dtype: Dtype::F32,
        extra: vec![],
        causal: true,
        scale: None,
    });
    assert!(o < 1e-5, "O rel error {o}");
    assert!(l < 1e-4, "LSE error {l} (masked rows must be -inf)");
    let lse = read_npy(tmpdir_existing("f32_masked_rows").join("lse.npy")).unwrap().to_f32_vec();
    assert_eq!(lse[0], f32::NEG_INFINITY);
    let o = read_npy(tmpdir_existing("f32_masked_rows").join("o.npy")).unwrap().to_f32_vec();
    assert!(o[..32].iter().all(|&x| x == 0.0), "masked row O must be 0");
}

fn tmpdir_existing(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli").join(name)
}

#[test]
fn run_gqa() {
    let (o, l, _) = run_case(&Case {
        name: "f32_gqa",
        shape: Shape::new(1, 24, 4, 64).with_seq_k(40).with_kv_heads(1),
        file_dtype: Dtype::F32,
        extra: vec![],
        causal: false,
        scale: None,
    });
    assert!(o < 1e-5, "O rel error {o}");
    assert!(l < 1e-4, "LSE error {l}");
}

#[test]
fn run_f16_files() {
    if !default_has_f16() {
        eprintln!("skipping: the default adapter lacks SHADER_F16");
        return;
    }
    let (o, l, out) = run_case(&Case {
        name: "f16_gqa_causal",
        shape: Shape::new(1, 37, 4, 32).with_kv_heads(2),
        file_dtype: Dtype::F16,
        extra: vec![],
        causal: true,
        scale: None,
    });
    assert!(o < 5e-3, "O rel error {o}");
    assert!(l < 1e-2, "LSE error {l}");
    assert!(out.contains("dtype f16"), "{out}");
}

#[test]
fn run_f32_files_as_f16() {
    if !default_has_f16() {
        eprintln!("skipping: the default adapter lacks SHADER_F16");
        return;
    }
    let (o, _, _) = run_case(&Case {
        name: "f32_as_f16",
        shape: Shape::new(1, 19, 2, 32),
        file_dtype: Dtype::F32,
        extra: vec!["--dtype", "f16"],
        causal: false,
        scale: None,
    });
    assert!(o < 5e-3, "O rel error {o}");
}

#[test]
fn run_f16_files_as_f32_portable() {
    let (o, _, out) = run_case(&Case {
        name: "f16_as_f32",
        shape: Shape::new(1, 21, 2, 32),
        file_dtype: Dtype::F16,
        extra: vec!["--dtype", "f32", "--tier", "portable"],
        causal: false,
        scale: None,
    });
    // O is rounded to f16 when written (Q's file dtype).
    assert!(o < 2e-3, "O rel error {o}");
    assert!(out.contains("tier: portable"), "{out}");
}

#[test]
fn check_rows_subset() {
    let (o, _, out) = run_case(&Case {
        name: "check_rows",
        shape: Shape::new(1, 50, 2, 32),
        file_dtype: Dtype::F32,
        extra: vec!["--check-rows", "7"],
        causal: true,
        scale: None,
    });
    assert!(o < 1e-5, "O rel error {o}");
    assert!(out.contains("7 of 50 rows"), "{out}");
}

/// Compares a run on NumPy-written inputs with the NumPy float64 reference stored
/// next to them (made by scripts/make_npy.py; see tests/data/README.md).
fn numpy_fixture(name: &str, causal: bool, o_tol: f64) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    let dir = tmpdir(&format!("numpy_{name}"));
    let (op, lp) = (dir.join("o.npy"), dir.join("lse.npy"));
    let mut args = vec![
        "run".to_string(),
        "--q".into(),
        data.join("q.npy").display().to_string(),
        "--k".into(),
        data.join("k.npy").display().to_string(),
        "--v".into(),
        data.join("v.npy").display().to_string(),
        "--out".into(),
        op.display().to_string(),
        "--lse".into(),
        lp.display().to_string(),
        "--check".into(),
    ];
    if causal {
        args.push("--causal".into());
    }
    let argv: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
    assert_ok(&ringattn(&argv));
    let o = read_npy(&op).unwrap();
    let o_ref = read_npy(data.join("o_ref.npy")).unwrap();
    assert_eq!(o.shape, o_ref.shape);
    let r: Vec<f64> = o_ref.to_f32_vec().iter().map(|&x| x as f64).collect();
    let err = rel_error(&o.to_f32_vec(), &r);
    assert!(err < o_tol, "{name}: O vs NumPy reference rel error {err}");
    let lse = read_npy(&lp).unwrap();
    let lse_ref: Vec<f64> = read_npy(data.join("lse_ref.npy")).unwrap().to_f32_vec().iter().map(|&x| x as f64).collect();
    let le = lse_max_abs_error(&lse.to_f32_vec(), &lse_ref);
    assert!(le < 1e-4, "{name}: LSE vs NumPy reference max abs error {le}");
}

#[test]
fn numpy_fixture_gqa_causal_f32() {
    numpy_fixture("numpy_gqa_causal", true, 1e-5);
}

#[test]
fn numpy_fixture_f16() {
    if !default_has_f16() {
        eprintln!("skipping: the default adapter lacks SHADER_F16");
        return;
    }
    numpy_fixture("numpy_f16", false, 5e-3);
}

#[test]
fn npy_reads_numpy_files() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let q = read_npy(data.join("numpy_gqa_causal/q.npy")).unwrap();
    assert_eq!((q.shape.clone(), q.dtype()), (vec![1, 6, 2, 32], Dtype::F32));
    assert!(q.to_f32_vec().iter().all(|x| (-1.0..1.0).contains(x)));
    let k = read_npy(data.join("numpy_f16/k.npy")).unwrap();
    assert_eq!((k.shape.clone(), k.dtype()), (vec![1, 5, 2, 32], Dtype::F16));
    let lse = read_npy(data.join("numpy_gqa_causal/lse_ref.npy")).unwrap();
    assert_eq!(lse.shape, vec![1, 2, 6]);
    // Re-writing gives NumPy's exact bytes (same header layout, version 1.0).
    let dir = tmpdir("npy_rewrite");
    for f in ["numpy_gqa_causal/q.npy", "numpy_f16/k.npy", "numpy_gqa_causal/lse_ref.npy"] {
        let a = read_npy(data.join(f)).unwrap();
        let p = dir.join("x.npy");
        ringattn::npy::write_npy(&p, &a).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(data.join(f)).unwrap(), "{f}");
    }
}

/// Writes valid small inputs and returns the directory.
fn good_inputs(name: &str) -> PathBuf {
    let dir = tmpdir(name);
    let sh = Shape::new(1, 8, 2, 32);
    write_npy_f32(dir.join("q.npy"), &sh.q_dims(), &random_vec(sh.q_len(), 1)).unwrap();
    write_npy_f32(dir.join("k.npy"), &sh.kv_dims(), &random_vec(sh.kv_len(), 2)).unwrap();
    write_npy_f32(dir.join("v.npy"), &sh.kv_dims(), &random_vec(sh.kv_len(), 3)).unwrap();
    dir
}

fn run_with(dir: &Path, q: &str, k: &str, v: &str, extra: &[&str]) -> Output {
    let (q, k, v, o) = (dir.join(q), dir.join(k), dir.join(v), dir.join("o.npy"));
    let mut args = vec!["run", "--q", s(&q), "--k", s(&k), "--v", s(&v), "--out", s(&o)];
    args.extend_from_slice(extra);
    ringattn(&args)
}

#[test]
fn error_mismatched_head_dim() {
    let dir = good_inputs("err_head_dim");
    write_npy_f32(dir.join("k64.npy"), &[1, 8, 2, 64], &random_vec(8 * 2 * 64, 4)).unwrap();
    assert_error(&run_with(&dir, "q.npy", "k64.npy", "v.npy", &[]), &["shape mismatch for k", "k64.npy"]);
    assert!(!dir.join("o.npy").exists(), "no output on error");
}

#[test]
fn error_v_shape_and_rank() {
    let dir = good_inputs("err_v_rank");
    write_npy_f32(dir.join("v9.npy"), &[1, 9, 2, 32], &random_vec(9 * 2 * 32, 4)).unwrap();
    assert_error(&run_with(&dir, "q.npy", "k.npy", "v9.npy", &[]), &["shape mismatch for v"]);
    write_npy_f32(dir.join("q3.npy"), &[8, 2, 32], &random_vec(8 * 2 * 32, 4)).unwrap();
    assert_error(&run_with(&dir, "q3.npy", "k.npy", "v.npy", &[]), &["rank 4", "q3.npy"]);
    write_npy_f32(dir.join("q48.npy"), &[1, 8, 3, 32], &random_vec(8 * 3 * 32, 4)).unwrap();
    assert_error(&run_with(&dir, "q48.npy", "k.npy", "v.npy", &[]), &["multiple of kv_heads"]);
}

#[test]
fn error_missing_file() {
    let dir = good_inputs("err_missing");
    let line = assert_error(&run_with(&dir, "q.npy", "nope.npy", "v.npy", &[]), &["nope.npy"]);
    assert!(line.len() < 300, "one readable line: {line}");
    assert_error(&run_with(&dir, "q.npy", "k.npy", "v.npy", &["--lse", "/no/such/dir/lse.npy"]), &["/no/such/dir"]);
}

#[test]
fn error_fortran_order_and_dtype() {
    let dir = good_inputs("err_fortran");
    // A Fortran-order header as NumPy writes it (np.save of np.asfortranarray(x)).
    let write_raw = |name: &str, dict: &str, data: &[u8]| {
        let mut h = dict.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(data);
        std::fs::write(dir.join(name), b).unwrap();
    };
    let n = 8 * 2 * 32;
    write_raw("qf.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 8, 2, 32), }", &vec![0u8; n * 4]);
    assert_error(&run_with(&dir, "qf.npy", "k.npy", "v.npy", &[]), &["qf.npy", "Fortran"]);
    write_raw("q8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 8, 2, 32), }", &vec![0u8; n * 8]);
    assert_error(&run_with(&dir, "q8.npy", "k.npy", "v.npy", &[]), &["'<f8'"]);
    write_raw("qt.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 8, 2, 32), }", &vec![0u8; n * 4 - 3]);
    assert_error(&run_with(&dir, "qt.npy", "k.npy", "v.npy", &[]), &["truncated"]);
    std::fs::write(dir.join("junk.npy"), b"hello").unwrap();
    assert_error(&run_with(&dir, "junk.npy", "k.npy", "v.npy", &[]), &["not a .npy file"]);
}

#[test]
fn error_bad_arguments() {
    let dir = good_inputs("err_args");
    assert_error(&run_with(&dir, "q.npy", "k.npy", "v.npy", &["--scale", "inf"]), &["scale"]);
    assert_error(&run_with(&dir, "q.npy", "k.npy", "v.npy", &["--tier", "warp"]), &["warp"]);
    assert_error(&run_with(&dir, "q.npy", "k.npy", "v.npy", &["--adapter", "no-such-adapter-xyz"]), &["no-such-adapter-xyz"]);
    assert_error(&ringattn(&["run", "--q", "q.npy"]), &["--k"]);
    assert_error(&ringattn(&["frobnicate"]), &["frobnicate"]);
}

#[test]
fn unsupported_head_dim_is_an_error() {
    let dir = tmpdir("err_head_dim_48");
    let a = NpyArray { shape: vec![1, 4, 1, 48], data: NpyData::F32(random_vec(4 * 48, 9)) };
    for f in ["q.npy", "k.npy", "v.npy"] {
        ringattn::npy::write_npy(dir.join(f), &a).unwrap();
    }
    assert_error(&run_with(&dir, "q.npy", "k.npy", "v.npy", &[]), &["head_dim 48"]);
}

/// `--window`, `--global`, `--random-density` and `--block-mask` (union), with
/// `--causal` on top: the run's own check passes and O matches the f64 reference
/// under the element mask computed here from the definitions.
#[test]
fn run_with_block_masks() {
    let dir = tmpdir("masks");
    let sh = Shape::new(1, 150, 2, 32);
    let (q, k, v) = (random_vec(sh.q_len(), 11), random_vec(sh.kv_len(), 12), random_vec(sh.kv_len(), 13));
    let (qp, kp, vp, op) = (dir.join("q.npy"), dir.join("k.npy"), dir.join("v.npy"), dir.join("o.npy"));
    write_npy_f32(&qp, &sh.q_dims(), &q).unwrap();
    write_npy_f32(&kp, &sh.kv_dims(), &k).unwrap();
    write_npy_f32(&vp, &sh.kv_dims(), &v).unwrap();
    // 5 x 5 blocks of 32: keep the last key block for every query block.
    let keep: Vec<bool> = (0..25).map(|x| x % 5 == 4).collect();
    let mp = dir.join("m.npy");
    ringattn::npy::write_npy_bool(&mp, &[5, 5], &keep).unwrap();
    let base = ["run", "--q", s(&qp), "--k", s(&kp), "--v", s(&vp), "--out", s(&op), "--check"];
    let out = assert_ok(&ringattn(&[&base[..], &["--window", "10,3", "--global", "4", "--block-mask", s(&mp), "--block-size", "32"]].concat()));
    assert!(out.contains("mask: 5 x 5 blocks of 32 tokens") && out.contains("check: ok"), "{out}");
    // 21 of the 25 blocks are active, so rows of 4 blocks (128 queries) cost little more
    // work (BlockMask::tall_factor) and the kernels may run taller tiles over them.
    assert!(out.contains("rows merged by 4 (128 queries)"), "{out}");
    let r = reference::attention_masked(&q, &k, &v, &sh, None, |_, _, i, j| {
        let (i, j) = (i as i64, j as i64);
        (j >= i - 10 && j <= i + 3) || i < 4 || !(4..128).contains(&j)
    });
    let o = read_npy(&op).unwrap().to_f32_vec();
    assert!(rel_error(&o, &r.o) < 1e-5, "window|global|blocks: rel error {}", rel_error(&o, &r.o));

    let out = assert_ok(&ringattn(&[&base[..], &["--causal", "--random-density", "0.3", "--seed", "7", "--block-size", "16"]].concat()));
    assert!(out.contains("check: ok"), "{out}");

    // Errors: a block matrix of the wrong size, a bad window, a bad density.
    write_npy_f32(dir.join("bad.npy"), &[5, 5], &[1.0; 25]).unwrap();
    assert_error(&ringattn(&[&base[..], &["--block-mask", s(&dir.join("bad.npy")), "--block-size", "32"]].concat()), &["bool"]);
    ringattn::npy::write_npy_bool(dir.join("m4.npy"), &[4, 5], &[true; 20]).unwrap();
    assert_error(&ringattn(&[&base[..], &["--block-mask", s(&dir.join("m4.npy")), "--block-size", "32"]].concat()), &["--block-mask", "(5, 5)"]);
    assert_error(&ringattn(&[&base[..], &["--window", "x"]].concat()), &["token count"]);
    assert_error(&ringattn(&[&base[..], &["--random-density", "2"]].concat()), &["density"]);
    assert_error(&ringattn(&[&base[..], &["--global", "3", "--block-size", "48"]].concat()), &["block size"]);
}

/// `--dilated` (both modes): the run's own --check passes and the written O/LSE match
/// the f64 definition (`ringattn::dilated::reference`).
fn run_dilated(name: &str, sh: Shape, dtype: Dtype, dilated: &str, mode: &str, causal: bool) -> String {
    use ringattn::dilated::{reference as dilated_reference, DilatedOptions};
    let dir = tmpdir(name);
    let seed = reference::fresh_seed();
    let (q, k, v) = (random_vec(sh.q_len(), seed), random_vec(sh.kv_len(), seed ^ 1), random_vec(sh.kv_len(), seed ^ 2));
    let round = |x: &[f32]| -> Vec<f32> {
        match dtype {
            Dtype::F32 => x.to_vec(),
            Dtype::F16 => x.iter().map(|&a| f16::from_f32(a).to_f32()).collect(),
        }
    };
    let (q, k, v) = (round(&q), round(&k), round(&v));
    let (qp, kp, vp, op, lp) = (dir.join("q.npy"), dir.join("k.npy"), dir.join("v.npy"), dir.join("o.npy"), dir.join("lse.npy"));
    for (p, x, dims) in [(&qp, &q, sh.q_dims()), (&kp, &k, sh.kv_dims()), (&vp, &v, sh.kv_dims())] {
        match dtype {
            Dtype::F32 => write_npy_f32(p, &dims, x).unwrap(),
            Dtype::F16 => write_npy_f16(p, &dims, &x.iter().map(|&a| f16::from_f32(a)).collect::<Vec<_>>()).unwrap(),
        }
    }
    let mut args = vec!["run", "--q", s(&qp), "--k", s(&kp), "--v", s(&vp), "--out", s(&op), "--lse", s(&lp), "--check"];
    args.extend(["--dilated", dilated, "--dilated-mode", mode]);
    if causal {
        args.push("--causal");
    }
    let stdout = assert_ok(&ringattn(&args));
    assert!(stdout.contains("check: ok") && stdout.contains("pattern: dilated"), "{stdout}");
    let opts = DilatedOptions {
        dilation: dilated.parse().unwrap(),
        mode: mode.parse().unwrap(),
        attention: ringattn::AttentionOptions { causal, ..Default::default() },
    };
    let rows: Vec<usize> = (0..sh.seq_q).collect();
    let r = dilated_reference(&q, &k, &v, &sh, &opts, &rows).unwrap();
    let o_err = rel_error(&read_npy(&op).unwrap().to_f32_vec(), &r.o);
    let l_err = lse_max_abs_error(&read_npy(&lp).unwrap().to_f32_vec(), &r.lse);
    let (ot, lt) = if dtype == Dtype::F32 { (1e-5, 1e-4) } else { (5e-3, 1e-2) };
    assert!(o_err < ot && l_err < lt, "{name}: O {o_err:.3e}, LSE {l_err:.3e}\n{stdout}");
    stdout
}

#[test]
fn run_dilated_head_groups() {
    run_dilated("dilated_group", Shape::new(1, 48, 3, 32), Dtype::F32, "12,24,48:1,2,4", "group", false);
    run_dilated("dilated_group_causal", Shape::new(2, 32, 4, 32).with_kv_heads(2), Dtype::F32, "8,32:1,3", "group", true);
}

#[test]
fn run_dilated_mixture() {
    run_dilated("dilated_mixture", Shape::new(1, 40, 3, 32), Dtype::F32, "10,40:1,4", "mixture", true);
    if default_has_f16() {
        run_dilated("dilated_mixture_f16", Shape::new(1, 32, 2, 32), Dtype::F16, "16,32:2,4", "mixture", false);
    }
}

/// `--order`: O and LSE come back in the caller's order and equal plain attention.
#[test]
fn run_ordered() {
    for (name, order, shape) in [
        ("order_hilbert2d", "hilbert2d:5x7", Shape::new(1, 35, 2, 32)),
        ("order_zorder2d", "zorder2d:4x6", Shape::new(2, 24, 2, 32).with_kv_heads(1)),
        ("order_hilbert3d", "hilbert3d:2x3x5", Shape::new(1, 30, 2, 64)),
    ] {
        let extra = vec!["--order", order];
        let (o, l, out) = run_case(&Case { name, shape, file_dtype: Dtype::F32, extra, causal: false, scale: None });
        assert!(o < 1e-5 && l < 1e-4, "{order}: O {o}, LSE {l}");
        assert!(out.contains(&format!("pattern: order {order}")), "{out}");
    }
    // Causal stays causal in the caller's order (a block mask in the permuted order).
    let (o, _, _) = run_case(&Case {
        name: "order_causal",
        shape: Shape::new(1, 63, 2, 32),
        file_dtype: Dtype::F32,
        extra: vec!["--order", "hilbert2d:7x9"],
        causal: true,
        scale: None,
    });
    assert!(o < 1e-5, "causal in a Hilbert order: O {o}");
    // Mask options apply to positions along the order; causal stays in the caller's order.
    let dir = tmpdir("order_mask");
    let sh = Shape::new(1, 120, 2, 32);
    let seed = reference::fresh_seed();
    let (q, k, v) = (random_vec(sh.q_len(), seed), random_vec(sh.kv_len(), seed ^ 1), random_vec(sh.kv_len(), seed ^ 2));
    let (qp, kp, vp, op) = (dir.join("q.npy"), dir.join("k.npy"), dir.join("v.npy"), dir.join("o.npy"));
    write_npy_f32(&qp, &sh.q_dims(), &q).unwrap();
    write_npy_f32(&kp, &sh.kv_dims(), &k).unwrap();
    write_npy_f32(&vp, &sh.kv_dims(), &v).unwrap();
    let mut args = vec!["run", "--q", s(&qp), "--k", s(&kp), "--v", s(&vp), "--out", s(&op), "--check", "--causal"];
    args.extend(["--order", "hilbert2d:10x12", "--window", "20,7", "--global", "3", "--block-size", "16"]);
    let out = assert_ok(&ringattn(&args));
    assert!(out.contains("mask: 8 x 8 blocks of 16 tokens") && out.contains("check: ok"), "{out}");
    assert!(out.contains("rows merged by") || out.contains("rows not merged"), "{out}");
    let perm = "hilbert2d:10x12".parse::<ringattn::Order>().unwrap().permutation(120).unwrap();
    let at = perm.inverse(); // caller's position -> position along the curve
    let r = reference::attention_masked(&q, &k, &v, &sh, None, |_, _, i, j| {
        let (pi, pj) = (at[i] as i64, at[j] as i64);
        j <= i && ((pj >= pi - 20 && pj <= pi + 7) || pi < 3 || pj < 3)
    });
    let err = rel_error(&read_npy(&op).unwrap().to_f32_vec(), &r.o);
    assert!(err < 1e-5, "--order with a window along the curve: rel error {err}");
    // The natural order is plain attention, causal included.
    let (o, _, _) = run_case(&Case {
        name: "order_natural",
        shape: Shape::new(1, 20, 2, 32),
        file_dtype: Dtype::F32,
        extra: vec!["--order", "natural"],
        causal: true,
        scale: None,
    });
    assert!(o < 1e-5);
}

#[test]
fn error_dilated_and_order_arguments() {
    let dir = good_inputs("err_dilated_order"); // seq 8, 2 heads
    let run = |extra: &[&str]| run_with(&dir, "q.npy", "k.npy", "v.npy", extra);
    assert_error(&run(&["--dilated", "3:1"]), &["multiple of segment length 3"]);
    assert_error(&run(&["--dilated", "2,4,8:1,2,4"]), &["2 heads", "groups"]);
    assert_error(&run(&["--dilated", "4:8"]), &["larger than its segment length"]);
    assert_error(&run(&["--dilated", "4,8:1"]), &["2 segment lengths but 1 dilation rates"]);
    assert_error(&run(&["--dilated", "4x8"]), &["--dilated"]);
    assert_error(&run(&["--dilated-mode", "mixture"]), &["--dilated"]);
    assert_error(&run(&["--dilated", "4:1", "--dilated-mode", "spiral"]), &["spiral"]);
    assert_error(&run(&["--order", "hilbert2d:3x3"]), &["9 tokens", "8"]);
    assert_error(&run(&["--order", "spiral:2x4"]), &["spiral"]);
    assert_error(&run(&["--order", "zorder2d:2x4", "--dilated", "4:1"]), &["--order"]);
    assert_error(&run(&["--dilated", "4:1", "--devices", "logical:2"]), &["--devices"]);
    assert_error(&run(&["--dilated", "4:1", "--window", "2"]), &["--dilated"]);
    assert!(!dir.join("o.npy").exists(), "no output on error");
}

/// `RINGATTN_DUMP_WGSL=DIR` writes every shader the library compiles, its defines in a
/// first comment line, as WGSL that parses and validates again (what
/// `examples/pipeline_stats.rs` reads).
#[test]
fn dump_wgsl_writes_the_compiled_shaders() {
    let dir = tmpdir("dump_wgsl");
    let out = dir.join("wgsl");
    let sh = Shape::new(1, 20, 2, 32);
    let x = random_vec(sh.q_len(), reference::fresh_seed());
    let p = dir.join("x.npy");
    write_npy_f32(&p, &sh.q_dims(), &x).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ringattn"))
        .args(["run", "--q", s(&p), "--k", s(&p), "--v", s(&p), "--out", s(&dir.join("o.npy")), "--check"])
        .env("RINGATTN_DUMP_WGSL", &out)
        .output()
        .unwrap();
    assert_ok(&o);
    let files: Vec<PathBuf> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!files.is_empty(), "nothing written to {}", out.display());
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        assert!(src.starts_with("// flash_") || src.starts_with("// merge"), "{}: {}", f.display(), src.lines().next().unwrap_or(""));
        let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{}: {}", f.display(), e.emit_to_string(&src)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {}", f.display(), e.emit_to_string(&src)));
    }
}
