//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod cli;

use ringattn::kernels::flash::{self, CausalFrame, FlashArgs, Prepared};
use ringattn::mask::BlockMask;
use ringattn::{reference, Attention, AttentionOptions, Dtype, GpuContext, GpuTensor, LseBuffer, Shape, Tier};

/// Every adapter the tests can use (Vulkan lavapipe, GL llvmpipe, real GPUs), one
/// context each. Adapters that fail to give a device are reported and skipped.
pub fn contexts() -> Vec<GpuContext> {
    let mut adapters = ringattn::context::enumerate_adapters();
    adapters.retain(|a| a.get_info().backend != wgpu::Backend::Noop);
    ringattn::context::sort_adapters(&mut adapters);
    let mut out = Vec::new();
    for a in adapters {
        let desc = ringattn::context::describe_adapter(&a.get_info());
        match GpuContext::from_adapter(a) {
            Ok(c) => out.push(c),
            Err(e) => eprintln!("skipping adapter {desc}: {e}"),
        }
    }
    assert!(!out.is_empty(), "no adapter found: install mesa-vulkan-drivers");
    out
}

/// One context on the default adapter.
pub fn ctx() -> GpuContext {
    GpuContext::new().expect("no adapter: install mesa-vulkan-drivers")
}

pub struct Case {
    pub shape: Shape,
    pub dtype: Dtype,
    pub causal: bool,
    pub scale: Option<f32>,
    pub tier: Tier,
}

/// Runs one case on the GPU with poisoned outputs and returns (rel error of O,
/// max abs error of LSE). Inputs are fresh random values.
pub fn run_case(ctx: &GpuContext, c: &Case) -> (f64, f64) {
    let out = run_case_seeded(ctx, c, reference::fresh_seed());
    (out.err_o, out.err_lse)
}

pub fn tol(dtype: Dtype) -> f64 {
    match dtype {
        Dtype::F32 => 1e-5,
        Dtype::F16 => 5e-3,
    }
}

/// Tolerance of the LSE max abs error.
pub fn lse_tol(dtype: Dtype) -> f64 {
    match dtype {
        Dtype::F32 => 1e-4,
        Dtype::F16 => 1e-2,
    }
}

/// Everything one GPU run produced, with the f64 reference and the input seed.
pub struct CaseOutput {
    pub seed: u64,
    pub o: Vec<f32>,
    pub lse: Vec<f32>,
    pub reference: reference::RefOutput,
    /// Rel error of O and max abs error of LSE.
    pub err_o: f64,
    pub err_lse: f64,
}

/// Like [`run_case`] but with a given input seed, returning the raw outputs too.
pub fn run_case_seeded(ctx: &GpuContext, c: &Case, seed: u64) -> CaseOutput {
    let s = c.shape;
    let q = reference::random_vec(s.q_len(), seed);
    let k = reference::random_vec(s.kv_len(), seed ^ 0x11);
    let v = reference::random_vec(s.kv_len(), seed ^ 0x22);
    let qt = GpuTensor::from_f32(ctx, &q, s.q_dims(), c.dtype).unwrap();
    let kt = GpuTensor::from_f32(ctx, &k, s.kv_dims(), c.dtype).unwrap();
    let vt = GpuTensor::from_f32(ctx, &v, s.kv_dims(), c.dtype).unwrap();
    let attn = Attention::new(ctx, AttentionOptions { causal: c.causal, scale: c.scale, tier: Some(c.tier) });
    let out = attn.alloc_output(&qt, &kt, &vt).unwrap();
    out.o.poison(ctx).unwrap();
    out.lse.poison(ctx).unwrap();
    attn.forward_into(&qt, &kt, &vt, &out.o, &out.lse).unwrap();
    let o = out.o.to_f32_vec(ctx).unwrap();
    let lse = out.lse.to_vec(ctx).unwrap();
    // The reference sees exactly the values the GPU saw (f16 inputs are rounded).
    let (q, k, v) = (qt.to_f32_vec(ctx).unwrap(), kt.to_f32_vec(ctx).unwrap(), vt.to_f32_vec(ctx).unwrap());
    let r = reference::attention(&q, &k, &v, &s, c.causal, c.scale);
    let err_o = reference::rel_error(&o, &r.o);
    let err_lse = reference::lse_max_abs_error(&lse, &r.lse);
    CaseOutput { seed, o, lse, reference: r, err_o, err_lse }
}

impl Case {
    /// One line naming everything needed to rerun the case.
    pub fn describe(&self) -> String {
        let s = &self.shape;
        format!(
            "b={} nq={} nk={} h={} kvh={} d={} {:?} causal={} scale={:?} tier={}",
            s.batch, s.seq_q, s.seq_k, s.heads, s.kv_heads, s.head_dim, self.dtype, self.causal, self.scale, self.tier
        )
    }
}

/// Runs a case with a fresh seed and checks O and LSE against the tolerances.
/// Err carries a description of the failure (adapter, case, seed, errors).
pub fn check_case(ctx: &GpuContext, c: &Case) -> Result<CaseOutput, String> {
    let r = run_case_seeded(ctx, c, reference::fresh_seed());
    if r.err_o < tol(c.dtype) && r.err_lse < lse_tol(c.dtype) {
        Ok(r)
    } else {
        Err(format!(
            "{}: {} seed={:#x}: rel err O {:.3e} (tol {:.0e}), LSE max abs err {:.3e} (tol {:.0e})",
            label(ctx),
            c.describe(),
            r.seed,
            r.err_o,
            tol(c.dtype),
            r.err_lse,
            lse_tol(c.dtype)
        ))
    }
}

/// Serializes use of GL adapters across the test threads of one binary.
///
/// wgpu's GL backend holds one lock on the GL context for every call, and a thread
/// that waits more than a few seconds for it panics ("Could not lock adapter context.
/// This is most-likely a deadlock.", wgpu-hal `AdapterContext::lock`). On llvmpipe a
/// shader compile or dispatch can hold the context that long, so tests that share a GL
/// context take this guard around each use. `None` for other backends.
pub fn gl_guard(ctx: &GpuContext) -> Option<std::sync::MutexGuard<'static, ()>> {
    static GL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    (ctx.info().backend == wgpu::Backend::Gl).then(|| GL.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Adapter name and backend (Vulkan and GL llvmpipe share a name).
pub fn label(ctx: &GpuContext) -> String {
    format!("{} ({:?})", ctx.name(), ctx.info().backend)
}

/// The head dims the tests sweep: every supported one, or the subset listed in
/// `RINGATTN_TEST_HEAD_DIMS` (comma separated; for quick local iterations only).
pub fn head_dims() -> Vec<usize> {
    match std::env::var("RINGATTN_TEST_HEAD_DIMS") {
        Ok(v) if !v.trim().is_empty() => {
            let dims: Vec<usize> = v.split(',').map(|x| x.trim().parse().expect("RINGATTN_TEST_HEAD_DIMS: comma-separated integers")).collect();
            for d in &dims {
                assert!(ringattn::SUPPORTED_HEAD_DIMS.contains(d), "RINGATTN_TEST_HEAD_DIMS: {d} is not supported");
            }
            static NOTE: std::sync::Once = std::sync::Once::new();
            NOTE.call_once(|| eprintln!("note: RINGATTN_TEST_HEAD_DIMS restricts head dims to {dims:?}"));
            dims
        }
        _ => ringattn::SUPPORTED_HEAD_DIMS.to_vec(),
    }
}

/// One masked-attention case of [`check_masked`].
pub struct MaskCase {
    pub shape: Shape,
    pub dtype: Dtype,
    pub tier: Tier,
    pub block: usize,
    pub causal: bool,
}

/// Runs masked attention with poisoned outputs and V = NaN on every key no query
/// visits, and compares with the f64 reference under `mask.allows` (and causal).
pub fn check_masked(ctx: &GpuContext, c: &MaskCase, name: &str, mask: &BlockMask) -> Result<(), String> {
    check_masked_with(ctx, c, name, mask, None)
}

/// [`check_masked`] through `prep` (a block-sparse pipeline built explicitly, launched by
/// `flash::encode`) where given, else through `Attention` with the case's tier.
pub fn check_masked_with(ctx: &GpuContext, c: &MaskCase, name: &str, mask: &BlockMask, prep: Option<&Prepared>) -> Result<(), String> {
    let s = c.shape;
    let seed = reference::fresh_seed();
    let q = reference::random_vec(s.q_len(), seed);
    let k = reference::random_vec(s.kv_len(), seed ^ 0x11);
    let mut v = reference::random_vec(s.kv_len(), seed ^ 0x22);
    // Keys in blocks that no (head, query block) lists must never be read: NaN there
    // would reach O through 0 * NaN if a kernel visited them.
    let group = s.heads / s.kv_heads;
    let poison_v = c.block >= 64;
    if poison_v {
        for kb in 0..mask.k_blocks() {
            let used = (0..s.heads).any(|h| (0..mask.q_blocks()).any(|qb| mask.row(h, qb).any(|(b, _)| b == kb)));
            if !used {
                for j in kb * c.block..((kb + 1) * c.block).min(s.seq_k) {
                    for b in 0..s.batch {
                        for kh in 0..s.kv_heads {
                            let base = ((b * s.seq_k + j) * s.kv_heads + kh) * s.head_dim;
                            v[base..base + s.head_dim].fill(f32::NAN);
                        }
                    }
                }
            }
        }
    }
    let qt = GpuTensor::from_f32(ctx, &q, s.q_dims(), c.dtype).unwrap();
    let kt = GpuTensor::from_f32(ctx, &k, s.kv_dims(), c.dtype).unwrap();
    let vt = GpuTensor::from_f32(ctx, &v, s.kv_dims(), c.dtype).unwrap();
    let attn = Attention::new(ctx, AttentionOptions { causal: c.causal, scale: None, tier: Some(c.tier) });
    let gm = mask.upload(ctx).map_err(|e| e.to_string())?;
    let out = attn.alloc_output(&qt, &kt, &vt).unwrap();
    out.o.poison(ctx).unwrap();
    out.lse.poison(ctx).unwrap();
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    match prep {
        None => attn.encode_with(&mut enc, &qt, &kt, &vt, &out.o, &out.lse, Some(&gm), None).map_err(|e| format!("{name}: {e}"))?,
        Some(prep) => {
            let frame = CausalFrame::bottom_right(s.seq_q, s.seq_k);
            let scale = 1.0 / (s.head_dim as f32).sqrt();
            let args =
                FlashArgs { q: &qt, k: &kt, v: &vt, o: &out.o, lse: &out.lse, scale, causal: c.causal.then_some(frame), mask: Some((&gm, frame)) };
            let mut pass = enc.begin_compute_pass(&Default::default());
            flash::encode(ctx, &mut pass, prep, &args).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    ctx.queue().submit([enc.finish()]);
    let o = out.o.to_f32_vec(ctx).unwrap();
    let lse = out.lse.to_vec(ctx).unwrap();
    let (q, k, v) = (qt.to_f32_vec(ctx).unwrap(), kt.to_f32_vec(ctx).unwrap(), vt.to_f32_vec(ctx).unwrap());
    let diag = s.seq_k as i64 - s.seq_q as i64;
    let r = reference::attention_masked(&q, &k, &v, &s, None, |_, h, i, j| mask.allows(h, i, j) && (!c.causal || j as i64 <= i as i64 + diag));
    let _ = group;
    let nan = o.iter().any(|x| x.is_nan()) || lse.iter().any(|x| x.is_nan());
    let (eo, el) = (reference::rel_error(&o, &r.o), reference::lse_max_abs_error(&lse, &r.lse));
    if nan || !reference::within(eo, tol(c.dtype)) || !reference::within(el, lse_tol(c.dtype)) {
        return Err(format!(
            "{}: mask `{name}` (block {}, density {:.2}) b={} nq={} nk={} h={} kvh={} d={} {:?} {} causal={} seed={seed:#x}: NaN {nan}, rel err O {eo:.3e}, LSE err {el:.3e}",
            label(ctx),
            c.block,
            mask.density(),
            s.batch,
            s.seq_q,
            s.seq_k,
            s.heads,
            s.kv_heads,
            s.head_dim,
            c.dtype,
            c.tier,
            c.causal
        ));
    }
    Ok(())
}

/// Runs one prepared flash pipeline (an explicit tile configuration) on fresh random
/// inputs with poisoned outputs and checks O and LSE against the f64 reference (NaN
/// anywhere fails). Err names the adapter, case, seed and errors.
pub fn check_prepared(ctx: &GpuContext, prep: &Prepared, dtype: Dtype, s: Shape, causal: bool) -> Result<(), String> {
    check_prepared_rising(ctx, prep, dtype, s, causal, 0.0)
}

/// [`check_prepared`] with scores that rise along the keys: key j's row of K is scaled
/// by 1 + rise * j / seq_k (rise 30: a row's max climbs ~40 log2 units past its first
/// tiles', so the kernels' rescale paths run).
pub fn check_prepared_rising(ctx: &GpuContext, prep: &Prepared, dtype: Dtype, s: Shape, causal: bool, rise: f32) -> Result<(), String> {
    let seed = reference::fresh_seed();
    let t = |dims, h: Vec<f32>| GpuTensor::from_f32(ctx, &h, dims, dtype).unwrap();
    let mut kh = reference::random_vec(s.kv_len(), seed ^ 1);
    let row = s.kv_heads * s.head_dim;
    for (j, e) in kh.iter_mut().enumerate() {
        *e *= 1.0 + rise * (j / row) as f32 / s.seq_k as f32;
    }
    let (q, k, v) =
        (t(s.q_dims(), reference::random_vec(s.q_len(), seed)), t(s.kv_dims(), kh), t(s.kv_dims(), reference::random_vec(s.kv_len(), seed ^ 2)));
    let o = GpuTensor::empty(ctx, s.q_dims(), dtype).unwrap();
    let lse = LseBuffer::empty(ctx, s.lse_dims()).unwrap();
    o.poison(ctx).unwrap();
    lse.poison(ctx).unwrap();
    let args = FlashArgs {
        q: &q,
        k: &k,
        v: &v,
        o: &o,
        lse: &lse,
        scale: 1.0 / (s.head_dim as f32).sqrt(),
        causal: causal.then(|| CausalFrame::bottom_right(s.seq_q, s.seq_k)),
        mask: None,
    };
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        flash::encode(ctx, &mut pass, prep, &args).map_err(|e| e.to_string())?;
    }
    ctx.queue().submit([enc.finish()]);
    let (ov, lv) = (o.to_f32_vec(ctx).unwrap(), lse.to_vec(ctx).unwrap());
    let (qh, kh, vh) = (q.to_f32_vec(ctx).unwrap(), k.to_f32_vec(ctx).unwrap(), v.to_f32_vec(ctx).unwrap());
    let r = reference::attention(&qh, &kh, &vh, &s, causal, None);
    let nan = ov.iter().any(|x| x.is_nan()) || lv.iter().any(|x| x.is_nan());
    let (eo, el) = (reference::rel_error(&ov, &r.o), reference::lse_max_abs_error(&lv, &r.lse));
    if nan || !reference::within(eo, tol(dtype)) || !reference::within(el, lse_tol(dtype)) {
        return Err(format!("{} {dtype:?} {s:?} causal={causal} rise={rise} seed={seed:#x}: NaN {nan}, O {eo:.2e}, LSE {el:.2e}", label(ctx)));
    }
    Ok(())
}

/// Runs the test `name` of this test binary in a child process with `vars` set, and
/// asserts that it passed: tests that need environment variables run this way, so the
/// parent never calls `set_var` while other test threads (and the Vulkan/GL drivers)
/// read the environment. The child test returns early unless [`is_child`].
pub fn run_child(name: &str, vars: &[(&str, &str)]) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"]).env("RINGATTN_TEST_CHILD", "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("spawn child test");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "child test {name} with {vars:?} failed:\n{text}");
}

/// Whether this process is a child test started by [`run_child`].
pub fn is_child() -> bool {
    std::env::var_os("RINGATTN_TEST_CHILD").is_some()
}
