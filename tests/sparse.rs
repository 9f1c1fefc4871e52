//! Block-sparse masks: the mask builder against direct definitions of each pattern,
//! and masked attention in every tier the adapter runs against the f64 reference
//! under the same element mask (outputs poisoned with NaN first; sizes that are not
//! block multiples; per-head masks; fully masked rows; blocks that must be skipped
//! hold NaN in V so a visit would show).

mod common;

use std::sync::{Arc, OnceLock};

use common::{check_case, check_masked, check_masked_with, gl_guard, label, Case, MaskCase};
use ringattn::attention::resolve_tier;
use ringattn::kernels::flash;
use ringattn::mask::{BlockKind, BlockMask, Pattern};
use ringattn::{reference, Attention, AttentionOptions, Dtype, Error, GpuContext, GpuTensor, Shape, Tier};

fn contexts() -> &'static [GpuContext] {
    static CTX: OnceLock<Vec<GpuContext>> = OnceLock::new();
    CTX.get_or_init(common::contexts)
}

fn is_cpu_gl(ctx: &GpuContext) -> bool {
    ctx.info().backend == wgpu::Backend::Gl && ctx.info().device_type == wgpu::DeviceType::Cpu
}

/// Direct definitions of the patterns (independent of the builder's block logic).
fn truth(p: &Pattern, nq: usize, nk: usize, block: usize, i: usize, j: usize) -> bool {
    let diag = nk as i64 - nq as i64;
    let (qi, kj) = (i as i64, j as i64);
    match p {
        Pattern::All => true,
        Pattern::Causal => kj <= qi + diag,
        Pattern::Window { left, right } => kj - (qi + diag) >= -(*left as i64) && kj - (qi + diag) <= *right as i64,
        Pattern::Global(g) => i < *g || j < *g,
        Pattern::Dilated { segment, rate, offset } => {
            let sel = |x: usize| x % segment >= *offset && (x % segment - offset).is_multiple_of(*rate);
            i / segment == j / segment && sel(i) && sel(j)
        }
        Pattern::Blocks { cols, keep, .. } => keep[(i / block) * cols + j / block],
        Pattern::Custom { token, .. } => token.as_ref().unwrap()(i, j),
        Pattern::Union(v) => v.iter().any(|x| truth(x, nq, nk, block, i, j)),
        Pattern::Intersect(v) => v.iter().all(|x| truth(x, nq, nk, block, i, j)),
        Pattern::Random { .. } => unreachable!("random masks are checked by their own test"),
    }
}

fn patterns(nq: usize, nk: usize, block: usize) -> Vec<(&'static str, Pattern)> {
    let (rq, rk) = (nq.div_ceil(block), nk.div_ceil(block));
    let keep: Vec<bool> = (0..rq * rk).map(|x| (x * 7 + 3) % 5 < 2).collect();
    vec![
        ("all", Pattern::All),
        ("causal", Pattern::Causal),
        ("window 37,5", Pattern::Window { left: 37, right: 5 }),
        ("causal window 70", Pattern::Causal.and(Pattern::Window { left: 70, right: 0 })),
        ("window 20 | global 3", Pattern::Window { left: 20, right: 20 }.or(Pattern::Global(3))),
        ("dilated 64/2/1", Pattern::Dilated { segment: 64, rate: 2, offset: 1 }),
        ("dilated 48/1/0 & causal", Pattern::Dilated { segment: 48, rate: 1, offset: 0 }.and(Pattern::Causal)),
        ("blocks", Pattern::blocks(rq, rk, keep)),
        ("custom stripes", Pattern::from_fn(|i, j| (i + 2 * j) % 5 != 0)),
        (
            "custom blocks",
            Pattern::custom(
                |qb, kb| match (qb + kb) % 3 {
                    0 => BlockKind::Full,
                    1 => BlockKind::Empty,
                    _ => BlockKind::Partial,
                },
                |i, j| (i ^ j) & 4 == 0,
            ),
        ),
    ]
}

/// The custom-blocks pattern's element truth includes its block classifier.
fn custom_truth(name: &str, block: usize, i: usize, j: usize, p: &Pattern, nq: usize, nk: usize) -> bool {
    if name == "custom blocks" {
        return match (i / block + j / block) % 3 {
            0 => true,
            1 => false,
            _ => (i ^ j) & 4 == 0,
        };
    }
    truth(p, nq, nk, block, i, j)
}

#[test]
fn builder_matches_definitions() {
    for (nq, nk, block) in [(100, 100, 16), (130, 200, 32), (200, 130, 64), (257, 257, 64), (64, 64, 64)] {
        for (name, p) in patterns(nq, nk, block) {
            let m = BlockMask::new(&p, nq, nk, block).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut allowed = 0usize;
            for i in 0..nq {
                for j in 0..nk {
                    let want = custom_truth(name, block, i, j, &p, nq, nk);
                    assert_eq!(m.allows(0, i, j), want, "{name} {nq}x{nk} block {block}: ({i}, {j})");
                    allowed += want as usize;
                }
            }
            let ed = m.element_density();
            assert!((ed - allowed as f64 / (nq * nk) as f64).abs() < 1e-12, "{name}: element density {ed}");
            // Every listed block has at least one allowed pair, and no unlisted block has any.
            for qb in 0..m.q_blocks() {
                let listed: Vec<(usize, bool)> = m.row(0, qb).collect();
                for kb in 0..m.k_blocks() {
                    let any = (qb * block..((qb + 1) * block).min(nq)).any(|i| (kb * block..((kb + 1) * block).min(nk)).any(|j| m.allows(0, i, j)));
                    assert_eq!(listed.iter().any(|&(k, _)| k == kb), any, "{name}: block ({qb}, {kb}) listed iff it has allowed pairs");
                }
            }
        }
    }
}

/// Masks whose later query blocks hold more active blocks (causal, a causal window) run
/// their query tiles longest first; others keep the order.
#[test]
fn masks_with_rising_work_run_longest_tiles_first() {
    let (n, block) = (1000, 64);
    let rises = |p: &Pattern| BlockMask::new(p, n, n, block).unwrap().work_rises();
    assert!(rises(&Pattern::Causal));
    assert!(rises(&Pattern::Causal.and(Pattern::Window { left: 255, right: 0 })));
    assert!(!rises(&Pattern::All));
    assert!(!rises(&Pattern::from_fn(|i, j| j >= i)));
    let per_head = BlockMask::per_head(&[Pattern::Causal, Pattern::All], n, n, block).unwrap();
    assert!(per_head.work_rises());
}

#[test]
fn random_masks_are_reproducible_and_near_their_density() {
    let p = |seed| Pattern::Random { density: 0.1, seed };
    let a = BlockMask::new(&p(7), 8192, 8192, 64).unwrap();
    let b = BlockMask::new(&p(7), 8192, 8192, 64).unwrap();
    let c = BlockMask::new(&p(8), 8192, 8192, 64).unwrap();
    assert_eq!(a, b, "same seed, same mask");
    assert_ne!(a, c, "another seed, another mask");
    assert!((a.density() - 0.1).abs() < 0.01, "density {} for a 0.1 target over 16384 blocks", a.density());
    assert_eq!(a.partial_blocks(), 0, "random blocks are full or empty");
    assert_eq!(BlockMask::new(&Pattern::Random { density: 0.0, seed: 1 }, 100, 100, 16).unwrap().active_blocks(), 0);
    assert!((BlockMask::new(&Pattern::Random { density: 1.0, seed: 1 }, 100, 100, 16).unwrap().density() - 1.0).abs() < 1e-12);
}

#[test]
fn bad_masks_give_clear_errors() {
    let inv = |r: ringattn::Result<BlockMask>| matches!(r, Err(Error::InvalidArgument(_)));
    assert!(inv(BlockMask::new(&Pattern::All, 100, 100, 48)), "block size not a power of two");
    assert!(inv(BlockMask::new(&Pattern::All, 100, 100, 8)), "block size too small");
    assert!(inv(BlockMask::new(&Pattern::All, 0, 100, 16)));
    assert!(inv(BlockMask::new(&Pattern::Random { density: 1.5, seed: 0 }, 100, 100, 16)));
    assert!(inv(BlockMask::new(&Pattern::Dilated { segment: 64, rate: 2, offset: 2 }, 100, 100, 16)));
    assert!(inv(BlockMask::new(&Pattern::Dilated { segment: 0, rate: 1, offset: 0 }, 100, 100, 16)));
    assert!(inv(BlockMask::new(&Pattern::blocks(2, 2, vec![true; 4]), 100, 100, 16)), "block matrix of the wrong size");
    assert!(inv(BlockMask::new(&Pattern::Union(vec![]), 100, 100, 16)));
    let no_pred = Pattern::Custom { block: Arc::new(|_, _| BlockKind::Partial), token: None };
    assert!(inv(BlockMask::new(&no_pred, 100, 100, 16)), "partial blocks need an element predicate");
    assert!(inv(BlockMask::per_head(&[], 100, 100, 16)));

    let ctx = &contexts()[0];
    let _g = gl_guard(ctx);
    let s = Shape::new(1, 100, 2, 32);
    let t = |dims| GpuTensor::from_f32(ctx, &reference::random_vec(s.q_len(), 1), dims, Dtype::F32).unwrap();
    let (q, k, v) = (t(s.q_dims()), t(s.kv_dims()), t(s.kv_dims()));
    let attn = Attention::new(ctx, AttentionOptions::default());
    let small = BlockMask::new(&Pattern::All, 90, 100, 16).unwrap().upload(ctx).unwrap();
    assert!(matches!(attn.forward_masked(&q, &k, &v, &small), Err(Error::ShapeMismatch { .. })), "mask smaller than the problem");
    let heads3 = BlockMask::per_head(&[Pattern::All, Pattern::Causal, Pattern::All], 100, 100, 16).unwrap().upload(ctx).unwrap();
    assert!(matches!(attn.forward_masked(&q, &k, &v, &heads3), Err(Error::ShapeMismatch { .. })), "3 per-head masks for 2 heads");
}

/// Every pattern (and per-head masks) in every tier and dtype the adapter runs.
#[test]
fn masked_attention_matches_reference() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for ctx in contexts() {
        let _g = gl_guard(ctx);
        let dims: &[usize] = if is_cpu_gl(ctx) { &[32] } else { &[32, 64, 128] };
        let dtypes: Vec<Dtype> = [Dtype::F32, Dtype::F16].into_iter().filter(|&d| d == Dtype::F32 || ctx.capabilities().shader_f16).collect();
        for tier in ctx.capabilities().tiers() {
            for &dtype in &dtypes {
                for (di, &d) in dims.iter().enumerate() {
                    if resolve_tier(ctx, Some(tier), dtype, d).unwrap() != tier {
                        continue;
                    }
                    // Sizes that are not block multiples, seq_q != seq_k, GQA; one block
                    // size per head_dim (smaller blocks cut the query tiles down).
                    let block = [64, 32, 128][di % 3];
                    let (nq, nk) = [(200, 200), (130, 190), (257, 257)][di % 3];
                    let shape = Shape::new(1, nq, 4, d).with_seq_k(nk).with_kv_heads(2);
                    for (pi, (name, p)) in patterns(nq, nk, block).into_iter().enumerate() {
                        // The whole pattern list at the first head_dim; a rotating share after.
                        if di > 0 && pi % 3 != di % 3 {
                            continue;
                        }
                        let mask = BlockMask::new(&p, nq, nk, block).unwrap();
                        let c = MaskCase { shape, dtype, tier, block, causal: pi == 2 };
                        ran += 1;
                        if let Err(e) = check_masked(ctx, &c, name, &mask) {
                            failures.push(e);
                        }
                    }
                    // Per-head masks (one per head).
                    let ph = [Pattern::Causal, Pattern::Window { left: 16, right: 16 }, Pattern::All, Pattern::Global(5)];
                    let mask = BlockMask::per_head(&ph, nq, nk, block).unwrap();
                    ran += 1;
                    if let Err(e) = check_masked(ctx, &MaskCase { shape, dtype, tier, block, causal: false }, "per-head", &mask) {
                        failures.push(e);
                    }
                }
            }
        }
    }
    eprintln!("{ran} masked cases");
    assert!(failures.is_empty(), "{} masked cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// The shuffle kernel's block-sparse build with its reduce-scatter options (PIPE above
/// all: a tile's P·V runs in the next tile's body, with one more round at the end of
/// each span of blocks; with it P through workgroup memory, PSM, and the next tile's
/// loads before the closing barrier, TAIL, or after Q·K^T, EARLY, which restart with each
/// span, and two K/V areas used by alternate tiles across spans, DBUF) on every pattern, f32 and f16, against the f64 reference. The
/// adapter's default subgroup kernel may be another one (lavapipe runs the broadcast
/// kernel), so the pipelines are built explicitly here; blocks are the query tile's
/// rows or 64, whichever is larger.
#[test]
fn shuffle_kernel_options_with_masks_match_reference() {
    use ringattn::kernels::flash::{prepare_shuffle_with, shuffle_config_for, ShuffleOpts};
    let mut failures = Vec::new();
    let (mut ran, mut with_pipe, mut with_psm, mut with_dbuf, mut with_dbuf_psm) = (0, 0, 0, 0, 0);
    for ctx in contexts().iter().filter(|c| c.info().backend != wgpu::Backend::Gl && c.capabilities().tiers().contains(&Tier::Subgroup)) {
        let dtypes: Vec<Dtype> = [Dtype::F32, Dtype::F16].into_iter().filter(|&d| d == Dtype::F32 || ctx.capabilities().shader_f16).collect();
        // (8,4,16) at 64: a shape whose two K/V areas and P area (DBUF with PSM) fit
        // lavapipe's 32 KiB, unlike the GPU defaults at 64 and 128.
        for (r, m, bk, d) in [(8, 4, 16, 128), (4, 4, 32, 64), (8, 4, 16, 64)] {
            let Some(cfg) = shuffle_config_for(ctx, d, r, m, bk) else { continue };
            let block = (cfg.bq as usize).next_power_of_two().max(64);
            let (nq, nk) = (300, 333);
            let shape = Shape::new(1, nq, 4, d).with_seq_k(nk).with_kv_heads(2);
            let sets = [
                (false, false, false, false, false, false, false),
                (true, false, true, false, false, false, false),
                (false, true, true, false, false, false, true),
                (true, false, true, true, true, false, false),
                (true, false, true, true, true, true, false),
                (true, false, true, true, true, true, true),
            ];
            for (oi, &(unm, rsp, pipe, tail, psm, early, dbuf)) in sets.iter().enumerate() {
                for (di, &dtype) in dtypes.iter().enumerate() {
                    let lim = ctx.capabilities().limits.max_compute_workgroup_storage_size;
                    let psm = psm && ringattn::kernels::flash::shuffle_psm_fits(d, &cfg, lim);
                    let dbuf = dbuf && ringattn::kernels::flash::shuffle_dbuf_runs(ctx, d, &cfg, psm);
                    let opts = ShuffleOpts { rs: true, unm, rsp, pipe, sparse: true, tail, psm, early, dbuf, ..Default::default() };
                    let prep = prepare_shuffle_with(ctx, dtype, d, cfg, opts).unwrap();
                    // Every pattern with PIPE in f32; half of them (in turn) elsewhere.
                    let every = pipe && dtype == Dtype::F32;
                    for (pi, (name, p)) in patterns(nq, nk, block).into_iter().enumerate().filter(|(pi, _)| every || (pi + oi + di) % 2 == 0) {
                        let mask = BlockMask::new(&p, nq, nk, block).unwrap();
                        let c = MaskCase { shape, dtype, tier: Tier::Subgroup, block, causal: (pi + oi) % 4 == 1 };
                        ran += 1;
                        with_pipe += pipe as usize;
                        with_psm += psm as usize;
                        with_dbuf += dbuf as usize;
                        with_dbuf_psm += (dbuf && psm) as usize;
                        if let Err(e) = check_masked_with(ctx, &c, name, &mask, Some(&prep)) {
                            failures.push(format!("r={r} m={m} bk={bk} {opts:?}: {e}"));
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "{ran} masked shuffle-kernel cases, {with_pipe} with PIPE, {with_psm} of those with PSM, {with_dbuf} with DBUF ({with_dbuf_psm} with PSM)"
    );
    assert!(ran == 0 || with_psm > 0, "PSM must run");
    assert!(ran == 0 || with_dbuf > 0, "DBUF must run");
    assert!(ran == 0 || with_dbuf_psm > 0, "DBUF with PSM must run");
    assert!(failures.is_empty(), "{} cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// Rows with no allowed key give O = 0 and LSE = -inf exactly (never NaN).
#[test]
fn fully_masked_rows_are_zero() {
    for ctx in contexts() {
        let _g = gl_guard(ctx);
        let (n, block): (usize, usize) = (300, 64);
        let rows = n.div_ceil(block);
        // Query block 1 has no key block at all; query block 3 only partial blocks that
        // allow nothing for odd rows.
        let keep: Vec<bool> = (0..rows * rows).map(|x| x / rows != 1).collect();
        let p = Pattern::blocks(rows, rows, keep).and(Pattern::from_fn(|i, _| i / 64 != 3 || i % 2 == 0));
        let mask = BlockMask::new(&p, n, n, block).unwrap();
        for tier in ctx.capabilities().tiers() {
            // The matrix tier in both dtypes (f32: its split kernel).
            let dtypes: &[Dtype] = if tier == Tier::Matrix { &[Dtype::F16, Dtype::F32] } else { &[Dtype::F32] };
            for &dtype in dtypes {
                if resolve_tier(ctx, Some(tier), dtype, 32).unwrap() != tier {
                    continue;
                }
                let s = Shape::new(1, n, 2, 32);
                check_masked(ctx, &MaskCase { shape: s, dtype, tier, block, causal: false }, "empty rows", &mask).unwrap();
                let t = |seed, dims| GpuTensor::from_f32(ctx, &reference::random_vec(s.q_len(), seed), dims, dtype).unwrap();
                let attn = Attention::new(ctx, AttentionOptions { tier: Some(tier), ..Default::default() });
                let out = attn.forward_masked(&t(1, s.q_dims()), &t(2, s.kv_dims()), &t(3, s.kv_dims()), &mask.upload(ctx).unwrap()).unwrap();
                let (o, lse) = (out.o.to_f32_vec(ctx).unwrap(), out.lse.to_vec(ctx).unwrap());
                for h in 0..2 {
                    for i in (64..128).chain((192..256).filter(|i| i % 2 == 1)) {
                        assert_eq!(lse[h * n + i], f32::NEG_INFINITY, "{} {tier}: LSE of masked row {i}", label(ctx));
                        let base = (i * 2 + h) * 32;
                        assert!(o[base..base + 32].iter().all(|&x| x == 0.0), "{} {tier}: O of masked row {i}", label(ctx));
                    }
                }
            }
        }
    }
}

/// Whether the GPU layout with mask rows of `g` query blocks (`BlockMask::layout_words`)
/// lets query `i` of head `h` see key `j`, decoded as the kernels read it; checks that
/// the row's spans are sorted and disjoint.
fn layout_allows(m: &BlockMask, g: usize, (meta, bits): (&[u32], &[u32]), h: usize, i: usize, j: usize) -> bool {
    let (b, rows) = (m.block(), g * m.block());
    let per_head = m.q_blocks().div_ceil(g);
    let cols = m.heads() * per_head + 1;
    let r = (h % m.heads()) * per_head + i / rows;
    let words = rows * b / 32;
    let mut seen = 0;
    let mut hit = None;
    for e in meta[r] as usize..meta[r + 1] as usize {
        let [kb0, n, pi] = [meta[cols + 3 * e], meta[cols + 3 * e + 1], meta[cols + 3 * e + 2]];
        assert!(n > 0 && kb0 >= seen, "spans of row {r} (g {g}) sorted and disjoint");
        seen = kb0 + n;
        if (kb0..kb0 + n).contains(&((j / b) as u32)) {
            let bit = (i % rows) * b + j % b;
            hit = Some(pi == ringattn::mask::FULL || (bits[pi as usize * words + bit / 32] >> (bit % 32)) & 1 == 1);
        }
    }
    hit.unwrap_or(false)
}

/// The merged-row layouts (rows of 1 to 8 query blocks, the last one short) give every
/// (query, key) pair the mask gives, for every pattern and per-head masks.
#[test]
fn merged_mask_rows_keep_every_pair() {
    for (nq, nk, block) in [(100, 100, 16), (130, 200, 32), (300, 190, 16), (257, 257, 64)] {
        let mut masks: Vec<(String, BlockMask)> =
            patterns(nq, nk, block).into_iter().map(|(name, p)| (name.to_string(), BlockMask::new(&p, nq, nk, block).unwrap())).collect();
        let ph = [Pattern::Causal, Pattern::Window { left: 16, right: 16 }, Pattern::All, Pattern::Global(5)];
        masks.push(("per-head".into(), BlockMask::per_head(&ph, nq, nk, block).unwrap()));
        for (name, m) in &masks {
            for g in [1, 2, 4, 8] {
                let (meta, bits) = m.layout_words(g);
                for h in 0..m.heads() {
                    for i in 0..nq {
                        for j in 0..nk {
                            assert_eq!(
                                layout_allows(m, g, (&meta, &bits), h, i, j),
                                m.allows(h, i, j),
                                "{name} {nq}x{nk} block {block}, rows of {g} blocks: head {h} ({i}, {j})"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Rows are merged where that costs little work (causal, windows, dense), never for a
/// random mask (each merged row would visit nearly every row's blocks), and never past
/// `mask::TALL_ROWS` queries.
#[test]
fn tall_rows_merge_structured_masks_only() {
    let factor = |p: &Pattern, block| BlockMask::new(p, 4096, 4096, block).unwrap().tall_factor();
    assert_eq!(factor(&Pattern::All, 64), 4);
    assert_eq!(factor(&Pattern::Causal, 64), 4);
    assert_eq!(factor(&Pattern::Causal, 16), 16);
    assert_eq!(factor(&Pattern::Causal.and(Pattern::Window { left: 2048, right: 0 }), 64), 4);
    // 17 blocks a row, 20 in rows of 4 (18 % more work), 18 in rows of 2.
    assert_eq!(factor(&Pattern::Causal.and(Pattern::Window { left: 1024, right: 0 }), 64), 2);
    assert_eq!(factor(&Pattern::Window { left: 1024, right: 1024 }.or(Pattern::Global(64)), 128), 2);
    assert_eq!(factor(&Pattern::Random { density: 0.1, seed: 7 }, 64), 1);
    assert_eq!(factor(&Pattern::All, 256), 1);
    // A window one block wide doubles its work in rows of two blocks: not merged.
    assert_eq!(factor(&Pattern::Window { left: 0, right: 0 }, 64), 1);
}

/// Masks with merged rows run taller query tiles in the tiers whose tiles are taller
/// than a block (on every adapter at least one), and match the reference: 16-token
/// blocks, sizes that are not multiples of the merged rows, seq_q != seq_k, GQA,
/// causal with a mask, per-head masks.
/// The (tier, dtype, head_dim) cases the masked tests run on `ctx`: every tier it runs
/// at the tests' head_dim (32 on GL llvmpipe, else 64), f32 and (where the adapter has
/// it) f16.
fn tier_dtypes(ctx: &GpuContext) -> Vec<(Tier, Dtype, usize)> {
    let d = if is_cpu_gl(ctx) { 32 } else { 64 };
    let dtypes: Vec<Dtype> = [Dtype::F32, Dtype::F16].into_iter().filter(|&d| d == Dtype::F32 || ctx.capabilities().shader_f16).collect();
    let tiers = ctx.capabilities().tiers();
    let cases = tiers.into_iter().flat_map(|tier| dtypes.iter().map(move |&dtype| (tier, dtype, d)));
    cases.filter(|&(tier, dtype, d)| resolve_tier(ctx, Some(tier), dtype, d).unwrap() == tier).collect()
}

#[test]
fn merged_mask_rows_run_taller_tiles() {
    let mut failures = Vec::new();
    for ctx in contexts() {
        let _g = gl_guard(ctx);
        let mut taller = 0;
        for (tier, dtype, d) in tier_dtypes(ctx) {
            let (nq, nk, block) = (300, 333, 16);
            let shape = Shape::new(1, nq, 4, d).with_seq_k(nk).with_kv_heads(2);
            let ph = [Pattern::Causal, Pattern::Window { left: 140, right: 8 }, Pattern::All, Pattern::Global(5).or(Pattern::Causal)];
            let cases = [
                ("causal", BlockMask::new(&Pattern::Causal, nq, nk, block).unwrap(), false),
                ("causal window 200", BlockMask::new(&Pattern::Causal.and(Pattern::Window { left: 200, right: 0 }), nq, nk, block).unwrap(), true),
                (
                    "window 100 | global 3",
                    BlockMask::new(&Pattern::Window { left: 100, right: 100 }.or(Pattern::Global(3)), nq, nk, block).unwrap(),
                    false,
                ),
                ("per-head", BlockMask::per_head(&ph, nq, nk, block).unwrap(), false),
            ];
            let attn = Attention::new(ctx, AttentionOptions { tier: Some(tier), ..Default::default() });
            for (name, mask, causal) in &cases {
                let gm = mask.upload(ctx).unwrap();
                assert!(gm.tall_rows().is_some(), "{name}: merged rows");
                let (_, cfg) = attn.tiles(dtype, &shape, Some(&gm)).unwrap();
                taller += (cfg.bq as usize > block) as usize;
                eprintln!("{}: {tier} {dtype:?} {name}: merged rows of {:?}, query tiles of {}", label(ctx), gm.tall_rows(), cfg.bq);
                let c = MaskCase { shape, dtype, tier, block, causal: *causal };
                if let Err(e) = check_masked(ctx, &c, &format!("{name} (query tiles of {})", cfg.bq), mask) {
                    failures.push(e);
                }
            }
        }
        assert!(taller > 0, "{}: no tier ran query tiles taller than a 16-token block", label(ctx));
    }
    assert!(failures.is_empty(), "{} cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// The rows a layout lists for launches over the whole mask (after its row pointers
/// and spans): every (head, row) once, by key blocks, longest first.
fn launch_order(mask: &BlockMask, g: usize) -> (Vec<u32>, Vec<u32>) {
    let (meta, _) = mask.layout_words(g);
    let rows = mask.heads() * mask.q_blocks().div_ceil(g);
    let spans = meta[rows] as usize;
    let blocks: Vec<u32> = (0..rows).map(|r| (meta[r] as usize..meta[r + 1] as usize).map(|e| meta[rows + 1 + 3 * e + 1]).sum()).collect();
    (meta[rows + 1 + 3 * spans..].to_vec(), blocks)
}

#[test]
fn mask_rows_are_listed_longest_first() {
    let n = 256;
    let random = |density, seed| Pattern::Random { density, seed };
    let masks = [
        BlockMask::new(&random(0.3, 3), n, n, 16).unwrap(),
        BlockMask::new(&Pattern::Causal, n, n, 16).unwrap(),
        BlockMask::per_head(&[random(0.3, 1), Pattern::Causal, random(0.6, 2), Pattern::Global(20)], n, n, 32).unwrap(),
    ];
    for (i, mask) in masks.iter().enumerate() {
        for g in [1, 2, 4] {
            let (order, blocks) = launch_order(mask, g);
            let mut seen = order.clone();
            seen.sort_unstable();
            assert_eq!(seen, (0..blocks.len() as u32).collect::<Vec<_>>(), "mask {i}, g={g}: every (head, row) once");
            assert!(order.windows(2).all(|w| blocks[w[0] as usize] >= blocks[w[1] as usize]), "mask {i}, g={g}: longest first");
            assert!(blocks.windows(2).any(|w| w[0] != w[1]), "mask {i}: rows of unequal work (the order is a test)");
        }
    }
    // A causal mask's rows in reverse, as built-in causal launches run them.
    let (order, _) = launch_order(&masks[1], 1);
    assert_eq!(order, (0..16).rev().collect::<Vec<u32>>());
}

/// Launches over a whole mask run its rows longest first (`FlashParams::mask_order`):
/// each workgroup finds its head and query tile in the mask's list. Random masks (rows
/// of unequal work), shared and per-head, causal; two batch elements, GQA; query tiles
/// of one mask row and of part of one (128-token blocks); against the f64 reference. A
/// launch that maps a workgroup to the wrong head or tile leaves poisoned rows or mixes
/// heads.
#[test]
fn whole_mask_launches_run_rows_longest_first() {
    let mut failures = Vec::new();
    for ctx in contexts() {
        let _g = gl_guard(ctx);
        let (mut ordered, mut split_rows) = (0, 0);
        for (tier, dtype, d) in tier_dtypes(ctx) {
            let attn = Attention::new(ctx, AttentionOptions { tier: Some(tier), ..Default::default() });
            for (n, block) in [(256, 64), (256, 32), (250, 64), (256, 128)] {
                let shape = Shape::new(2, n, 4, d).with_kv_heads(2);
                let random = |density, seed| Pattern::Random { density, seed };
                let cases = [
                    ("random 0.4", BlockMask::new(&random(0.4, 11), n, n, block).unwrap(), false),
                    (
                        "per-head random",
                        BlockMask::per_head(&[random(0.5, 1), random(0.3, 2), Pattern::Causal, random(0.7, 3)], n, n, block).unwrap(),
                        false,
                    ),
                    ("random 0.6, causal", BlockMask::new(&random(0.6, 5).or(Pattern::Window { left: 0, right: 0 }), n, n, block).unwrap(), true),
                ];
                for (name, mask, causal) in &cases {
                    let gm = mask.upload(ctx).unwrap();
                    let (_, cfg) = attn.tiles(dtype, &shape, Some(&gm)).unwrap();
                    let rows = gm.tall_rows().filter(|_| cfg.bq as usize > block).unwrap_or(block);
                    if flash::mask_order_fits(n, rows, n, 0, cfg.bq as usize, *causal) {
                        ordered += 1;
                        split_rows += (rows > cfg.bq as usize) as usize;
                    }
                    let c = MaskCase { shape, dtype, tier, block, causal: *causal };
                    if let Err(e) = check_masked(ctx, &c, &format!("{name} (N={n}, query tiles of {})", cfg.bq), mask) {
                        failures.push(e);
                    }
                }
            }
        }
        eprintln!("{}: {ordered} launches ran rows longest first, {split_rows} of them with rows of several tiles", label(ctx));
        assert!(ordered > 0 && split_rows > 0, "{}: no launch ran a mask's rows longest first (or none with rows of several tiles)", label(ctx));
    }
    assert!(failures.is_empty(), "{} cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// The launch orders other than the default, each in a child process (they are chosen
/// by environment variables): per head (`RINGATTN_HEADS_TOGETHER=0`; also the
/// masks' index order), heads together named (`=1`, the default's value), and index
/// order (`RINGATTN_LONGEST_FIRST=0`).
#[test]
fn launch_orders_match_reference() {
    for var in [("RINGATTN_HEADS_TOGETHER", "0"), ("RINGATTN_HEADS_TOGETHER", "1"), ("RINGATTN_LONGEST_FIRST", "0")] {
        common::run_child("child_launch_order", &[var]);
    }
}

/// Causal launches (reverse order) and masks (a random per-head mask: the rows longest
/// first where heads go together; a causal mask: reverse order) on the first adapter,
/// every tier, against the f64 reference; two batch elements, GQA.
#[test]
fn child_launch_order() {
    if !common::is_child() {
        return;
    }
    let ctx = &contexts()[0];
    let _g = gl_guard(ctx);
    let mut failures = Vec::new();
    for (tier, _, d) in tier_dtypes(ctx).into_iter().filter(|&(_, dtype, _)| dtype == Dtype::F32) {
        let shape = Shape::new(2, 256, 4, d).with_kv_heads(2);
        let c = Case { shape, dtype: Dtype::F32, causal: true, scale: None, tier };
        if let Err(e) = check_case(ctx, &c) {
            failures.push(e);
        }
        let random = |density, seed| Pattern::Random { density, seed };
        let masks = [
            ("per-head random", BlockMask::per_head(&[random(0.5, 1), random(0.3, 2), Pattern::Causal, random(0.7, 3)], 256, 256, 64).unwrap()),
            ("causal", BlockMask::new(&Pattern::Causal, 256, 256, 32).unwrap()),
        ];
        for (name, mask) in &masks {
            let c = MaskCase { shape, dtype: Dtype::F32, tier, block: mask.block(), causal: false };
            if let Err(e) = check_masked(ctx, &c, name, mask) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{} cases failed:\n{}", failures.len(), failures.join("\n"));
}
