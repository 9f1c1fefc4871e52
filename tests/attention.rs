//! Attention against the f64 CPU reference on every adapter wgpu finds (lavapipe's
//! Vulkan and llvmpipe's GL in CI), every tier the adapter runs for the dtype and
//! head_dim, f32 and (where the adapter has SHADER_F16) f16.
//!
//! Outputs are poisoned with NaN before each run (see `common::run_case_seeded`);
//! tolerances: rel error of O < 1e-5 (f32) / 5e-3 (f16), LSE max abs error
//! < 1e-4 (f32) / 1e-2 (f16). Every failure message carries the adapter, the case
//! and the input seed.
//!
//! GL gets a smaller set of cases: llvmpipe's GL driver is slow, above all to compile
//! (see `gl_head_dims`), and GL use is serialized (`common::gl_guard`).
//!
//! `RINGATTN_TEST_HEAD_DIMS=32,64` restricts the head dims for quick local runs.

mod common;

use std::sync::OnceLock;

use common::Case;
use proptest::prelude::*;
use ringattn::attention::resolve_tier;
use ringattn::{Dtype, GpuContext, Shape, Tier, SUPPORTED_HEAD_DIMS};

fn contexts() -> &'static [GpuContext] {
    static CTX: OnceLock<Vec<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| {
        let v = common::contexts();
        for c in &v {
            eprintln!("adapter: {} (f16: {}, tiers: {:?})", c.describe(), c.capabilities().shader_f16, c.capabilities().tiers());
        }
        v
    })
}

fn is_gl(ctx: &GpuContext) -> bool {
    ctx.info().backend == wgpu::Backend::Gl
}

/// Head dims a GL adapter is tested with. llvmpipe's GL driver compiles the portable
/// kernel slowly (cold Mesa shader cache, Mesa 22.3, 2 cores: with the kernel of
/// 2026-11-26 34 s at head_dim 32, 241 s at 64, 399 s at 128; with the kernel of
/// 2026-11-28, rows over two invocations, 13 s at 64 and 45 s at 128 for one build, 31 s
/// and 51 s for a causal build and its transposed twin; Vulkan lavapipe needs 1-6 s for
/// any), so on a CPU GL adapter head_dims 32 and 64 run (64: a row over two invocations,
/// as at 80-128; `RINGATTN_TEST_GL_DIMS=1`: every head dim, for local checks); other GL
/// adapters get every head dim.
fn gl_head_dims(ctx: &GpuContext) -> Vec<usize> {
    let all = common::head_dims();
    if ctx.info().device_type == wgpu::DeviceType::Cpu && std::env::var("RINGATTN_TEST_GL_DIMS").as_deref() != Ok("1") {
        all.into_iter().filter(|&d| d == 32 || d == 64).collect()
    } else {
        all
    }
}

/// Whether `d` runs on this adapter in these tests.
fn dim_ok(ctx: &GpuContext, d: usize) -> bool {
    if is_gl(ctx) {
        gl_head_dims(ctx).contains(&d)
    } else {
        common::head_dims().contains(&d)
    }
}

fn dtypes(ctx: &GpuContext) -> Vec<Dtype> {
    if ctx.capabilities().shader_f16 {
        vec![Dtype::F32, Dtype::F16]
    } else {
        vec![Dtype::F32]
    }
}

/// Tiers of the adapter that actually run (dtype, head_dim): those `resolve_tier` maps
/// to themselves. The others are returned second, to be reported as skipped.
fn tiers(ctx: &GpuContext, dtype: Dtype, d: usize) -> (Vec<Tier>, Vec<Tier>) {
    ctx.capabilities().tiers().into_iter().partition(|&t| resolve_tier(ctx, Some(t), dtype, d).expect("resolve_tier") == t)
}

/// Collects results of many cases; panics at the end with all failures.
#[derive(Default)]
struct Report {
    ran: usize,
    failures: Vec<String>,
    skipped: std::collections::BTreeSet<String>,
    adapters: std::collections::BTreeSet<String>,
    seconds: std::collections::BTreeMap<String, f64>,
    skipped_dims: std::collections::BTreeSet<String>,
}

impl Report {
    /// Runs `shape` with `causal`/`scale` for each dtype the adapter has (filtered by
    /// `want`) and each tier that runs it. Returns the outputs of the runs.
    fn run(&mut self, ctx: &GpuContext, shape: Shape, causal: bool, scale: Option<f32>, want: &[Dtype]) -> Vec<(Case, common::CaseOutput)> {
        let mut outs = Vec::new();
        let _gl = common::gl_guard(ctx);
        self.adapters.insert(ctx.describe());
        for dtype in dtypes(ctx) {
            if !want.contains(&dtype) {
                continue;
            }
            let (run, skip) = tiers(ctx, dtype, shape.head_dim);
            for t in skip {
                self.skipped.insert(format!("{} on {} for {dtype:?} d={}", t, common::label(ctx), shape.head_dim));
            }
            for tier in run {
                let case = Case { shape, dtype, causal, scale, tier };
                self.ran += 1;
                let t0 = std::time::Instant::now();
                // A library error or panic inside one case becomes a failure naming the case.
                let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| common::check_case(ctx, &case))).unwrap_or_else(|p| {
                    let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
                    Err(format!("{}: {}: panicked: {msg}", common::label(ctx), case.describe()))
                });
                let dt = t0.elapsed().as_secs_f64();
                *self.seconds.entry(ctx.describe()).or_default() += dt;
                if dt > 2.0 {
                    eprintln!("slow: {:.1} s on {:?}: {}", dt, ctx.info().backend, case.describe());
                }
                match res {
                    Ok(o) => outs.push((case, o)),
                    Err(msg) => {
                        eprintln!("FAIL {msg}");
                        self.failures.push(msg);
                    }
                }
            }
        }
        outs
    }

    fn finish(self, test: &str) {
        eprintln!("{test}: {} runs on {:?}", self.ran, self.adapters);
        for (a, t) in &self.seconds {
            eprintln!("{test}: {t:.1} s on {a}");
        }
        for s in &self.skipped {
            eprintln!("{test}: skipped tier {s} (resolve_tier lowers it)");
        }
        for s in &self.skipped_dims {
            eprintln!("{test}: skipped {s} (see gl_head_dims)");
        }
        // (RINGATTN_TEST_HEAD_DIMS may leave a test nothing to run.)
        assert!(self.ran > 0 || common::head_dims().len() < SUPPORTED_HEAD_DIMS.len(), "{test}: nothing ran");
        assert!(self.failures.is_empty(), "{test}: {} of {} runs failed:\n{}", self.failures.len(), self.ran, self.failures.join("\n"));
    }
}

const ALL: &[Dtype] = &[Dtype::F32, Dtype::F16];

fn shape(batch: usize, seq_q: usize, seq_k: usize, heads: usize, kv_heads: usize, head_dim: usize) -> Shape {
    Shape { batch, seq_q, seq_k, heads, kv_heads, head_dim }
}

/// Every head_dim, dtype and mask on one GQA shape whose lengths are not tile multiples.
#[test]
fn every_head_dim() {
    let mut r = Report::default();
    for ctx in contexts() {
        for d in common::head_dims() {
            if !dim_ok(ctx, d) {
                r.skipped_dims.insert(format!("head_dim {d} on {}", common::label(ctx)));
                continue;
            }
            for causal in [false, true] {
                if is_gl(ctx) {
                    r.run(ctx, shape(1, 37, 45, 2, 1, d), causal, None, ALL);
                } else {
                    r.run(ctx, shape(2, 37, 53, 4, 2, d), causal, None, ALL);
                }
            }
        }
    }
    r.finish("every_head_dim");
}

#[test]
fn single_token() {
    let mut r = Report::default();
    for ctx in contexts() {
        let dims: &[usize] = if is_gl(ctx) { &[32] } else { &[32, 64, 256] };
        for &d in dims.iter().filter(|&&d| dim_ok(ctx, d)) {
            for causal in [false, true] {
                r.run(ctx, shape(1, 1, 1, 1, 1, d), causal, None, ALL);
                // One query against many keys (decode), and many queries against one key.
                r.run(ctx, shape(1, 1, 70, 2, 1, d), causal, None, ALL);
                if !is_gl(ctx) {
                    r.run(ctx, shape(1, 9, 1, 2, 2, d), causal, None, ALL);
                }
            }
        }
    }
    r.finish("single_token");
}

/// Causal with seq_q > seq_k: the first seq_q - seq_k query rows see no key and must
/// give exactly O = 0 and LSE = -inf (never NaN); the rest match the reference.
#[test]
fn causal_more_queries_than_keys() {
    let mut r = Report::default();
    let mut bad = Vec::new();
    for ctx in contexts() {
        let dims: &[usize] = if is_gl(ctx) { &[32] } else { &[32, 96, 256] };
        for &d in dims.iter().filter(|&&d| dim_ok(ctx, d)) {
            let s = shape(2, 50, 20, 4, 2, d);
            for (case, out) in r.run(ctx, s, true, None, ALL) {
                let masked = s.seq_q - s.seq_k;
                for b in 0..s.batch {
                    for h in 0..s.heads {
                        for i in 0..s.seq_q {
                            let lse = out.lse[(b * s.heads + h) * s.seq_q + i];
                            let o0 = ((b * s.seq_q + i) * s.heads + h) * d;
                            let o = &out.o[o0..o0 + d];
                            if i < masked {
                                if lse != f32::NEG_INFINITY || o.iter().any(|&x| x != 0.0) {
                                    bad.push(format!(
                                        "{}: {}: fully masked row b={b} h={h} i={i}: LSE {lse}, O[..4] {:?}",
                                        common::label(ctx),
                                        case.describe(),
                                        &o[..4]
                                    ));
                                }
                            } else if !lse.is_finite() {
                                bad.push(format!("{}: {}: row b={b} h={h} i={i} has keys but LSE {lse}", common::label(ctx), case.describe()));
                            }
                        }
                    }
                }
            }
        }
    }
    r.failures.extend(bad.into_iter().take(20));
    r.finish("causal_more_queries_than_keys");
}

/// Decode shapes: a few query rows against a K/V cache of at least
/// `flash::DECODE_MIN_KEYS` keys (not a tile multiple), GQA (the query heads of a K/V
/// head packed into one workgroup's rows, `flash::gqa_fold`), causal and not. Launches
/// of that shape (`flash::is_decode`) stream K/V through `flash_decode.wgsl` on the
/// subgroup tier where it fits, whatever the adapter's best tier, and split their keys
/// on a GPU, which this checks through `Attention::plan` too.
#[test]
fn decode_shapes() {
    use ringattn::kernels::flash;
    use ringattn::{Attention, AttentionOptions};
    let mut r = Report::default();
    for ctx in contexts() {
        // (llvmpipe's GL driver runs 1100 keys slowly; its tier is portable, which
        // lavapipe's Vulkan runs here too.)
        if is_gl(ctx) && ctx.info().device_type == wgpu::DeviceType::Cpu {
            continue;
        }
        for d in [64, 128].into_iter().filter(|&d| dim_ok(ctx, d)) {
            for (q, causal) in [(1, false), (5, true)] {
                let s = shape(2, q, flash::DECODE_MIN_KEYS + 76, 4, 2, d);
                assert!(flash::is_decode(&s));
                r.run(ctx, s, causal, None, ALL);
            }
        }
        let gpu = ctx.info().device_type != wgpu::DeviceType::Cpu;
        let attn = Attention::new(ctx, AttentionOptions::default());
        let s = shape(1, 1, 16384, 32, 8, 128);
        let env_free = [
            "RINGATTN_SMALL_GRID",
            "RINGATTN_MATRIX_CFG",
            "RINGATTN_KEY_SPLITS",
            "RINGATTN_TIER",
            "RINGATTN_GQA_PACK",
            "RINGATTN_DECODE_STREAM",
            "RINGATTN_SUBGROUP_CFG",
        ]
        .iter()
        .all(|v| std::env::var_os(v).is_none());
        if env_free && ctx.capabilities().tiers().contains(&Tier::Subgroup) {
            assert_eq!(flash::gqa_fold(&s), 4);
            // Where flash_decode.wgsl fits, decode calls of either dtype stream K/V on the
            // subgroup tier (leaving the matrix tier, if any), in key parts on a GPU.
            for dtype in dtypes(ctx) {
                if flash::decode_stream_for(ctx, dtype, &s).is_none() {
                    continue;
                }
                let (tier, tiles, parts) = attn.plan(dtype, &s, None).unwrap();
                assert!(
                    tier == Tier::Subgroup && tiles.variant == flash::SgVariant::Decode && tiles.bq == 4 && (parts > 1 || !gpu),
                    "{}: {dtype:?} decode plan {tier} {tiles:?} in {parts} parts",
                    common::label(ctx)
                );
            }
        }
    }
    r.finish("decode_shapes");
}

/// The shuffle kernel at its decode tiles' geometry (`flash::shuffle_decode_config`: two
/// row groups of r lanes, r = `flash::shuffle_decode_lanes`, 4 rows each, 16-key tiles;
/// the library takes them on GPUs whose workgroup of 2 r lanes is a multiple of 32, and
/// builds them here with the adapter's own r, so lavapipe runs them too) with the build
/// options the library gives them, on decode shapes whose packed rows fill one row group
/// (one token, 4 query heads per K/V head) or both (two tokens), causal and not, f32 and
/// f16, against the f64 reference; outputs poisoned first.
#[test]
fn shuffle_decode_tiles_match_reference() {
    use ringattn::kernels::flash::{prepare_subgroup_with, shuffle_decode_lanes, SgVariant, TileConfig};
    let mut failures = Vec::new();
    let mut ran = 0;
    for ctx in contexts().iter().filter(|c| !is_gl(c) && c.capabilities().tiers().contains(&Tier::Subgroup)) {
        for dtype in dtypes(ctx) {
            for d in [32, 64, 128] {
                let r = shuffle_decode_lanes(d, ctx.capabilities().subgroup_min_size);
                let cfg = TileConfig { bq: 8, bk: 16, r, variant: SgVariant::Shuffle, mq: 0, w: 0, m: 4 };
                let prep = prepare_subgroup_with(ctx, dtype, d, cfg).unwrap();
                for (q, causal) in [(1, false), (2, true)] {
                    let s = shape(2, q, ringattn::kernels::flash::DECODE_MIN_KEYS + 37, 8, 2, d);
                    ran += 1;
                    if let Err(e) = common::check_prepared(ctx, &prep, dtype, s, causal) {
                        failures.push(format!("{} r={r} d={d} q={q} causal={causal}: {e}", common::label(ctx)));
                    }
                }
            }
        }
    }
    eprintln!("{ran} decode-tile cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `flash_decode.wgsl` (decode launches on the subgroup tier: K/V streamed into
/// registers) at the tiles the library gives each adapter, every head_dim it takes (32,
/// 64, 128, 256), one to eight packed rows per K/V head (1 or 2 tokens of 1, 4, 6, 7 or
/// 8 query heads per K/V head: one query tile, or two, the last one short), a ragged
/// last step of keys, causal and not, scores rising
/// along the keys (so the rescale runs), f32 and f16, against the f64 reference; outputs
/// poisoned first. One launch over all keys unless the driver caps loop iterations
/// (lavapipe: chunks resumed in accumulate mode, which the kernel's merge folds in).
#[test]
fn decode_stream_matches_reference() {
    use ringattn::kernels::flash::{decode_stream_config, prepare_decode_stream, DECODE_MIN_KEYS};
    let mut failures = Vec::new();
    let mut ran = 0;
    for ctx in contexts().iter().filter(|c| !is_gl(c) && c.capabilities().tiers().contains(&Tier::Subgroup)) {
        for dtype in dtypes(ctx) {
            for d in [32, 64, 128, 256] {
                let cases =
                    [(1, 4, 4, false), (1, 8, 2, true), (2, 8, 2, false), (1, 16, 2, true), (2, 4, 4, true), (1, 12, 2, false), (1, 14, 2, true)];
                for (q, heads, kv_heads, causal) in cases {
                    let rows = q * heads / kv_heads;
                    let Some(cfg) = decode_stream_config(ctx, dtype, d, rows) else {
                        continue;
                    };
                    let prep = prepare_decode_stream(ctx, dtype, d, cfg).unwrap();
                    let s = shape(2, q, DECODE_MIN_KEYS + 37, heads, kv_heads, d);
                    ran += 1;
                    if let Err(e) = common::check_prepared_rising(ctx, &prep, dtype, s, causal, 30.0) {
                        failures.push(format!("{} {} d={d} rows={rows} causal={causal}: {e}", common::label(ctx), cfg.describe(Tier::Subgroup)));
                    }
                }
            }
        }
    }
    eprintln!("{ran} decode-stream cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Causal with seq_q < seq_k (bottom-right aligned) and the tile edges around it.
#[test]
fn causal_fewer_queries_than_keys() {
    let mut r = Report::default();
    for ctx in contexts() {
        if is_gl(ctx) {
            if dim_ok(ctx, 32) {
                r.run(ctx, shape(1, 20, 67, 2, 2, 32), true, None, ALL);
            }
            continue;
        }
        for &(nq, nk, d) in &[(20, 67, 64), (20, 67, 128), (63, 65, 80), (64, 64, 32), (65, 66, 96), (17, 70, 256)] {
            if !dim_ok(ctx, d) {
                continue;
            }
            r.run(ctx, shape(1, nq, nk, 2, 1, d), true, None, ALL);
        }
    }
    r.finish("causal_fewer_queries_than_keys");
}

#[test]
fn batch_of_three() {
    let mut r = Report::default();
    for ctx in contexts() {
        if is_gl(ctx) {
            if dim_ok(ctx, 32) {
                r.run(ctx, shape(3, 33, 41, 2, 1, 32), true, None, ALL);
            }
            continue;
        }
        for causal in [false, true] {
            if dim_ok(ctx, 64) {
                r.run(ctx, shape(3, 65, 70, 3, 3, 64), causal, None, ALL);
            }
            if dim_ok(ctx, 80) {
                r.run(ctx, shape(3, 31, 17, 4, 1, 80), causal, Some(0.3), ALL);
            }
        }
    }
    r.finish("batch_of_three");
}

/// Scores far apart (big scale): the online softmax must not overflow or lose rows.
#[test]
fn large_and_small_scale() {
    let mut r = Report::default();
    for ctx in contexts() {
        // (A scale <= 0 takes the matrix tier's other f16 softmax: SCALE_POS off.)
        let (scales, d): (&[f32], usize) = if is_gl(ctx) { (&[4.0], 32) } else { (&[4.0, 1e-3, -0.5, 0.0], 64) };
        for &s in scales.iter().filter(|_| dim_ok(ctx, d)) {
            r.run(ctx, shape(1, 40, 70, 2, 1, d), !(0.0..=1.0).contains(&s), Some(s), ALL);
        }
    }
    r.finish("large_and_small_scale");
}

// ---------------------------------------------------------------- random shapes

#[derive(Clone, Debug)]
struct Drawn {
    batch: usize,
    seq_q: usize,
    seq_k: usize,
    heads: usize,
    kv: usize,
    head_dim: usize,
    causal: bool,
    scale: Option<f32>,
    f16: bool,
}

impl Drawn {
    fn shape(&self) -> Shape {
        // kv_heads in {1, heads/2, heads}, always a divisor of heads.
        let kv_heads = match self.kv {
            0 => 1,
            1 if self.heads.is_multiple_of(2) => self.heads / 2,
            1 => 1,
            _ => self.heads,
        };
        shape(self.batch, self.seq_q, self.seq_k, self.heads, kv_heads, self.head_dim)
    }
}

fn drawn(head_dims: Vec<usize>) -> impl Strategy<Value = Drawn> {
    drawn_with(head_dims, 1..=3, 1..=70, 1..=70, 1..=4)
}

/// Drawn cases of `batch`, `seq_q`, `seq_k` and `heads` in those ranges.
fn drawn_with(
    head_dims: Vec<usize>,
    batch: std::ops::RangeInclusive<usize>,
    seq_q: std::ops::RangeInclusive<usize>,
    seq_k: std::ops::RangeInclusive<usize>,
    heads: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Drawn> {
    (batch, seq_q, seq_k, heads, 0usize..3, prop::sample::select(head_dims), any::<bool>(), prop::option::weighted(0.3, 0.01f32..1.0), any::<bool>())
        .prop_map(|(batch, seq_q, seq_k, heads, kv, head_dim, causal, scale, f16)| Drawn {
            batch,
            seq_q,
            seq_k,
            heads,
            kv,
            head_dim,
            causal,
            scale,
            f16,
        })
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, max_shrink_iters: 24, failure_persistence: None, ..ProptestConfig::default() }
}

/// One drawn case on the adapters `pick` selects; Err lists the failures.
fn run_drawn(x: &Drawn, pick: fn(&GpuContext) -> bool) -> Result<(), String> {
    let mut r = Report::default();
    let want = if x.f16 { [Dtype::F16] } else { [Dtype::F32] };
    for ctx in contexts().iter().filter(|c| pick(c) && dim_ok(c, x.head_dim)) {
        // Where the adapter lacks f16, an f16 draw runs in f32 instead.
        let want = if x.f16 && !ctx.capabilities().shader_f16 { [Dtype::F32] } else { want };
        r.run(ctx, x.shape(), x.causal, x.scale, &want);
    }
    if r.failures.is_empty() {
        Ok(())
    } else {
        Err(r.failures.join("\n"))
    }
}

proptest! {
    #![proptest_config(config(12))]
    #[test]
    fn random_shapes(x in drawn(common::head_dims())) {
        let res = run_drawn(&x, |c| !is_gl(c));
        prop_assert!(res.is_ok(), "{:?}\n{}", x, res.unwrap_err());
    }
}

/// Decode shapes (a few query rows against at least `DECODE_MIN_KEYS` keys, so
/// `flash::is_decode`): drawn tokens, heads, K/V heads, head_dims, key counts off any
/// tile multiple, causal, scale and dtype, through the public API on every tier that runs
/// them (the streaming kernel where the rows fit, GQA packing, the decode tiles elsewhere).
fn drawn_decode(head_dims: Vec<usize>) -> impl Strategy<Value = Drawn> {
    use ringattn::kernels::flash::DECODE_MIN_KEYS;
    drawn_with(head_dims, 1..=2, 1..=6, DECODE_MIN_KEYS..=DECODE_MIN_KEYS + 700, 1..=8)
}

proptest! {
    #![proptest_config(config(8))]
    #[test]
    fn random_decode_shapes(x in drawn_decode(common::head_dims())) {
        let res = run_drawn(&x, |c| !is_gl(c));
        prop_assert!(res.is_ok(), "{:?}\n{}", x, res.unwrap_err());
    }
}

proptest! {
    #![proptest_config(config(3))]
    #[test]
    fn random_shapes_gl(x in drawn(gl_dims_for_draw())) {
        let res = run_drawn(&x, is_gl);
        prop_assert!(res.is_ok(), "{:?}\n{}", x, res.unwrap_err());
    }
}

/// Head dims the GL proptest draws from (those of the first GL adapter; all when there
/// is none, in which case the test runs nothing).
fn gl_dims_for_draw() -> Vec<usize> {
    let v = contexts().iter().find(|c| is_gl(c)).map(gl_head_dims).unwrap_or_default();
    // An empty choice would panic the strategy; run_drawn skips dims GL does not run.
    if v.is_empty() {
        common::head_dims()
    } else {
        v
    }
}

/// Lists the adapters and tiers this binary tests (and those it skips).
#[test]
fn tier_coverage() {
    for ctx in contexts() {
        for dtype in dtypes(ctx) {
            for &d in SUPPORTED_HEAD_DIMS {
                let (run, skip) = tiers(ctx, dtype, d);
                assert!(run.contains(&Tier::Portable), "portable must always run");
                eprintln!("{} {dtype:?} d={d}: runs {run:?}, skips {skip:?}", common::label(ctx));
            }
        }
    }
}

/// `flash::prepare_for` (the problem shape known) builds the tiles `flash::prepare` does,
/// except that on the matrix and subgroup tiers the query tiles may get shorter (small
/// grids: `small_grid_matrix_config`, `small_grid_subgroup_config`), never taller, and
/// the subgroup tier keeps its kernel variant and lanes (its key tiles may get shorter:
/// two-lane shapes halve tiles over 16 keys with their rows).
#[test]
fn shape_aware_tiles() {
    use ringattn::kernels::flash;
    let d = 64;
    for ctx in contexts() {
        for dtype in dtypes(ctx) {
            for tier in tiers(ctx, dtype, d).0 {
                let plain = flash::prepare(ctx, tier, dtype, d).expect("prepare").cfg;
                for s in [Shape::new(1, 1024, 8, d), Shape::new(1, 4096, 1, d), Shape::new(4, 16384, 16, d)] {
                    let shaped = flash::prepare_for(ctx, tier, dtype, &s, false).expect("prepare_for").cfg;
                    match tier {
                        Tier::Matrix => assert!(shaped.bq <= plain.bq, "{s:?}: {shaped:?} vs {plain:?}"),
                        Tier::Subgroup => {
                            assert!(shaped.bq <= plain.bq && shaped.bk <= plain.bk, "{s:?}: {shaped:?} vs {plain:?}");
                            assert_eq!((shaped.variant, shaped.r), (plain.variant, plain.r), "{s:?}");
                        }
                        Tier::Portable => assert_eq!(shaped, plain, "{tier} {s:?}"),
                    }
                }
            }
        }
    }
}

/// Pipeline build + first run vs. a second run, per adapter, dtype, head_dim and tier
/// (`cargo test --release --test attention compile_times -- --ignored --nocapture`).
#[test]
#[ignore]
fn compile_times() {
    for ctx in contexts() {
        for dtype in dtypes(ctx) {
            for d in common::head_dims() {
                for tier in tiers(ctx, dtype, d).0 {
                    let case = Case { shape: shape(1, 37, 53, 2, 1, d), dtype, causal: false, scale: None, tier };
                    let t0 = std::time::Instant::now();
                    let a = common::check_case(ctx, &case).is_ok();
                    let t1 = t0.elapsed().as_secs_f64();
                    let t0 = std::time::Instant::now();
                    let b = common::check_case(ctx, &case).is_ok();
                    let t2 = t0.elapsed().as_secs_f64();
                    eprintln!("{:?} {dtype:?} d={d} {tier}: first {t1:.2} s ({a}), second {t2:.2} s ({b})", ctx.info().backend);
                }
            }
        }
    }
}

/// Uploads host Q, K, V as `dtype`, runs `attn` into poisoned outputs and returns
/// (O, LSE, [q, k, v] as the GPU saw them: f16 inputs are rounded).
fn forward_host(ctx: &GpuContext, attn: &ringattn::Attention, s: &Shape, dtype: Dtype, host: [&[f32]; 3]) -> (Vec<f32>, Vec<f32>, [Vec<f32>; 3]) {
    use ringattn::GpuTensor;
    let t = |h: &[f32], dims| GpuTensor::from_f32(ctx, h, dims, dtype).unwrap();
    let (q, k, v) = (t(host[0], s.q_dims()), t(host[1], s.kv_dims()), t(host[2], s.kv_dims()));
    let out = attn.alloc_output(&q, &k, &v).unwrap();
    out.o.poison(ctx).unwrap();
    out.lse.poison(ctx).unwrap();
    attn.forward_into(&q, &k, &v, &out.o, &out.lse).unwrap();
    let seen = [q.to_f32_vec(ctx).unwrap(), k.to_f32_vec(ctx).unwrap(), v.to_f32_vec(ctx).unwrap()];
    (out.o.to_f32_vec(ctx).unwrap(), out.lse.to_vec(ctx).unwrap(), seen)
}

/// Runs `attn` on fresh random inputs of shape `s` (outputs poisoned first) and returns
/// a failure line (`what` and the seed, O and LSE errors) where O or LSE misses the f64
/// reference's tolerance for `dtype`.
fn random_case_failure(ctx: &GpuContext, attn: &ringattn::Attention, s: &Shape, dtype: Dtype, causal: bool, salt: u64, what: &str) -> Option<String> {
    use ringattn::reference;
    let seed = reference::fresh_seed() ^ salt;
    let host = |len, x| reference::random_vec(len, seed ^ x);
    let (o, lse, [qh, kh, vh]) = forward_host(ctx, attn, s, dtype, [&host(s.q_len(), 0), &host(s.kv_len(), 1), &host(s.kv_len(), 2)]);
    reference_miss([&qh, &kh, &vh], &o, &lse, s, causal, dtype)
        .map(|(eo, el)| format!("{} {what} seed={seed:#x}: O {eo:.2e}, LSE {el:.2e}", common::label(ctx)))
}

/// The O and LSE errors of (o, lse) against the f64 reference on q, k, v where either
/// misses `dtype`'s tolerance.
fn reference_miss([q, k, v]: [&[f32]; 3], o: &[f32], lse: &[f32], s: &Shape, causal: bool, dtype: Dtype) -> Option<(f64, f64)> {
    use ringattn::reference;
    let r = reference::attention(q, k, v, s, causal, None);
    let (eo, el) = (reference::rel_error(o, &r.o), reference::lse_max_abs_error(lse, &r.lse));
    let ok = reference::within(eo, common::tol(dtype)) && reference::within(el, common::lse_tol(dtype));
    (!ok).then_some((eo, el))
}

/// A call split over keys (parts computed side by side, merged by LSE in the same
/// pass) equals the f64 reference: every tier, f32/f16, causal or not, lengths not
/// divisible by the parts, seq_q != seq_k, GQA, 2 to 9 parts (8 extra parts take two
/// merge dispatches where one binds at most 7). Outputs poisoned first.
#[test]
fn key_splits_match_reference() {
    use ringattn::{Attention, AttentionOptions};
    let mut failures = Vec::new();
    for ctx in contexts().iter().filter(|c| !is_gl(c)) {
        for dtype in dtypes(ctx) {
            let (run, _) = tiers(ctx, dtype, 64);
            for tier in run {
                for (i, (nq, nk, parts, causal)) in
                    [(100, 301, 3, true), (257, 257, 2, false), (64, 1000, 4, true), (130, 90, 3, false), (70, 500, 8, false), (90, 777, 9, true)]
                        .into_iter()
                        .enumerate()
                {
                    let s = shape(1, nq, nk, 4, 2, 64);
                    let attn = Attention::new(ctx, AttentionOptions { causal, tier: Some(tier), ..Default::default() }).with_key_splits(Some(parts));
                    let what = format!("{tier} {dtype:?} nq={nq} nk={nk} parts={parts} causal={causal}");
                    failures.extend(random_case_failure(ctx, &attn, &s, dtype, causal, i as u64, &what));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A split call writes its outputs whatever they held before: O and LSE filled with
/// finite values of large weight (LSE 50) instead of NaN, which the LSE merge would take
/// for an empty side. Key parts in one launch (keys divisible by the parts and not,
/// causal and not) and one launch per part; five tokens on the tiers' decode tiles, one
/// and two on `flash_decode.wgsl` where the adapter has subgroups.
#[test]
fn split_calls_overwrite_their_outputs() {
    use ringattn::{reference, Attention, AttentionOptions, GpuTensor};
    let mut failures = Vec::new();
    for ctx in contexts().iter().filter(|c| !is_gl(c)) {
        let dtype = *dtypes(ctx).last().unwrap();
        // (Two tokens and one: 4 and 2 packed rows, on flash_decode.wgsl where it runs.)
        let cases = [(5, 1200, 4, false), (5, 1203, 4, true), (5, 1200, 2, false), (2, 1203, 4, true), (1, 1200, 3, false)];
        for (i, (nq, nk, parts, causal)) in cases.into_iter().enumerate() {
            let s = shape(1, nq, nk, 4, 2, 64);
            let attn = Attention::new(ctx, AttentionOptions { causal, ..Default::default() }).with_key_splits(Some(parts));
            let seed = reference::fresh_seed() ^ i as u64;
            let t = |x: u64, len, dims| GpuTensor::from_f32(ctx, &reference::random_vec(len, seed ^ x), dims, dtype).unwrap();
            let (q, k, v) = (t(0, s.q_len(), s.q_dims()), t(1, s.kv_len(), s.kv_dims()), t(2, s.kv_len(), s.kv_dims()));
            let out = attn.alloc_output(&q, &k, &v).unwrap();
            out.o.write_f32(ctx, &vec![7.0; s.q_len()]).unwrap();
            ctx.write_bytes(out.lse.buffer(), 0, bytemuck::cast_slice(&vec![50.0f32; out.lse.numel()])).unwrap();
            attn.forward_into(&q, &k, &v, &out.o, &out.lse).unwrap();
            let seen = |t: &GpuTensor| t.to_f32_vec(ctx).unwrap();
            if let Some((eo, el)) = reference_miss([&seen(&q), &seen(&k), &seen(&v)], &seen(&out.o), &out.lse.to_vec(ctx).unwrap(), &s, causal, dtype)
            {
                failures.push(format!("{} nk={nk} parts={parts} causal={causal} seed={seed:#x}: O {eo:.2e}, LSE {el:.2e}", common::label(ctx)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Key parts in one launch whose parts are longer than a chunk of a driver that caps
/// loop iterations (llvmpipe): each part resumes from its own O/LSE slot across chunks.
/// Decode-shaped (3 query rows, 2 query heads per K/V head), so the query heads are
/// packed too; causal and not.
#[test]
fn key_parts_resume_across_chunks() {
    use ringattn::{Attention, AttentionOptions};
    let mut failures = Vec::new();
    let mut ran = 0;
    for ctx in contexts().iter().filter(|c| !is_gl(c) && c.capabilities().max_loop_iterations.is_some()) {
        let (run, _) = tiers(ctx, Dtype::F32, 32);
        for tier in run {
            for causal in [false, true] {
                let s = shape(1, 3, 3 * 70_000 + 5, 2, 1, 32);
                assert_eq!(ringattn::kernels::flash::gqa_fold(&s), 2);
                let attn = Attention::new(ctx, AttentionOptions { causal, tier: Some(tier), ..Default::default() }).with_key_splits(Some(3));
                failures.extend(random_case_failure(ctx, &attn, &s, Dtype::F32, causal, ran, &format!("{tier} causal={causal}")));
                ran += 1;
            }
        }
    }
    eprintln!("{ran} chunked key-part cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Calls with the same parameters share one uniform buffer (`GpuContext::uniform`: no
/// buffer created or uploaded per call), other parameters get their own; two calls of
/// one shape encoded into one command buffer (so they share the parameter buffer in
/// one submission), and a third of another shape between them, each against the f64
/// reference on fresh inputs.
#[test]
fn calls_share_their_parameter_buffers() {
    use ringattn::{reference, Attention, AttentionOptions};
    let mut failures = Vec::new();
    for ctx in contexts().iter().filter(|c| !is_gl(c)) {
        // Bytes no kernel writes (other tests share the context): a fresh seed's.
        let seed = reference::fresh_seed();
        let bytes: Vec<u8> = reference::random_vec(32, seed).iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut other = bytes.clone();
        other[0] ^= 1;
        let (a, b, c) = (ctx.uniform("test", &bytes), ctx.uniform("test", &bytes), ctx.uniform("test", &other));
        assert!(a == b && a != c, "{}: equal bytes must share a buffer, others not", common::label(ctx));
        assert!(ctx.uniform_buffers() >= 2 && ctx.uniform_buffers() <= ringattn::context::UNIFORM_CACHE_ENTRIES);
        let dtype = *dtypes(ctx).last().unwrap();
        let attn = Attention::new(ctx, AttentionOptions { causal: true, ..Default::default() });
        let shapes = [shape(1, 70, 150, 4, 2, 64), shape(2, 33, 90, 2, 1, 64), shape(1, 70, 150, 4, 2, 64)];
        failures.extend(calls_in_one_command_buffer(ctx, &attn, &shapes, dtype, true));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Encodes one call of `attn` per shape into one command buffer, each on fresh random
/// inputs with its outputs poisoned first, submits them together, and checks each
/// against the f64 reference: the failures, in words.
fn calls_in_one_command_buffer(ctx: &GpuContext, attn: &ringattn::Attention, shapes: &[Shape], dtype: Dtype, causal: bool) -> Vec<String> {
    use ringattn::{reference, GpuTensor};
    let seed = reference::fresh_seed();
    let mut runs = Vec::new();
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    for (i, s) in shapes.iter().enumerate() {
        let host = |len, x| reference::random_vec(len, seed ^ ((i as u64 + 1) << 8) ^ x);
        let t = |h: &[f32], dims| GpuTensor::from_f32(ctx, h, dims, dtype).unwrap();
        let (q, k, v) = (t(&host(s.q_len(), 0), s.q_dims()), t(&host(s.kv_len(), 1), s.kv_dims()), t(&host(s.kv_len(), 2), s.kv_dims()));
        let out = attn.alloc_output(&q, &k, &v).unwrap();
        out.o.poison(ctx).unwrap();
        out.lse.poison(ctx).unwrap();
        attn.encode(&mut enc, &q, &k, &v, &out.o, &out.lse, None).unwrap();
        runs.push((s, q, k, v, out));
    }
    ctx.queue().submit([enc.finish()]);
    let mut failures = Vec::new();
    for (i, (s, q, k, v, out)) in runs.iter().enumerate() {
        let seen = |t: &GpuTensor| t.to_f32_vec(ctx).unwrap();
        if let Some((eo, el)) = reference_miss([&seen(q), &seen(k), &seen(v)], &seen(&out.o), &out.lse.to_vec(ctx).unwrap(), s, causal, dtype) {
            failures.push(format!("{} one command buffer, call {i} seed={seed:#x}: O {eo:.2e}, LSE {el:.2e}", common::label(ctx)));
        }
    }
    failures
}

/// Split calls reuse the scratch O and LSE their object keeps: the same shape again
/// (no new scratch), more parts (the kept set grows), fewer (a prefix of it), a new shape
/// or dtype (replaced), and two calls encoded into one command buffer, so they share the
/// scratch within one submission, each against the f64 reference on its own fresh
/// inputs (outputs poisoned first); release_scratch frees it.
#[test]
fn split_calls_reuse_their_scratch() {
    use ringattn::{Attention, AttentionOptions};
    let mut failures = Vec::new();
    for ctx in contexts().iter().filter(|c| !is_gl(c)) {
        let dtype = *dtypes(ctx).last().unwrap();
        let causal = true;
        let scratch_of = |s: &Shape, dtype: Dtype, pairs: u64| {
            pairs * (s.q_len() as u64 * dtype.size() + (s.lse_dims().iter().product::<usize>() as u64 * 4).max(4))
        };
        let (a, b) = (shape(1, 100, 301, 4, 2, 64), shape(2, 64, 500, 4, 2, 64));
        let mut attn = Attention::new(ctx, AttentionOptions { causal, ..Default::default() }).with_key_splits(Some(3));
        assert_eq!(attn.scratch_bytes(), 0);
        let mut case = |attn: &Attention, s: &Shape, dtype: Dtype, pairs: u64, what: &str, salt: u64| {
            failures.extend(random_case_failure(ctx, attn, s, dtype, causal, salt, what));
            if attn.scratch_bytes() != scratch_of(s, dtype, pairs) {
                failures.push(format!("{} {what}: {} scratch bytes, want {}", common::label(ctx), attn.scratch_bytes(), scratch_of(s, dtype, pairs)));
            }
        };
        // (3 parts of `a` run the first two in one launch, into one pair of 2 slots; 5
        // parts do not fit one, their keys reaching past the causal limit of row 0.)
        case(&attn, &a, dtype, 2, "a, 3 parts", 1);
        case(&attn, &a, dtype, 2, "a again", 2);
        attn = attn.with_key_splits(Some(5));
        case(&attn, &a, dtype, 4, "a, 5 parts", 3);
        attn = attn.with_key_splits(Some(2));
        case(&attn, &a, dtype, 4, "a, 2 parts (kept 4)", 4);
        case(&attn, &b, dtype, 1, "b", 5);
        if dtype == Dtype::F16 {
            case(&attn, &b, Dtype::F32, 1, "b in f32", 6);
        }
        // Two calls in one command buffer: both write the same scratch.
        attn = attn.with_key_splits(Some(4));
        failures.extend(calls_in_one_command_buffer(ctx, &attn, &[a, a], dtype, causal));
        if attn.scratch_bytes() != scratch_of(&a, dtype, 3) {
            failures.push(format!("{}: {} scratch bytes after the shared calls", common::label(ctx), attn.scratch_bytes()));
        }
        attn.release_scratch();
        assert_eq!(attn.scratch_bytes(), 0);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The subgroup tier splits the keys of small grids by itself on GPUs
/// (`flash::auto_key_splits`; never on CPU adapters), and the split calls equal
/// the f64 reference: f32/f16, causal or not, seq_q != seq_k, GQA, lengths that are not
/// tile multiples. Outputs poisoned first.
#[test]
fn subgroup_small_grids_split_keys_automatically() {
    use ringattn::kernels::flash::{self, SgVariant};
    use ringattn::{Attention, AttentionOptions};
    let mut failures = Vec::new();
    let mut split = 0;
    for ctx in contexts().iter().filter(|c| !is_gl(c)) {
        let gpu = ctx.info().device_type != wgpu::DeviceType::Cpu;
        for dtype in dtypes(ctx) {
            for (i, (nq, nk, h, kvh, d, causal)) in
                [(1000, 1000, 1, 1, 64, false), (700, 1500, 2, 1, 64, true), (1024, 1100, 1, 1, 128, false), (900, 900, 1, 1, 128, true)]
                    .into_iter()
                    .enumerate()
            {
                if !tiers(ctx, dtype, d).0.contains(&Tier::Subgroup) {
                    continue;
                }
                let s = shape(1, nq, nk, h, kvh, d);
                let attn = Attention::new(ctx, AttentionOptions { causal, tier: Some(Tier::Subgroup), ..Default::default() });
                let parts = attn.key_splits_for(dtype, &s).expect("key_splits_for");
                let (_, cfg, planned) = attn.plan(dtype, &s, None).expect("plan");
                assert_eq!(planned, parts, "plan and key_splits_for agree");
                let want = flash::auto_key_splits(&cfg, Tier::Subgroup, dtype, &s, causal, gpu, flash::split_wave(ctx, dtype, d));
                // Every shape here is far under a GPU's wave (flash::split_wave).
                let env_free = std::env::var("RINGATTN_KEY_SPLITS").is_err() && std::env::var("RINGATTN_SMALL_GRID").is_err();
                if env_free && (parts != want || (gpu && cfg.variant == SgVariant::Shuffle && parts < 2) || (!gpu && parts != 1)) {
                    failures.push(format!("{} {dtype:?} {s:?}: {parts} key parts, the rule gives {want}", common::label(ctx)));
                }
                split += usize::from(parts > 1);
                let what = format!("{dtype:?} nq={nq} nk={nk} d={d} parts={parts} causal={causal}");
                failures.extend(random_case_failure(ctx, &attn, &s, dtype, causal, i as u64, &what));
            }
        }
    }
    eprintln!("automatic key splits: {split} split cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Scores that rise along the keys (K grows 30x from the first key to the last, so a
/// row's max climbs ~40 log2 units past its first tiles' max) hold the tolerance on every
/// tier: the matrix tier's f16 kernel keeps P against a fixed reference max per row and
/// runs the keys again with the exact max when a row's max rises more than 15 log2
/// units above it (MREF in flash_matrix.wgsl); the other kernels rescale as they go.
/// Causal or not, f32 and f16, lengths that are not tile multiples; outputs poisoned.
#[test]
fn rising_scores_match_reference() {
    use ringattn::{reference, Attention, AttentionOptions};
    let mut failures = Vec::new();
    for ctx in contexts().iter().filter(|c| !is_gl(c)) {
        for dtype in dtypes(ctx) {
            for tier in tiers(ctx, dtype, 64).0 {
                for (i, causal) in [false, true].into_iter().enumerate() {
                    let s = shape(1, 150, 300, 2, 1, 64);
                    let seed = reference::fresh_seed() ^ i as u64;
                    let qh = reference::random_vec(s.q_len(), seed);
                    let mut kh = reference::random_vec(s.kv_len(), seed ^ 1);
                    let vh = reference::random_vec(s.kv_len(), seed ^ 2);
                    let row = s.kv_heads * s.head_dim;
                    for (j, e) in kh.iter_mut().enumerate() {
                        *e *= 1.0 + 30.0 * (j / row) as f32 / s.seq_k as f32;
                    }
                    let attn = Attention::new(ctx, AttentionOptions { causal, tier: Some(tier), ..Default::default() });
                    let (o, lse, [qh, kh, vh]) = forward_host(ctx, &attn, &s, dtype, [&qh, &kh, &vh]);
                    let r = reference::attention(&qh, &kh, &vh, &s, causal, None);
                    let (eo, el) = (reference::rel_error(&o, &r.o), reference::lse_max_abs_error(&lse, &r.lse));
                    let nan = o.iter().chain(&lse).any(|x| x.is_nan());
                    if nan || !reference::within(eo, common::tol(dtype)) || !reference::within(el, common::lse_tol(dtype)) {
                        failures.push(format!(
                            "{} {tier} {dtype:?} causal={causal} seed={seed:#x}: O {eo:.2e}, LSE {el:.2e}{}",
                            common::label(ctx),
                            if nan { ", NaN" } else { "" }
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// f32 inputs far from 1 in magnitude hold the f32 tolerance on every tier: values past
/// f16's range (V at 1e6), tiny ones (Q at 1e-6 with K at 1e6, so scores stay O(1)),
/// rows of different magnitudes in one tensor (the matrix tier's split kernel carries
/// f32 as two f16 parts under power-of-two scales: per query row, per workgroup for K
/// and V). Outputs poisoned first; no NaN.
#[test]
fn f32_inputs_of_any_magnitude() {
    use ringattn::{reference, Attention, AttentionOptions};
    let mut failures = Vec::new();
    for ctx in contexts().iter().filter(|c| !is_gl(c)) {
        if !dtypes(ctx).contains(&Dtype::F32) {
            continue;
        }
        for d in [64, 128] {
            let (run, _) = tiers(ctx, Dtype::F32, d);
            for tier in run {
                // (q, k, v factors, per-row spread of q, causal)
                for (i, &(fq, fk, fv, spread, causal)) in
                    [(1.0, 1.0, 1e6, false, false), (1e-6, 1e6, 1.0, false, true), (1e4, 1e-4, 1e-7, true, false), (1.0, 1.0, 1.0, true, true)]
                        .iter()
                        .enumerate()
                {
                    let s = shape(2, 150, 77, 2, 1, d);
                    let seed = reference::fresh_seed() ^ i as u64;
                    let gen = |len: usize, x: u64, f: f32| -> Vec<f32> {
                        let mut h = reference::random_vec(len, seed ^ x);
                        for (j, e) in h.iter_mut().enumerate() {
                            // Spread: rows (and so their scales) 1 .. 2^-8.
                            let row = j / d;
                            *e *= f * if spread { (2.0f32).powi(-((row % 9) as i32)) } else { 1.0 };
                        }
                        h
                    };
                    let (qh, kh, vh) = (gen(s.q_len(), 0, fq), gen(s.kv_len(), 1, fk), gen(s.kv_len(), 2, fv));
                    let attn = Attention::new(ctx, AttentionOptions { causal, tier: Some(tier), ..Default::default() });
                    let (o, lse, _) = forward_host(ctx, &attn, &s, Dtype::F32, [&qh, &kh, &vh]);
                    let r = reference::attention(&qh, &kh, &vh, &s, causal, None);
                    let (eo, el) = (reference::rel_error(&o, &r.o), reference::lse_max_abs_error(&lse, &r.lse));
                    let nan = o.iter().chain(&lse).any(|x| x.is_nan());
                    if nan || !reference::within(eo, common::tol(Dtype::F32)) || !reference::within(el, common::lse_tol(Dtype::F32)) {
                        failures.push(format!(
                            "{} {tier} d={d} case {i} (q x{fq:e}, k x{fk:e}, v x{fv:e}, spread {spread}, causal {causal}) seed={seed:#x}: O {eo:.2e}, LSE {el:.2e}{}",
                            common::label(ctx),
                            if nan { ", NaN" } else { "" }
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Long sequences keep the f32 tolerance: errors that grow with the number of keys
/// (a truncating accumulator summed over N keys, as NVIDIA's tensor cores are) only show
/// at large N. N=16384, H=1, head_dim 64 and 128, 24 rows checked against f64, on GPUs
/// (CPU adapters skip it: too slow for CI); outputs poisoned first.
#[test]
fn long_sequences_keep_the_f32_tolerance() {
    use ringattn::{reference, Attention, AttentionOptions};
    let mut failures = Vec::new();
    for ctx in contexts().iter().filter(|c| !is_gl(c)) {
        if ctx.info().device_type == wgpu::DeviceType::Cpu {
            eprintln!("{}: skipped (CPU adapter)", common::label(ctx));
            continue;
        }
        for d in [64, 128] {
            let s = shape(1, 16384, 16384, 1, 1, d);
            let seed = reference::fresh_seed();
            let (qh, kh, vh) =
                (reference::random_vec(s.q_len(), seed), reference::random_vec(s.kv_len(), seed ^ 1), reference::random_vec(s.kv_len(), seed ^ 2));
            let rows: Vec<usize> = (0..24).map(|i| i * (s.seq_q - 1) / 23).collect();
            let r = reference::attention_rows(&qh, &kh, &vh, &s, None, &rows, |_, _, _, _| true);
            for tier in tiers(ctx, Dtype::F32, d).0 {
                let attn = Attention::new(ctx, AttentionOptions { tier: Some(tier), ..Default::default() });
                let (o, _, _) = forward_host(ctx, &attn, &s, Dtype::F32, [&qh, &kh, &vh]);
                let o = reference::select_rows(&o, s.q_dims(), &rows);
                let e = reference::rel_error(&o, &r.o);
                eprintln!("{} {tier} d={d} N=16384: rel err {e:.2e}", common::label(ctx));
                if !reference::within(e, common::tol(Dtype::F32)) {
                    failures.push(format!("{} {tier} d={d} N=16384 seed={seed:#x}: O {e:.2e}", common::label(ctx)));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The matrix tier's register kernel (`flash_regs.wgsl`: the softmax on the fragments'
/// elements, built through SPIR-V element access) wherever the adapter allows it
/// (Vulkan with SPIR-V passthrough and a fragment layout the kernel handles): every
/// tile shape the tuner tries, at head_dims 32, 64 and 128, with sizes that are not
/// tile multiples, GQA, causal and not, and scores rising along the keys (the rescale
/// of O; `RINGATTN_REGS_LAZY=1` runs it with the lazy rescale). Reports a skip elsewhere
/// (lavapipe has no cooperative matrices).
#[test]
fn register_kernel_matches_reference() {
    use ringattn::kernels::flash::{prepare_matrix, regs_config_for, SgVariant, REGS_CANDIDATES};
    let mut failures = Vec::new();
    let mut ran = 0;
    for ctx in contexts() {
        if ringattn::kernels::regs::coop_layout(ctx).is_none() {
            eprintln!("{}: no register kernel here (skipped)", common::label(ctx));
            continue;
        }
        let lim = &ctx.capabilities().limits;
        for d in [64, 32, 128] {
            for &tiles in REGS_CANDIDATES {
                let Some(cfg) = regs_config_for(d, tiles, lim.max_compute_workgroup_storage_size, lim.max_compute_invocations_per_workgroup) else {
                    continue;
                };
                let prep = prepare_matrix(ctx, Dtype::F16, d, cfg).unwrap();
                if prep.cfg.variant != SgVariant::Regs {
                    failures.push(format!("{tiles:?} d={d}: built flash_matrix instead"));
                    continue;
                }
                for (nq, nk, causal, rise) in [(100, 77, true, 0.0), (300, 300, false, 0.0), (45, 200, false, 30.0), (150, 300, true, 30.0)] {
                    ran += 1;
                    if let Err(e) = common::check_prepared_rising(ctx, &prep, Dtype::F16, shape(2, nq, nk, 4, 2, d), causal, rise) {
                        failures.push(format!("{tiles:?} d={d}: {e}"));
                    }
                }
            }
        }
    }
    eprintln!("{ran} register-kernel cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The subgroup tier's shuffle variant with several query rows per row group (register
/// tiling, `m`) against the f64 reference, on every adapter with subgroups (on lavapipe
/// this variant is not the default, so it is built explicitly here): lane counts r,
/// rows per group m, keys per tile (the GPU defaults among them), causal or not, lengths
/// that are not multiples of the rows per workgroup, GQA, f32 and f16; where a shape
/// allows the reduce-scatter of the scores (RS, `r >= m`), with it and without, and the
/// RS options in turn (UNM: the mask skipped on whole tiles; RSP: the rounds that pair
/// rows without selects, with r = m and r > m).
#[test]
fn subgroup_rows_per_group_match_reference() {
    use ringattn::kernels::flash::{prepare_shuffle_with, shuffle_config_for, shuffle_rs_fits, ShuffleOpts};
    let mut failures = Vec::new();
    let mut ran = 0;
    let mut with_rs = 0;
    let mut with_unm = 0;
    let mut with_rsp = 0;
    let mut with_rsp_fit = 0;
    let mut with_rsp_mixed = 0;
    let mut with_pipe = 0;
    let mut with_psm = 0;
    let mut with_tail = 0;
    let mut with_early = 0;
    let mut with_dbuf = 0;
    let mut with_dbuf_psm = 0;
    for ctx in contexts().iter().filter(|c| !is_gl(c) && c.capabilities().tiers().contains(&Tier::Subgroup)) {
        for dtype in dtypes(ctx) {
            // The GPU defaults (flash::SHUFFLE_MEASURED at head_dims 32/64/128, else r =
            // head_dim / 16, m = 4, 16-key tiles with RS, else 8; m = 2 on small grids)
            // are among these; 4-key tiles are what RINGATTN_SUBGROUP_CFG sweeps try. The
            // last field forces the tiles per staged K/V tile (None: the default, 16 KiB
            // staged, which gives 2 to 8 tiles per staged tile for most of these shapes).
            for (r, m, bk, d, nq, nk, causal, nsub) in [
                (2, 2, 16, 64, 100, 77, true, None),
                (2, 2, 32, 64, 130, 211, false, None),
                (4, 4, 32, 64, 200, 333, false, None),
                (4, 4, 32, 64, 129, 100, true, None),
                (2, 2, 32, 64, 90, 100, true, Some(1)),
                (2, 2, 16, 32, 70, 203, true, None),
                (4, 4, 16, 64, 300, 300, false, None),
                (4, 4, 16, 64, 70, 150, true, Some(1)),
                (4, 4, 8, 64, 300, 77, true, None),
                (8, 4, 8, 128, 45, 200, false, None),
                (8, 4, 16, 128, 77, 150, true, None),
                (8, 4, 16, 128, 40, 99, false, Some(2)),
                (8, 8, 16, 64, 140, 90, false, None),
                (16, 8, 16, 128, 70, 100, true, None),
                (8, 4, 16, 64, 50, 120, false, None),
                (1, 8, 16, 32, 70, 129, true, None),
                (8, 2, 16, 128, 45, 200, false, None),
                (4, 1, 16, 64, 33, 33, true, None),
                (2, 1, 16, 64, 65, 140, true, None),
                (4, 4, 4, 64, 61, 130, false, None),
                (4, 2, 8, 64, 150, 70, true, None),
            ] {
                let Some(cfg) = shuffle_config_for(ctx, d, r, m, bk) else { continue };
                for rs in [false, true] {
                    if rs && !shuffle_rs_fits(r, m, bk) {
                        assert!(prepare_shuffle_with(ctx, dtype, d, cfg, ShuffleOpts { rs, nsub, ..Default::default() }).is_err());
                        continue;
                    }
                    // The mask skipped on whole tiles (UNM, RS only) on every other RS case;
                    // the rounds without selects (RSP, RS only: rows permuted; where r > m the
                    // rounds over a row's lanes keep their selects) on every other RS case
                    // taken in pairs, so each runs with UNM and without.
                    // PIPE (RS only, one tile per barrier) on every third RS case, not where
                    // the case forces more tiles per staged tile (that does not fit it).
                    let unm = rs && with_rs % 2 == 0;
                    let rsp = rs && with_rsp_fit % 4 < 2;
                    let pipe = rs && with_rs % 3 == 1 && nsub.is_none_or(|n| n == 1);
                    // P through workgroup memory (PSM: PIPE with m a multiple of 4) on
                    // every such PIPE case; the next tile's loads before the closing
                    // barrier (TAIL) on every other case, RS or not.
                    let lim = ctx.capabilities().limits.max_compute_workgroup_storage_size;
                    let psm = pipe && m % 4 == 0 && ringattn::kernels::flash::shuffle_psm_fits(d, &cfg, lim);
                    let tail = ran % 2 == 1;
                    // EARLY (the next tile's loads after Q·K^T; PIPE with TAIL) on every
                    // other such case.
                    let early = pipe && tail && with_pipe % 2 == 0;
                    // Two K/V areas and one barrier per tile (DBUF, PIPE only) on two of
                    // every three PIPE cases, so it runs with and without PSM and EARLY
                    // (with PSM where the adapter has subgroupBarrier).
                    let dbuf = pipe && with_pipe % 3 != 2 && ringattn::kernels::flash::shuffle_dbuf_runs(ctx, d, &cfg, psm);
                    with_rsp_fit += rs as usize;
                    for bad in [
                        ShuffleOpts { unm: true, ..Default::default() },
                        ShuffleOpts { rsp: true, ..Default::default() },
                        ShuffleOpts { pipe: true, ..Default::default() },
                        ShuffleOpts { psm: true, ..Default::default() },
                        ShuffleOpts { early: true, ..Default::default() },
                        ShuffleOpts { dbuf: true, ..Default::default() },
                    ] {
                        assert!(rs || prepare_shuffle_with(ctx, dtype, d, cfg, ShuffleOpts { nsub, ..bad }).is_err());
                    }
                    if rs && nsub.is_some_and(|n| n != 1) {
                        assert!(prepare_shuffle_with(ctx, dtype, d, cfg, ShuffleOpts { rs, nsub, pipe: true, ..Default::default() }).is_err());
                    }
                    if rs {
                        assert!(prepare_shuffle_with(ctx, dtype, d, cfg, ShuffleOpts { rs, nsub, psm: true, ..Default::default() }).is_err());
                    }
                    if rs && !pipe {
                        assert!(prepare_shuffle_with(ctx, dtype, d, cfg, ShuffleOpts { rs, nsub, dbuf: true, ..Default::default() }).is_err());
                    }
                    let opts = ShuffleOpts { rs, unm, rsp, nsub, pipe, sparse: false, tail, psm, early, dbuf };
                    let Ok(prep) = prepare_shuffle_with(ctx, dtype, d, cfg, opts) else {
                        // Only a forced staged tile may not fit this adapter.
                        assert!(nsub.is_some(), "r={r} m={m} bk={bk} d={d}: no pipeline");
                        continue;
                    };
                    ran += 1;
                    with_rs += rs as usize;
                    with_unm += unm as usize;
                    with_rsp += rsp as usize;
                    with_rsp_mixed += (rsp && r > m) as usize;
                    with_pipe += pipe as usize;
                    with_psm += psm as usize;
                    with_tail += tail as usize;
                    with_early += early as usize;
                    with_dbuf += dbuf as usize;
                    with_dbuf_psm += (dbuf && psm) as usize;
                    if let Err(e) = common::check_prepared(ctx, &prep, dtype, shape(2, nq, nk, 4, 2, d), causal) {
                        failures.push(format!("r={r} m={m} bk={bk} d={d} {opts:?}: {e}"));
                    }
                }
            }
        }
    }
    eprintln!(
        "{ran} shuffle-variant cases ({with_rs} with RS, {with_unm} of them with UNM, {with_rsp} with RSP, {with_rsp_mixed} of those with r > m, {with_pipe} with PIPE, {with_psm} of those with PSM; {with_tail} with TAIL, {with_early} of those with EARLY; {with_dbuf} with DBUF, {with_dbuf_psm} of those with PSM)"
    );
    assert!(ran == 0 || with_dbuf_psm > 0, "DBUF with PSM must run");
    assert!(ran == 0 || (with_dbuf > 0 && with_dbuf < with_pipe), "PIPE with and without DBUF must both run");
    assert!(ran == 0 || with_early > 0, "EARLY must run");
    assert!(ran == 0 || (with_pipe > 0 && with_pipe < with_rs), "RS with and without PIPE must both run");
    assert!(ran == 0 || (with_psm > 0 && with_psm < with_pipe), "PIPE with and without PSM must both run");
    assert!(ran == 0 || (with_tail > 0 && with_tail < ran), "cases with and without TAIL must both run");
    assert!(ran == 0 || (with_unm > 0 && with_unm < with_rs), "RS with and without UNM must both run");
    assert!(ran == 0 || (with_rsp > 0 && with_rsp < with_rsp_fit), "RS with and without RSP must both run");
    assert!(ran == 0 || (with_rsp_mixed > 0 && with_rsp_mixed < with_rsp), "RSP with r = m and r > m must both run");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The shuffle kernel, with and without the reduce-scatter (RS), over a key range long
/// enough that adapters which cap loop iterations (lavapipe) run it in chunks that
/// resume each other's rows (accumulate mode: O, LSE and, with RS, the row sums split
/// over the row's lanes carried across launches), with scores rising along the keys so
/// the rescale runs; causal or not, against the f64 reference. Reports a skip where
/// loops are not capped (one launch covers the keys there).
#[test]
fn shuffle_long_keys_resume_across_chunks() {
    use ringattn::kernels::flash::{prepare_shuffle_with, shuffle_config_for, ShuffleOpts};
    let mut ran = 0;
    for ctx in contexts().iter().filter(|c| !is_gl(c) && c.capabilities().tiers().contains(&Tier::Subgroup)) {
        if ctx.capabilities().max_loop_iterations.is_none() {
            eprintln!("{}: loops not capped, no chunked launches (skipped)", common::label(ctx));
            continue;
        }
        for (r, m, bk, d) in [(4, 4, 16, 32), (8, 4, 16, 64)] {
            let Some(cfg) = shuffle_config_for(ctx, d, r, m, bk) else { continue };
            for (rs, unm, rsp, pipe, tail, psm, early, dbuf) in [
                (false, false, false, false, false, false, false, false),
                (true, false, true, false, true, false, false, false),
                (true, true, false, false, false, false, false, false),
                (true, true, true, true, false, false, false, false),
                (true, true, false, true, true, true, false, false),
                (true, true, false, true, true, true, true, false),
                (true, true, false, true, true, true, true, true),
                (true, false, true, true, false, false, false, true),
            ] {
                let opts = ShuffleOpts { rs, unm, rsp, nsub: None, pipe, sparse: false, tail, psm, early, dbuf };
                let prep = prepare_shuffle_with(ctx, Dtype::F32, d, cfg, opts).unwrap();
                for causal in [false, true] {
                    ran += 1;
                    let s = shape(1, 40, 70_000, 2, 1, d);
                    if let Err(e) = common::check_prepared_rising(ctx, &prep, Dtype::F32, s, causal, 30.0) {
                        panic!("r={r} m={m} bk={bk} {opts:?}: {e}");
                    }
                }
            }
        }
    }
    eprintln!("{ran} chunked shuffle-kernel cases");
}

/// Every shuffle-kernel shape the per-adapter search may pick (`flash::shuffle_candidates`:
/// the built-in shape, other tiles, rows per group and invocations per workgroup) at
/// head_dims 32, 64 and 128, f32, and the built-in shape at 80, 96 and 256, f32 and f16,
/// on every adapter with the subgroup tier, against the f64 reference: lengths that are
/// not multiples of the rows per workgroup, GQA, causal on every other shape.
#[test]
fn shuffle_search_candidates_match_reference() {
    use ringattn::kernels::flash::{prepare_subgroup_with, shuffle_candidates};
    let mut ran = 0;
    let mut failures = Vec::new();
    for ctx in contexts().iter().filter(|c| !is_gl(c) && c.capabilities().tiers().contains(&Tier::Subgroup)) {
        for d in [32, 64, 128] {
            for (i, cfg) in shuffle_candidates(ctx, Dtype::F32, d).into_iter().enumerate() {
                let prep = prepare_subgroup_with(ctx, Dtype::F32, d, cfg).expect("a candidate builds");
                let (nq, nk) = (cfg.bq as usize + 37, 150 + i * 13);
                ran += 1;
                if let Err(e) = common::check_prepared(ctx, &prep, Dtype::F32, shape(1, nq, nk, 4, 2, d), i % 2 == 1) {
                    failures.push(format!("d={d} {}: {e}", cfg.describe(Tier::Subgroup)));
                }
            }
        }
        // The built-in shapes at the other head_dims (on GPUs: every option of the PIPE
        // path with 256 invocations, flash::SHUFFLE_FULL), f32 and f16.
        for (i, d) in [80, 96, 256].into_iter().enumerate() {
            for dtype in dtypes(ctx) {
                let Some(&cfg) = shuffle_candidates(ctx, dtype, d).first() else { continue };
                let prep = prepare_subgroup_with(ctx, dtype, d, cfg).expect("the built-in shape builds");
                ran += 1;
                let causal = (i + ran) % 2 == 0;
                if let Err(e) = common::check_prepared(ctx, &prep, dtype, shape(1, cfg.bq as usize + 21, 170, 4, 2, d), causal) {
                    failures.push(format!("d={d} {dtype:?} {}: {e}", cfg.describe(Tier::Subgroup)));
                }
            }
        }
    }
    eprintln!("{ran} search candidates checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The wave measurement (`tuning::measure_wave`: launches of w workgroups of equal work;
/// the cores' count times the workgroups each holds) on every adapter with the subgroup tier,
/// with the tier's own kernel: at least one core holding at least one workgroup, within
/// the probes' limit. On lavapipe (a CPU) a round is a few workgroups at most; on GPUs it
/// is printed (an H100: 132 cores holding one workgroup of 256 at head_dims 64 and 128,
/// three of 128 at 32) and must be found within three tries.
#[test]
fn wave_measurement_finds_whole_workgroups() {
    use ringattn::kernels::flash;
    use ringattn::tuning::{measure_wave, WAVE_MAX_WORKGROUPS};
    for ctx in contexts().iter().filter(|c| !is_gl(c) && c.capabilities().tiers().contains(&Tier::Subgroup)) {
        for d in [64, 128] {
            let prep = flash::prepare(ctx, Tier::Subgroup, Dtype::F32, d).expect("pipeline");
            let per_wg = prep.cfg.invocations() as u64;
            // Up to three tries on a GPU: the test threads' other work on it can hide the
            // steps (an H200 found none once with two test threads).
            let tries = if ctx.info().device_type == wgpu::DeviceType::Cpu { 1 } else { 3 };
            let mut wave = None;
            for _ in 0..tries {
                wave = measure_wave(ctx, Dtype::F32, d, &prep).expect("measurement");
                eprintln!("{} head_dim {d}: {wave:?} ({per_wg} invocations per workgroup)", common::label(ctx));
                if wave.is_some() {
                    break;
                }
            }
            if let Some(w) = wave {
                assert!(w.cores >= 1 && w.per_core >= 1 && w.workgroups() < WAVE_MAX_WORKGROUPS, "{w:?}");
            }
            // A GPU shows its step well within the probes (an H100: 132 or 396 workgroups);
            // a CPU's threads run a few workgroups at once, though its timings are noisy
            // (lavapipe's threads may outnumber the cores a CI machine grants).
            match ctx.info().device_type {
                wgpu::DeviceType::Cpu => assert!(wave.is_none_or(|w| w.workgroups() <= 64), "{wave:?}"),
                _ => assert!(wave.is_some(), "no wave found on a GPU"),
            }
        }
    }
}

/// The subgroup tier's search (`tuning::search_subgroup`: the shuffle kernel in its
/// built-in shape and its other candidate shapes, against the register-tiled kernel, on
/// a (2, 8192, 8, 64) problem) on every GPU adapter with the tier: every candidate that
/// fits times, another shuffle shape or the tiled kernel is picked only where it beat
/// the built-in shape by the margin, and a shape is stored only with such a pick.
/// Searches only (nothing is written to the tile cache). Reports a skip on CPU adapters,
/// which never search.
#[test]
fn subgroup_search_times_kernels_and_shapes() {
    use ringattn::kernels::flash::{shuffle_candidates, tiled_config, SgVariant};
    for ctx in contexts() {
        if !ctx.capabilities().tiers().contains(&Tier::Subgroup) || ctx.info().device_type == wgpu::DeviceType::Cpu {
            eprintln!("{}: no subgroup search here (skipped)", common::label(ctx));
            continue;
        }
        for dtype in [Dtype::F32, Dtype::F16] {
            if dtype == Dtype::F16 && !ctx.capabilities().shader_f16 {
                continue;
            }
            let r = ringattn::tuning::search_subgroup(ctx, dtype, 64).expect("search");
            let shuffles = shuffle_candidates(ctx, dtype, 64);
            let fits = tiled_config(ctx, 64, u32::MAX).is_some();
            assert_eq!(r.timings.len(), shuffles.len() + fits as usize, "{}: {:?}", r.key, r.timings);
            assert!(r.timings.iter().all(|(_, ms)| ms.is_finite() && *ms > 0.0), "{:?}", r.timings);
            let time = |c: &ringattn::kernels::flash::TileConfig| r.timings.iter().find(|(t, _)| t == c).map(|t| t.1);
            let builtin = time(&shuffles[0]).expect("the built-in shape timed");
            let best = r.best.as_ref().expect("a pick");
            match (best.variant.as_deref(), best.shape) {
                (Some("tiled"), None) => {
                    let tiled = r.timings.iter().find(|(c, _)| matches!(c.variant, SgVariant::Tiled { .. })).unwrap().1;
                    assert!(tiled < 0.95 * builtin, "{:?}", r.timings);
                }
                (Some("shuffle"), None) => assert!(best.ms.is_finite() && best.ms > 0.0),
                (Some("shuffle"), Some([bq, bk, rr, m])) => {
                    let c = shuffles.iter().find(|c| (c.bq, c.bk, c.r, c.m) == (bq, bk, rr, m)).expect("a candidate's shape");
                    assert!(*c != shuffles[0] && time(c).unwrap() < 0.95 * builtin, "{:?}", r.timings);
                }
                other => panic!("unexpected pick {other:?}"),
            }
            // The shuffle kernel's wave is measured in the picked shape (whole workgroups).
            if let Some(w) = best.wave {
                let c = best
                    .shape
                    .and_then(|[bq, bk, rr, m]| shuffles.iter().find(|c| (c.bq, c.bk, c.r, c.m) == (bq, bk, rr, m)))
                    .unwrap_or(&shuffles[0]);
                assert!(best.variant.as_deref() == Some("shuffle") && w % c.invocations() as u64 == 0, "{w} {c:?}");
                // With the cores it was found from (the small-grid rule's measure),
                // which divide it in whole workgroups per core.
                let cores = best.cores.expect("cores stored with the wave");
                assert!(cores >= 1 && (w / c.invocations() as u64).is_multiple_of(cores), "{w} {cores} {c:?}");
            }
            assert!(best.wave.is_some() == best.cores.is_some(), "{best:?}");
            eprintln!(
                "{} {}: {:?} -> {:?} {:?}, wave {:?}, cores {:?}",
                common::label(ctx),
                dtype.name(),
                r.timings.iter().map(|(c, ms)| (c.describe(Tier::Subgroup), *ms)).collect::<Vec<_>>(),
                best.variant,
                best.shape,
                best.wave,
                best.cores
            );
        }
    }
}

/// Pipelines requested from several threads at once: one key is built once (the other
/// threads wait for it and share it), different keys build side by side, and a failing
/// build gives every thread its error without leaving anyone waiting.
#[test]
fn threads_build_each_pipeline_once() {
    use ringattn::context::PipelineKey;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let ctx = common::ctx();
    let dev = ctx.device();
    let bgl = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: None, entries: &[] });
    let layout = dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor { label: None, bind_group_layouts: &[Some(&bgl)], immediate_size: 0 });
    let key = |v: &str| PipelineKey { kernel: "threads_test", defines: vec![("V", v.to_string())] };
    let shader = |v: &str| format!("@compute @workgroup_size(1) fn main() {{ let x: u32 = {v}u; }}");
    let before = ctx.cached_pipelines();
    let (renders, now, most) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
    // Every source render is slow, so the threads' requests overlap; `most` counts the
    // renders in progress at once.
    let slow = |v: &str| {
        renders.fetch_add(1, Ordering::SeqCst);
        most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(100));
        now.fetch_sub(1, Ordering::SeqCst);
        shader(v)
    };
    let same: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..6).map(|_| sc.spawn(|| ctx.pipeline(&key("7"), &layout, || slow("7")).expect("builds"))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(renders.load(Ordering::SeqCst), 1, "one build for one key");
    assert!(same.iter().all(|p| std::sync::Arc::ptr_eq(p, &same[0])));
    assert_eq!(ctx.cached_pipelines(), before + 1);
    // Six different keys: six builds, all cached, side by side (not one after another).
    renders.store(0, Ordering::SeqCst);
    most.store(0, Ordering::SeqCst);
    std::thread::scope(|sc| {
        for i in 0..6 {
            let (ctx, layout, slow, key) = (&ctx, &layout, &slow, &key);
            sc.spawn(move || ctx.pipeline(&key(&i.to_string()), layout, || slow(&i.to_string())).expect("builds"));
        }
    });
    assert_eq!(renders.load(Ordering::SeqCst), 6);
    assert_eq!(ctx.cached_pipelines(), before + 7);
    assert!(most.load(Ordering::SeqCst) > 1, "builds of different keys ran one after another");
    // A shader that does not compile: each thread gets the error, nothing is cached.
    let bad: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4).map(|_| sc.spawn(|| ctx.pipeline(&key("bad"), &layout, || "fn main( {".to_string()).map(|_| ()))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(bad.iter().all(|r| matches!(r, Err(ringattn::Error::Shader { .. }))), "{bad:?}");
    assert_eq!(ctx.cached_pipelines(), before + 7);
}

/// `Attention::tiles` prepares everything a call of that shape runs: the first call after
/// it builds no pipeline (causal calls included, whose query tiles run in a transposed
/// grid; a grid small enough to split its keys, whose parts are merged by LSE).
#[test]
fn tiles_prepares_the_first_call() {
    use ringattn::{Attention, AttentionOptions, GpuTensor};
    // A fresh context on the default adapter: the shared ones' caches change under the
    // other tests. (Other adapters run the same launch code; llvmpipe's GL driver would
    // take minutes to compile these pipelines afresh.)
    let ctx = &common::ctx();
    // Every dtype (f32 on a matrix-tier GPU runs the split kernel and its K/V
    // scan), causal or not, and a negative scale (the f16 matrix kernels' own build).
    for (dtype, causal, scale) in dtypes(ctx).into_iter().flat_map(|d| [(d, false, None), (d, true, None), (d, true, Some(-0.125))]) {
        let opts = AttentionOptions { causal, scale, ..Default::default() };
        let what = format!("{} {} causal {causal} scale {scale:?}", common::label(ctx), dtype.name());
        for (s, splits) in [(shape(1, 300, 300, 4, 4, 64), None), (shape(1, 8, 8, 1, 1, 64), None), (shape(1, 300, 300, 2, 1, 64), Some(3))] {
            let attn = Attention::new(ctx, opts).with_key_splits(splits);
            let (tier, _, parts) = attn.plan(dtype, &s, None).expect("plan");
            let x = ringattn::bench::random_inputs(s.q_len(), 3);
            let q = GpuTensor::from_f32(ctx, &x, s.q_dims(), dtype).unwrap();
            let kv = GpuTensor::from_f32(ctx, &x[..s.kv_len()], s.kv_dims(), dtype).unwrap();
            let built = ctx.cached_pipelines();
            attn.forward(&q, &kv, &kv).expect("forward");
            ctx.wait().unwrap();
            assert_eq!(ctx.cached_pipelines(), built, "{what} {tier} {s:?} ({parts} parts): the first call built a pipeline");
        }
        // Under a block mask (rows of unequal length: a window plus global tokens).
        let s = shape(1, 300, 300, 2, 2, 64);
        let p = ringattn::mask::Pattern::Window { left: 64, right: 0 }.or(ringattn::mask::Pattern::Global(32));
        let mask = ringattn::BlockMask::new(&p, s.seq_q, s.seq_k, 32).unwrap().upload(ctx).unwrap();
        let attn = Attention::new(ctx, opts);
        let (tier, _) = attn.tiles(dtype, &s, Some(&mask)).expect("tiles");
        let x = ringattn::bench::random_inputs(s.q_len(), 4);
        let q = GpuTensor::from_f32(ctx, &x, s.q_dims(), dtype).unwrap();
        let built = ctx.cached_pipelines();
        attn.forward_masked(&q, &q, &q, &mask).expect("forward_masked");
        ctx.wait().unwrap();
        assert_eq!(ctx.cached_pipelines(), built, "{what} {tier}, masked: the first call built a pipeline");
    }
}
