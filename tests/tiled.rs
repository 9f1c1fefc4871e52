//! The subgroup tier's register-tiled kernel (`flash_tiled.wgsl`: where the per-adapter
//! search picks it, or with `RINGATTN_SUBGROUP_VARIANT=tiled`) against the f64 reference
//! on the adapters here.
//! This binary forces the tiled kernel for the whole process
//! (`RINGATTN_SUBGROUP_VARIANT=tiled`, set before any pipeline is built) and checks
//! that it is what the tier picks where it fits: dense attention over head dims with
//! every tile shape that fits (built explicitly; P^T in its own area and aliased with
//! K), causal, GQA, batch, lengths that are not tile multiples; block-sparse masks
//! whose blocks cut the query tiles down;
//! and a key range long enough that a driver's loop cap splits it into chunks that
//! resume from the previous (O, LSE).

mod common;

use common::{check_case, check_masked, check_prepared_rising, gl_guard, label, Case, MaskCase};
use ringattn::kernels::flash::{prepare_subgroup_with, subgroup_config, tiled_config_for, tiled_kq, tiled_shapes_for, SgVariant, TileConfig};
use ringattn::mask::{BlockMask, Pattern};
use ringattn::{Dtype, GpuContext, Shape, Tier};

fn force_tiled() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("RINGATTN_SUBGROUP_VARIANT", "tiled"));
}

/// Contexts with the subgroup tier (GL llvmpipe has no subgroups).
fn contexts() -> Vec<GpuContext> {
    force_tiled();
    common::contexts().into_iter().filter(|c| c.capabilities().tiers().contains(&Tier::Subgroup)).collect()
}

fn dtypes(ctx: &GpuContext) -> Vec<Dtype> {
    [Dtype::F32, Dtype::F16].into_iter().filter(|&d| d == Dtype::F32 || ctx.capabilities().shader_f16).collect()
}

fn is_tiled(ctx: &GpuContext, d: usize) -> bool {
    matches!(subgroup_config(ctx, Dtype::F32, d).variant, SgVariant::Tiled { .. })
}

#[test]
fn tiled_is_picked_where_it_fits() {
    for ctx in contexts() {
        let caps = ctx.capabilities();
        let lim = &caps.limits;
        for d in [32, 64, 80, 96, 128, 256] {
            let fits = tiled_config_for(
                d,
                caps.subgroup_min_size,
                lim.max_compute_workgroup_storage_size,
                lim.max_compute_invocations_per_workgroup,
                u32::MAX,
            );
            assert_eq!(is_tiled(&ctx, d), fits.is_some(), "{}: head_dim {d} gets {:?}", label(&ctx), subgroup_config(&ctx, Dtype::F32, d));
        }
        // head_dim 64 fits in 32 KiB with subgroups of 8 or more lanes.
        if caps.subgroup_min_size >= 8 && lim.max_compute_workgroup_storage_size >= 32768 {
            assert!(is_tiled(&ctx, 64), "{}", label(&ctx));
        }
        assert!(!is_tiled(&ctx, 256), "head_dim 256 does not fit the tiled kernel");
    }
}

/// One tile configuration of the tiled kernel, built explicitly, against the f64
/// reference on fresh inputs (scores rising along the keys by `rise`, 0 for none); the
/// error names the configuration.
fn check_cfg(ctx: &GpuContext, cfg: TileConfig, dtype: Dtype, s: Shape, causal: bool, rise: f32) -> Result<(), String> {
    prepare_subgroup_with(ctx, dtype, s.head_dim, cfg)
        .map_err(|e| e.to_string())
        .and_then(|prep| check_prepared_rising(ctx, &prep, dtype, s, causal, rise))
        .map_err(|e| format!("{cfg:?}: {e}"))
}

/// Every tile shape that fits the adapter (and, with the workgroup memory budget cut
/// down, shapes that put P^T in the K area), built explicitly, against the f64
/// reference: causal or not, GQA, batch, lengths that are not tile multiples; each shape
/// at most twice, and shapes with several key quads per lane among them where one fits.
#[test]
fn tiled_shapes_match_reference() {
    let mut failures = Vec::new();
    let mut ran = 0;
    let mut aliased = 0;
    let mut multi = 0;
    let mut multi_fits = false;
    for ctx in contexts() {
        let _g = gl_guard(&ctx);
        let caps = ctx.capabilities();
        let lim = &caps.limits;
        let cases = [
            (1, 100, 77, 4, 2, 64, true),
            (2, 130, 130, 2, 2, 64, false),
            (1, 64, 200, 2, 1, 32, true),
            (1, 33, 95, 3, 3, 128, false),
            (1, 150, 150, 2, 1, 128, true),
            (1, 70, 129, 2, 2, 96, true),
            (1, 45, 61, 2, 2, 80, false),
            (1, 5, 300, 1, 1, 64, false),
            (1, 90, 70, 2, 1, 32, false),
        ];
        let mut seen = std::collections::HashMap::new();
        for (i, &(b, nq, nk, h, kvh, d, causal)) in cases.iter().enumerate() {
            let full = lim.max_compute_workgroup_storage_size;
            let inv = lim.max_compute_invocations_per_workgroup;
            // Every shape with the adapter's budget, then the first with smaller ones
            // (which alias P^T with K, or pick another shape).
            let mut candidates: Vec<TileConfig> = tiled_shapes_for(d, caps.subgroup_min_size, full, inv, u32::MAX).collect();
            for bytes in [full * 7 / 8, full * 3 / 4] {
                candidates.extend(tiled_shapes_for(d, caps.subgroup_min_size, bytes, inv, u32::MAX).next());
            }
            multi_fits |= candidates.iter().any(|c| tiled_kq(c) > 1);
            let mut cfgs: Vec<TileConfig> = Vec::new();
            for c in candidates {
                let n = seen.entry((c.bq, c.bk, c.m, c.r, c.variant)).or_insert(0);
                if !cfgs.contains(&c) && *n < 2 {
                    *n += 1;
                    cfgs.push(c);
                }
            }
            for (j, cfg) in cfgs.into_iter().enumerate() {
                for dtype in dtypes(&ctx) {
                    // Lighter f16 share.
                    if dtype == Dtype::F16 && (i + j) % 2 == 1 {
                        continue;
                    }
                    let s = Shape::new(b, nq, h, d).with_seq_k(nk).with_kv_heads(kvh);
                    ran += 1;
                    aliased += matches!(cfg.variant, SgVariant::Tiled { palias: true }) as usize;
                    multi += (tiled_kq(&cfg) > 1) as usize;
                    if let Err(e) = check_cfg(&ctx, cfg, dtype, s, causal, 0.0) {
                        failures.push(e);
                    }
                }
            }
        }
    }
    eprintln!("{ran} tiled dense cases ({aliased} with P^T in the K area, {multi} with several key quads per lane)");
    assert!(ran > 0 && aliased > 0, "no tiled shape (or none with P^T aliased) ran");
    assert!(multi > 0 || !multi_fits, "no shape with several key quads per lane ran");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Scores that rise along the keys (K grows 30x from the first key to the last) through
/// the first shape of each head_dim and its first shape with several key quads per
/// lane: the kernel's rescale of O changes O's scale many times per row. f32 and f16,
/// causal or not, lengths that are not tile multiples; outputs poisoned.
#[test]
fn tiled_rising_scores_match_reference() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for ctx in contexts() {
        let _g = gl_guard(&ctx);
        let caps = ctx.capabilities();
        let lim = &caps.limits;
        for d in [32, 64] {
            let shapes: Vec<TileConfig> = tiled_shapes_for(
                d,
                caps.subgroup_min_size,
                lim.max_compute_workgroup_storage_size,
                lim.max_compute_invocations_per_workgroup,
                u32::MAX,
            )
            .collect();
            let first = shapes.first().copied();
            let multi = shapes.iter().find(|c| tiled_kq(c) > 1).copied();
            for cfg in [first, multi].into_iter().flatten() {
                for (dtype, causal) in dtypes(&ctx).into_iter().flat_map(|t| [(t, false), (t, true)]) {
                    ran += 1;
                    let s = Shape::new(1, 150, 2, d).with_seq_k(300).with_kv_heads(1);
                    if let Err(e) = check_cfg(&ctx, cfg, dtype, s, causal, 30.0) {
                        failures.push(e);
                    }
                }
            }
        }
    }
    eprintln!("{ran} tiled rising-score cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Masked attention through the tiled kernel: query tiles cut to 16-, 32- and 64-token
/// blocks, partial blocks, per-head masks, causal on top; NaN in V for keys no block
/// lists (a visit would show).
#[test]
fn tiled_masked_matches_reference() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for ctx in contexts() {
        let _g = gl_guard(&ctx);
        for (block, d, nq, nk) in [(16, 64, 100, 90), (32, 32, 130, 190), (64, 64, 257, 257), (32, 128, 77, 100)] {
            if !is_tiled(&ctx, d) {
                continue;
            }
            let shape = Shape::new(1, nq, 4, d).with_seq_k(nk).with_kv_heads(2);
            let case = |causal| MaskCase { shape, dtype: Dtype::F32, tier: Tier::Subgroup, block, causal };
            let patterns = [
                ("window 20 | global 3", Pattern::Window { left: 20, right: 20 }.or(Pattern::Global(3)), false),
                ("stripes", Pattern::from_fn(|i, j| (i + 2 * j) % 5 != 0), false),
                ("dilated 48/2/1 & causal", Pattern::Dilated { segment: 48, rate: 2, offset: 1 }.and(Pattern::Causal), true),
            ];
            for (name, p, causal) in patterns {
                let mask = BlockMask::new(&p, nq, nk, block).unwrap();
                ran += 1;
                if let Err(e) = check_masked(&ctx, &case(causal), name, &mask) {
                    failures.push(e);
                }
            }
            let ph = [Pattern::Causal, Pattern::Window { left: 16, right: 16 }, Pattern::All, Pattern::Global(5)];
            let mask = BlockMask::per_head(&ph, nq, nk, block).unwrap();
            ran += 1;
            if let Err(e) = check_masked(&ctx, &case(false), "per-head", &mask) {
                failures.push(e);
            }
        }
    }
    eprintln!("{ran} tiled masked cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A key range longer than one chunk where the driver caps loop iterations (Mesa
/// llvmpipe): the later chunks resume from the (O, LSE) the earlier ones wrote.
#[test]
fn tiled_long_keys_resume_across_chunks() {
    for ctx in contexts() {
        if ctx.capabilities().max_loop_iterations.is_none() || !is_tiled(&ctx, 32) {
            continue;
        }
        let _g = gl_guard(&ctx);
        for causal in [false, true] {
            let c = Case { shape: Shape::new(1, 40, 1, 32).with_seq_k(70_000), dtype: Dtype::F32, causal, scale: None, tier: Tier::Subgroup };
            check_case(&ctx, &c).unwrap();
        }
    }
}
