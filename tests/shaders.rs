//! Every WGSL kernel, rendered with every specialization the library uses, must parse,
//! validate and translate to SPIR-V, MSL, HLSL and GLSL with naga (the same front and
//! back ends wgpu uses on Vulkan, Metal, DX12 and GL). No GPU needed.
//!
//! Adding a shader to `ringattn::kernels::sources::ALL` makes `every_shader_translates`
//! panic until its specializations are listed in [`specializations`] below.

mod common;

use ringattn::kernels::{render, sources};
use ringattn::{Dtype, SUPPORTED_HEAD_DIMS};

type Defines = Vec<(&'static str, String)>;

const DTYPES: [Dtype; 2] = [Dtype::F32, Dtype::F16];

/// The WebGPU minimum of `max_compute_workgroup_storage_size`, what the portable tier's
/// tiles fit on every adapter (they take up to 24 KiB where the adapter has them; see
/// `kernels::flash::portable_config_for`).
const MIN_WG_BYTES: u32 = 16384;

/// Largest power of two <= x (x >= 1).
fn pow2_floor(x: u32) -> u32 {
    1 << (31 - x.max(1).leading_zeros())
}

/// (bq, bk) of the portable flash tier for `head_dim` with one invocation per query row,
/// on any adapter that meets the WebGPU minimum limits (the subgroup tier's one-row
/// kernel takes the same K/V tiles).
fn portable_tiles(head_dim: usize) -> (u32, u32) {
    let bk = pow2_floor((MIN_WG_BYTES / (2 * 4 * head_dim as u32)).min(32));
    (64, bk)
}

/// `enable f16;` when any dtype is f16 (mirrors `kernels::enable_line`).
fn enable(dtypes: &[Dtype]) -> String {
    ringattn::kernels::enable_line(dtypes)
}

/// Subgroup sizes an adapter may report (wgpu allows 4..=128 for the subgroup tier).
const SUBGROUP_SIZES: [u32; 6] = [4, 8, 16, 32, 64, 128];

/// Subgroup sizes of the broadcast variant, which the library picks on CPU adapters
/// only: their subgroup size is the SIMD width (4 with SSE/NEON, 8 with AVX2, 16 with
/// AVX-512; 32 as margin). Larger sizes would unroll to 9k-18k WGSL lines per variant
/// (naga alone needs 10-40 s for each); `library_tiles_are_covered` fails if an
/// adapter here ever picks one.
const BCAST_SUBGROUP_SIZES: [u32; 4] = [4, 8, 16, 32];

/// Lanes per query row of the split-D subgroup kernel for a minimum subgroup size
/// (mirrors `kernels::flash::subgroup_config`).
fn subgroup_lanes(sg_min: u32, head_dim: usize) -> u32 {
    let d4 = head_dim as u32 / 4;
    let mut r = 1;
    while r * 2 <= sg_min.max(1) && d4.is_multiple_of(r * 2) && d4 / (r * 2) >= 4 {
        r *= 2;
    }
    r
}

/// Every set of template substitutions the host code renders shader `name` with.
///
/// The define names must be exactly those of the host code (`kernels::flash`,
/// `kernels::merge`). A shader that is not listed here fails the test on purpose.
fn specializations(name: &str) -> Vec<Defines> {
    let mut out = rule_specializations(name);
    for v in recorded_specializations(name) {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The specializations [`recorded_specializations`] lists: what the library built on GPUs
/// that the rules here do not generate (`tests/data/gpu_specializations.json`, each with
/// the adapter it was recorded on; [`built_pipelines_are_translated`] prints the missing
/// ones of an adapter in that form).
const GPU_SPECIALIZATIONS: &str = include_str!("data/gpu_specializations.json");

/// Recorded specializations of shader `name` (define names interned as the static
/// strings the renderer takes).
fn recorded_specializations(name: &str) -> Vec<Defines> {
    let doc: serde_json::Value = serde_json::from_str(GPU_SPECIALIZATIONS).expect("tests/data/gpu_specializations.json parses");
    let entries = doc["recorded"].as_array().expect("a `recorded` array");
    let intern = |n: &str| -> &'static str { Box::leak(n.to_string().into_boxed_str()) };
    entries
        .iter()
        .filter(|e| e["kernel"] == name)
        .map(|e| {
            let defs = e["defines"].as_array().expect("`defines` pairs");
            defs.iter().map(|p| (intern(p[0].as_str().expect("a name")), p[1].as_str().expect("a value").to_string())).collect()
        })
        .collect()
}

/// A recorded entry for `key` built on `adapter`, as `tests/data/gpu_specializations.json`
/// holds them.
fn record_line(adapter: &str, kernel: &str, defines: &Defines) -> String {
    let defs: Vec<[&str; 2]> = defines.iter().map(|(n, v)| [*n, v.as_str()]).collect();
    serde_json::json!({ "adapter": adapter, "kernel": kernel, "defines": defs }).to_string()
}

/// The specializations the rules below generate (every flash kernel with its
/// grid-transposed twins).
fn rule_specializations(name: &str) -> Vec<Defines> {
    let mut out = flash_specializations(name);
    if !name.starts_with("flash_") {
        return out;
    }
    // Every flash pipeline has its twin with the grid transposed (GRID_T, kernels::flash::
    // KernelSpec): every 16th specialization and the first dense and block-sparse ones.
    let sparse = |v: &Defines| v.iter().any(|(n, x)| *n == "SPARSE" && x == "1");
    let firsts = [out.iter().position(|v| !sparse(v)), out.iter().position(sparse)];
    let mut twins = Vec::new();
    for (i, v) in out.iter_mut().enumerate() {
        v.push(("GRID_T", "0".to_string()));
        if i % 16 == 0 || firsts.contains(&Some(i)) {
            let mut t = v.clone();
            t.last_mut().unwrap().1 = "1".to_string();
            twins.push(t);
        }
    }
    out.extend(twins);
    out
}

fn flash_specializations(name: &str) -> Vec<Defines> {
    let dense = base_specializations(name);
    // flash_tiled and flash_regs list their sparse variants themselves (their tiles
    // depend on the mask block); flash_decode runs dense launches only.
    if !name.starts_with("flash_") || name == "flash_tiled" || name == "flash_regs" || name == "flash_decode" {
        return dense;
    }
    // Every flash kernel also has a block-sparse variant (SPARSE=1, kernels::flash::
    // prepare_sparse), whose query tiles may be cut down to the mask block (16, 32, 64).
    let mut out = Vec::new();
    for d in dense {
        for sparse in ["0", "1"] {
            let mut v = d.clone();
            v.push(("SPARSE", sparse.to_string()));
            out.push(v);
        }
        if name != "flash_matrix" && d.iter().any(|(n, v)| *n == "HEAD_DIM" && v == "64") {
            for bq in [16u32, 32] {
                let mut v = d.clone();
                let mut ok = true;
                for (n, val) in v.iter_mut() {
                    if *n == "BQ" {
                        ok &= val.parse::<u32>().unwrap() > bq;
                        *val = bq.to_string();
                    }
                    if *n == "S" {
                        ok &= bq % val.parse::<u32>().unwrap() == 0;
                    }
                }
                v.push(("SPARSE", "1".to_string()));
                if ok && !out.contains(&v) {
                    out.push(v);
                }
            }
        }
    }
    out
}

fn base_specializations(name: &str) -> Vec<Defines> {
    let mut out = Vec::new();
    match name {
        // kernels::flash::portable_pipeline at portable_config_for's tiles (rows split
        // over two invocations from head_dim 64) in 16 and 24 KiB, with one, two and four
        // invocations per row (RINGATTN_PORTABLE_SPLIT), and in 32 and 48 KiB
        // (RINGATTN_PORTABLE_BYTES).
        "flash_portable" => {
            for dtype in DTYPES {
                for &d in SUPPORTED_HEAD_DIMS {
                    let splits = [Some(1), Some(2), Some(4)].map(|s| (s, MIN_WG_BYTES));
                    let sizes = [16384, 24576, 32768, 49152].map(|b| (None, b));
                    for (split, bytes) in splits.into_iter().chain(sizes) {
                        let c = ringattn::kernels::flash::portable_config_split(d, bytes, 256, split);
                        let v = ringattn::kernels::flash::portable_defines(dtype, d, &c);
                        if !out.contains(&v) {
                            out.push(v);
                        }
                    }
                }
            }
        }
        // kernels::flash::subgroup_pipeline, split-D variant: R lanes per row for every
        // subgroup size, 128 invocations, K/V tiles as in the portable tier.
        "flash_subgroup" => {
            for dtype in DTYPES {
                for &d in SUPPORTED_HEAD_DIMS {
                    let mut lanes: Vec<u32> = SUBGROUP_SIZES.iter().map(|&sg| subgroup_lanes(sg, d)).collect();
                    lanes.extend(ringattn::kernels::flash::SHUFFLE_MEASURED.iter().filter(|x| x.0 == d).map(|x| x.1));
                    // Decode launches' lanes (shuffle_decode_config: 4 rows, 16-key tiles).
                    lanes.extend(SUBGROUP_SIZES.iter().map(|&sg| ringattn::kernels::flash::shuffle_decode_lanes(d, sg)));
                    lanes.sort_unstable();
                    lanes.dedup();
                    for r in lanes {
                        // shuffle_config's defaults (4 rows per group, tiles of at most
                        // SUBGROUP_BK keys, or SUBGROUP_BK_RS = 16 with RS), 16-key tiles
                        // (the tests), and the one-row kernel with the portable tiles
                        // (RINGATTN_SUBGROUP_CFG; prepare_subgroup_with in the tests).
                        // Also the measured defaults (SHUFFLE_MEASURED) at their head_dims.
                        use ringattn::kernels::flash::{shuffle_stage_round, shuffle_stage_tiles, SHUFFLE_MEASURED};
                        let sg_bk = ringattn::kernels::flash::SUBGROUP_BK;
                        let mut shapes = vec![(4, portable_tiles(d).1.min(sg_bk)), (4, portable_tiles(d).1.min(16)), (1, portable_tiles(d).1)];
                        shapes.extend(SHUFFLE_MEASURED.iter().filter(|x| x.0 == d && x.1 == r).map(|x| (x.2, x.3)));
                        for (m, bk) in shapes {
                            // With and without the reduce-scatter (RS) where it applies.
                            use ringattn::kernels::flash::{shuffle_rs_defines, shuffle_rs_fits};
                            // (the former also with the mask skipped on whole tiles, UNM,
                            // rounds without selects, RSP, and P·V a tile behind, PIPE).
                            let rs_modes =
                                if shuffle_rs_fits(r, m, bk) { vec![(false, false), (true, false), (true, true)] } else { vec![(false, false)] };
                            for (rs, unm) in rs_modes {
                                let pipe = unm;
                                let mut v = vec![
                                    ("BK", bk.to_string()),
                                    ("BQ", ((128 / r).max(1) * m).to_string()),
                                    ("ENABLE", enable(&[dtype])),
                                    ("HEAD_DIM", d.to_string()),
                                    ("IN", dtype.wgsl().to_string()),
                                    ("OUT", dtype.wgsl().to_string()),
                                    ("C", (d as u32 / 4 / r).to_string()),
                                    ("LOG2LANES", r.trailing_zeros().to_string()),
                                    ("M", m.to_string()),
                                    ("R", r.to_string()),
                                ];
                                // K/V staged 16 KiB per barrier in one round of at
                                // most 4 vec4 units per invocation (shuffle_staging).
                                // PIPE stages one tile per barrier.
                                // With RS also the next tile's loads before the closing
                                // barrier (TAIL: every unit in one round) and, with PIPE,
                                // P through workgroup memory (PSM, m a multiple of 4).
                                let nsub = if pipe { 1 } else { shuffle_stage_tiles(d, bk, 16384) };
                                let tail = ringattn::kernels::flash::shuffle_tail_round(d, bk, nsub, 128).filter(|_| rs);
                                let sch = tail.unwrap_or_else(|| shuffle_stage_round(d, bk, nsub, 128));
                                let psm = pipe && m % 4 == 0;
                                v.extend([("NSUB", nsub.to_string()), ("SCH", sch.to_string())]);
                                v.extend(shuffle_rs_defines(r, m, bk, rs));
                                v.push(("UNM", (unm as u32).to_string()));
                                v.push(("RSP", (unm as u32).to_string()));
                                v.push(("PIPE", (pipe as u32).to_string()));
                                v.push(("TAIL", (tail.is_some() as u32).to_string()));
                                v.push(("PSM", (psm as u32).to_string()));
                                // EARLY: the next tile's loads after Q·K^T (PIPE with TAIL).
                                v.push(("EARLY", ((pipe && tail.is_some()) as u32).to_string()));
                                v.push(("M4", (m / 4).to_string()));
                                // DBUF: two K/V areas, one barrier per tile (PIPE; f32
                                // builds only, so both forms are rendered).
                                v.push(("DBUF", ((pipe && dtype == Dtype::F32) as u32).to_string()));
                                out.push(v);
                            }
                        }
                    }
                }
            }
        }
        // kernels::flash::subgroup_pipeline, broadcast variant (CPU adapters with a
        // fixed subgroup size S, head_dim <= 128): BQ = max(64 / S, 1) * S.
        "flash_bcast" => {
            for dtype in DTYPES {
                for &d in SUPPORTED_HEAD_DIMS.iter().filter(|&&d| d <= 128) {
                    for sg in BCAST_SUBGROUP_SIZES {
                        out.push(vec![
                            ("BQ", ((64 / sg).max(1) * sg).to_string()),
                            ("D4", (d / 4).to_string()),
                            ("ENABLE", enable(&[dtype])),
                            ("HEAD_DIM", d.to_string()),
                            ("IN", dtype.wgsl().to_string()),
                            ("OUT", dtype.wgsl().to_string()),
                            ("S", sg.to_string()),
                        ]);
                    }
                }
            }
        }
        // kernels::flash::subgroup_pipeline, register-tiled variant (GPUs): whatever
        // tiled_config_for picks for every subgroup size, workgroup-memory limit and
        // query-tile cap (mask blocks of 16 and 32 tokens), dense and block-sparse.
        "flash_tiled" => {
            use ringattn::kernels::flash::{tiled_defines_with, tiled_shapes_with, TiledOpts};
            for dtype in DTYPES {
                for &d in SUPPORTED_HEAD_DIMS {
                    for sg in SUBGROUP_SIZES {
                        for wg_bytes in [16384, 32768, 49152, 65536] {
                            for (max_bq, sparse) in [(u32::MAX, false), (u32::MAX, true), (32, true), (16, true)] {
                                // Every shape that fits, P·V by shuffles (PSH) or through
                                // P^T (RINGATTN_TILED_PSH; the first shape of the default
                                // is the default; the others RINGATTN_TILED_CFG may force).
                                for cfg_psh in [false, true] {
                                    for cfg in tiled_shapes_with(d, sg, wg_bytes, 1024, max_bq, cfg_psh) {
                                        // The default code shape, loops not unrolled with
                                        // and without prefetch (RINGATTN_TILED_OPTS), UNM
                                        // and KONE off.
                                        let base = TiledOpts { psh: cfg_psh, ..TiledOpts::for_tiles(d, &cfg) };
                                        let rolled = TiledOpts { du: 1, ju: 4, prefetch: false, ..base };
                                        let plain = TiledOpts { unm: false, kone: false, ..base };
                                        for opts in [base, rolled, TiledOpts { prefetch: true, ..rolled }, plain] {
                                            if opts.fits(d as u32, &cfg) {
                                                let defines = tiled_defines_with(d, dtype, &cfg, sparse, opts);
                                                if !out.contains(&defines) {
                                                    out.push(defines);
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // kernels::flash::matrix_pipeline: f16 and f32 (split); every tile shape the library may pick
        // (defaults, tuner candidates) for every subgroup size and workgroup limits
        // that `matrix_config_for` accepts.
        "flash_matrix" => {
            use ringattn::kernels::flash::{default_matrix_shape, matrix_candidates, matrix_config_for, matrix_defines, MATRIX_HEAD_DIMS};
            for (dtype, &d) in DTYPES.iter().flat_map(|&t| MATRIX_HEAD_DIMS.iter().map(move |d| (t, d))) {
                let mut shapes = vec![default_matrix_shape(dtype, d)];
                shapes.extend_from_slice(matrix_candidates(dtype));
                // Block-sparse launches with 16- or 32-token mask blocks (prepare_sparse),
                // and decode launches' 16-key tiles (kernels::flash::DECODE_SHAPE).
                shapes.extend_from_slice(&[(1, 2, 32), (1, 1, 32), ringattn::kernels::flash::DECODE_SHAPE]);
                for shape in shapes {
                    for sg in [16, 32, 64] {
                        for wg_bytes in [16384, 32768, 49152, 65536] {
                            for invocations in [256, 1024] {
                                if let Some(cfg) = matrix_config_for(dtype, d, shape, sg, wg_bytes, invocations) {
                                    let mut defines = matrix_defines(dtype, d, &cfg);
                                    // WIDE as the library builds it with RINGATTN_MATRIX_WIDE=0 (on for
                                    // f16 where fragment staging does not fit).
                                    let wide_off = if ringattn::kernels::flash::matrix_wide(dtype, d, &cfg, Some("0")) { "1" } else { "0" };
                                    // RINGATTN_MATRIX_ROLL=1: the 16-key-block loops kept as loops.
                                    // SCALE_POS (for a positive scale) and MREF: on in f16
                                    // pipelines.
                                    let pos = if dtype == Dtype::F16 { "1" } else { "0" };
                                    // The switches matrix_pipeline adds (TREE by matrix_tree).
                                    let switches = |pipe: &str, wide: &str, unpack: &str, pos: &str, mref: &str| -> Defines {
                                        let tree = if ringattn::kernels::flash::matrix_tree(&cfg, d, pipe == "1") { "1" } else { "0" };
                                        [("PIPE", pipe), ("WIDE", wide), ("UNPACK", unpack), ("SCALE_POS", pos), ("TREE", tree), ("MREF", mref)]
                                            .map(|(n, v)| (n, v.to_string()))
                                            .to_vec()
                                    };
                                    let mut rolled = defines.clone();
                                    rolled.push(("ROLLN", "1".into()));
                                    rolled.extend(switches("0", wide_off, "0", pos, pos));
                                    defines.push(("ROLLN", "0".into()));
                                    if shape == default_matrix_shape(dtype, d) && sg == 32 && !out.contains(&rolled) {
                                        out.push(rolled);
                                    }
                                    // f16: the pipelined tile loop (PIPE) and K/V read as 4-element
                                    // units (WIDE), as the library builds them, and each one off.
                                    if dtype == Dtype::F16 {
                                        // UNPACK: the wide units as u32 pairs (adapters with
                                        // SHADER_F16_IN_F32), else vec4<f16>.
                                        // SCALE_POS off: the softmax of a scale <= 0. MREF off:
                                        // the lazy rescale (RINGATTN_MATRIX_MREF=0).
                                        for (pipe, wide, unpack, pos, mref) in [
                                            ("1", "1", "1", "1", "1"),
                                            ("1", "1", "1", "0", "1"),
                                            ("0", "1", "1", "1", "1"),
                                            ("1", "1", "0", "1", "1"),
                                            ("1", wide_off, "0", "1", "1"),
                                            ("1", "1", "1", "1", "0"),
                                        ] {
                                            let mut v = defines.clone();
                                            v.extend(switches(pipe, wide, unpack, pos, mref));
                                            if !out.contains(&v) {
                                                out.push(v);
                                            }
                                        }
                                    }
                                    defines.extend(switches("0", wide_off, "0", pos, pos));
                                    if !out.contains(&defines) {
                                        out.push(defines);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // kernels::merge::encode_merge_parts_in_pass: any (acc, part) dtype pair, every
        // head dim, 1 to 7 parts per dispatch (1 and 3 at every head dim, the rest at 128).
        "merge" => {
            for acc in DTYPES {
                for part in DTYPES {
                    for &d in SUPPORTED_HEAD_DIMS {
                        for k in 1..=7 {
                            if k <= 1 || k == 3 || d == 128 {
                                out.push(ringattn::kernels::merge::merge_defines(acc, part, d, k));
                            }
                        }
                        // The slots of key parts run in one launch (Attention: in the
                        // call's dtype; 15 and 31 slots as decode launches take them).
                        if acc == part {
                            for k in [2, 15, 31] {
                                out.push(ringattn::kernels::merge::merge_slots_defines(acc, d, k));
                            }
                        }
                    }
                }
            }
        }

        // kernels::gather::encode: any (src, dst) dtype pair, vec4 or scalar elements.
        "gather" => {
            for src in DTYPES {
                for dst in DTYPES {
                    for vec4 in [false, true] {
                        out.push(ringattn::kernels::gather::defines(src, dst, vec4));
                    }
                }
            }
        }
        // kernels::gather::encode_dilated_merge: any (acc, part) dtype pair, every head dim.
        // kernels::flash::encode_keys (the split kernel's K/V scan): no template names.
        "kv_absmax" => out.push(Vec::new()),
        // kernels::regs::regs_defines (the matrix tier's register kernel, dense f16 only):
        // every tuner candidate at every matrix head_dim with the library's switches, and
        // the default tiles with each switch flipped and with an A layout that permutes
        // the accumulator's elements.
        "flash_regs" => out.extend(regs_specializations()),
        // kernels::flash::decode_stream_config_for's tiles (dense only): every dtype,
        // head_dim, row count and subgroup size it takes, at the default keys per step
        // and workgroup, and with the overrides of RINGATTN_DECODE_KB / _WG / _G / _PREF
        // at 4 rows, head_dim 128, 32 lanes.
        "flash_decode" => {
            use ringattn::kernels::flash::{decode_stream_config_for, decode_stream_defines, DecodeStreamOpts, DECODE_STREAM_ROWS};
            let tweaks = [
                DecodeStreamOpts { kb: Some(1), ..Default::default() },
                DecodeStreamOpts { kb: Some(8), ..Default::default() },
                DecodeStreamOpts { wg: Some(512), ..Default::default() },
                DecodeStreamOpts { lanes: Some(8), ..Default::default() },
                DecodeStreamOpts { pref: Some(true), ..Default::default() },
                DecodeStreamOpts { pref: Some(true), kb: Some(2), ..Default::default() },
            ];
            for dtype in DTYPES {
                for &d in SUPPORTED_HEAD_DIMS {
                    for rows in 1..=DECODE_STREAM_ROWS {
                        for sg in SUBGROUP_SIZES {
                            let opts =
                                std::iter::once(DecodeStreamOpts::default()).chain(tweaks.into_iter().filter(|_| d == 128 && rows == 4 && sg == 32));
                            for o in opts {
                                if let Some(cfg) = decode_stream_config_for(dtype, d, rows, sg, 49152, 1024, o) {
                                    let v = decode_stream_defines(dtype, d, &cfg, sg);
                                    if !out.contains(&v) {
                                        out.push(v);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        "dilated_merge" => {
            for acc in DTYPES {
                for part in DTYPES {
                    for &d in SUPPORTED_HEAD_DIMS {
                        out.push(ringattn::kernels::gather::dilated_merge_defines(acc, part, d));
                    }
                }
            }
        }
        other => panic!(
            "shader `{other}` is in ringattn::kernels::sources::ALL but tests/shaders.rs does not \
             know how the host specializes it: add an arm for it to `specializations()` listing \
             every set of defines the host code renders it with"
        ),
    }
    out
}

/// The NVIDIA layout the probe found on H100s (mma.m16n8k16 fragments).
fn nv_layout(perm: [u32; 8]) -> ringattn::kernels::regs::CoopLayout {
    ringattn::kernels::regs::CoopLayout { roff: [0, 0, 0, 0, 8, 8, 8, 8], coff: [0, 1, 8, 9, 0, 1, 8, 9], perm }
}

fn regs_specializations() -> Vec<Defines> {
    use ringattn::kernels::flash::{default_regs_shape, regs_config_for, regs_sparse_pick, MATRIX_HEAD_DIMS, REGS_CANDIDATES};
    use ringattn::kernels::regs::{regs_defines_with, RegsSwitches};
    let mut out = Vec::new();
    let on = RegsSwitches { scale_pos: true, lazy: false, dbuf: true, sparse: false };
    // Under a block mask (kernels::flash::regs_config_sparse): each mask block size's
    // pick, with and without DBUF and SCALE_POS.
    for &d in MATRIX_HEAD_DIMS {
        for &block in ringattn::mask::BLOCK_SIZES {
            let Some(cfg) = regs_sparse_pick(d, block, 49152, 1024, || default_regs_shape(d)) else { continue };
            assert!(cfg.bq as usize <= block && cfg.bk <= 64, "head_dim {d}, block {block}: {cfg:?}");
            let sparse = RegsSwitches { sparse: true, ..on };
            for sw in [sparse, RegsSwitches { dbuf: false, ..sparse }, RegsSwitches { scale_pos: false, ..sparse }] {
                let v = regs_defines_with(d, &cfg, &nv_layout([0, 1, 2, 3, 4, 5, 6, 7]), sw);
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
    }
    for &d in MATRIX_HEAD_DIMS {
        let default = default_regs_shape(d);
        // (kernels::flash::DECODE_SHAPE_REGS: decode launches' one-block query tiles.)
        for &shape in std::iter::once(&default).chain(REGS_CANDIDATES).chain([ringattn::kernels::flash::DECODE_SHAPE_REGS].iter()) {
            let Some(cfg) = regs_config_for(d, shape, 49152, 1024) else { continue };
            let mut variants = vec![(on, [0, 1, 2, 3, 4, 5, 6, 7])];
            if shape == default {
                variants.push((RegsSwitches { scale_pos: false, ..on }, [0, 1, 2, 3, 4, 5, 6, 7]));
                variants.push((RegsSwitches { lazy: true, ..on }, [0, 1, 2, 3, 4, 5, 6, 7]));
                variants.push((RegsSwitches { dbuf: false, ..on }, [0, 1, 2, 3, 4, 5, 6, 7]));
                variants.push((on, [0, 1, 4, 5, 2, 3, 6, 7]));
            }
            for (sw, perm) in variants {
                let v = regs_defines_with(d, &cfg, &nv_layout(perm), sw);
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// The register kernel as the library builds it on Vulkan: SPIR-V with debug names, and
/// its four element helpers rewritten (`kernels::regs::spirv_coop_elements`) in every
/// specialization.
#[test]
fn register_kernel_helpers_are_rewritten() {
    let mut failures = Vec::new();
    for defines in regs_specializations() {
        let src = render(sources::FLASH_REGS, &defines);
        let what = describe(&defines);
        match ringattn::context::vulkan_spirv_named(&src, false, true) {
            Ok(spirv) => match ringattn::kernels::regs::spirv_coop_elements(&spirv.words) {
                Ok((_, 4)) => {}
                Ok((_, n)) => failures.push(format!("{what}: {n} helpers rewritten, expected 4")),
                Err(e) => failures.push(format!("{what}: {e}")),
            },
            Err(e) => failures.push(format!("{what}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// WGSL source without `//` comments (for feature detection).
fn strip_comments(src: &str) -> String {
    src.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Naga validation capabilities a rendered module needs, on top of naga's defaults
/// (what every wgpu device has): from its `enable` directives, SUBGROUP when it uses
/// subgroup built-ins (wgpu grants those with Features::SUBGROUP, no directive),
/// SUBGROUP_BARRIER when it calls `subgroupBarrier` (Features::SUBGROUP_BARRIER, which
/// the context requests where the adapter has it) and SHADER_FLOAT16_IN_FLOAT32 when it
/// unpacks f16 pairs.
fn capabilities_for(src: &str) -> naga::valid::Capabilities {
    use naga::valid::Capabilities as C;
    let mut caps = C::default();
    let code = strip_comments(src);
    if code.contains("subgroup") {
        caps |= C::SUBGROUP;
    }
    if code.contains("subgroupBarrier") {
        caps |= C::SUBGROUP_BARRIER;
    }
    // f16 precision in f32 values (wgpu grants it with DownlevelFlags::SHADER_F16_IN_F32;
    // the matrix kernel uses it only where the adapter reports that flag).
    if code.contains("unpack2x16float") {
        caps |= C::SHADER_FLOAT16_IN_FLOAT32;
    }
    for line in src.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("enable ") else { continue };
        for ext in rest.trim_end_matches(';').split(',') {
            caps |= match ext.trim() {
                "f16" => C::SHADER_FLOAT16,
                "subgroups" => C::SUBGROUP | C::SUBGROUP_BARRIER,
                "wgpu_cooperative_matrix" => C::COOPERATIVE_MATRIX,
                other => panic!("tests/shaders.rs: map `enable {other};` to naga capabilities in capabilities_for()"),
            };
        }
    }
    caps
}

/// Bounds-check policies as wgpu applies them (index and buffer accesses restricted).
fn policies() -> naga::proc::BoundsCheckPolicies {
    use naga::proc::BoundsCheckPolicy::Restrict;
    naga::proc::BoundsCheckPolicies { index: Restrict, buffer: Restrict, ..Default::default() }
}

fn describe(defines: &Defines) -> String {
    defines.iter().map(|(n, v)| if v.is_empty() { format!("{n}=''") } else { format!("{n}={v}") }).collect::<Vec<_>>().join(" ")
}

/// Parses, validates and translates one rendered shader. Returns (backends that ran,
/// failures as "stage: message").
fn check_one(src: &str) -> (Vec<&'static str>, Vec<String>) {
    use naga::back::{glsl, hlsl, msl, spv};
    let mut ran = Vec::new();
    let mut fails = Vec::new();

    let module = match naga::front::wgsl::parse_str(src) {
        Ok(m) => m,
        Err(e) => return (ran, vec![format!("WGSL parse: {}", e.emit_to_string(src))]),
    };
    let caps = capabilities_for(src);
    let uses_f16 = caps.contains(naga::valid::Capabilities::SHADER_FLOAT16);
    let info = match naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps).validate(&module) {
        Ok(i) => i,
        Err(e) => return (ran, vec![format!("validation (capabilities {caps:?}): {}", e.emit_to_string(src))]),
    };
    let eps: Vec<String> = module.entry_points.iter().filter(|e| e.stage == naga::ShaderStage::Compute).map(|e| e.name.clone()).collect();
    if eps.is_empty() {
        fails.push("no compute entry point".into());
    }

    for ep in &eps {
        // SPIR-V (Vulkan): 1.0; 1.3 for subgroup operations; 1.6 (Vulkan 1.3) for
        // cooperative matrices.
        let subgroups = caps.contains(naga::valid::Capabilities::SUBGROUP);
        let coop = caps.contains(naga::valid::Capabilities::COOPERATIVE_MATRIX);
        let opts = spv::Options {
            lang_version: if coop {
                (1, 6)
            } else if subgroups {
                (1, 3)
            } else {
                (1, 0)
            },
            bounds_check_policies: policies(),
            ..Default::default()
        };
        let popts = spv::PipelineOptions { shader_stage: naga::ShaderStage::Compute, entry_point: ep.clone() };
        match spv::write_vec(&module, &info, &opts, Some(&popts)) {
            Ok(words) if words.first() == Some(&0x0723_0203) => ran.push("spv"),
            Ok(_) => fails.push(format!("SPIR-V ({ep}): output lacks the SPIR-V magic number")),
            Err(e) => fails.push(format!("SPIR-V ({ep}): {e}")),
        }

        // MSL (Metal): 2.1, 2.3 for cooperative (simdgroup) matrices.
        let opts = msl::Options { lang_version: if coop { (2, 3) } else { (2, 1) }, bounds_check_policies: policies(), ..Default::default() };
        let popts = msl::PipelineOptions { entry_point: Some((naga::ShaderStage::Compute, ep.clone())), ..Default::default() };
        match msl::write_string(&module, &info, &opts, &popts) {
            Ok((s, _)) if s.contains("kernel") => ran.push("msl"),
            Ok(_) => fails.push(format!("MSL ({ep}): output has no kernel function")),
            Err(e) => fails.push(format!("MSL ({ep}): {e}")),
        }

        // wgpu offers cooperative matrices on Vulkan and Metal only (naga's HLSL and
        // GLSL writers have none).
        if coop {
            continue;
        }
        // HLSL (DX12): SM 5.1 (FXC) for f32; f16 needs DXC and SM 6.2.
        let sm = if uses_f16 || subgroups { hlsl::ShaderModel::V6_2 } else { hlsl::ShaderModel::V5_1 };
        let opts = hlsl::Options { shader_model: sm, ..Default::default() };
        let popts = hlsl::PipelineOptions { entry_point: Some((naga::ShaderStage::Compute, ep.clone())) };
        let mut s = String::new();
        match hlsl::Writer::new(&mut s, &opts, &popts).write(&module, &info, None) {
            Ok(_) if s.contains("numthreads") => ran.push("hlsl"),
            Ok(_) => fails.push(format!("HLSL {sm:?} ({ep}): output has no [numthreads]")),
            Err(e) => fails.push(format!("HLSL {sm:?} ({ep}): {e}")),
        }

        // GLSL (GL/GLES): compute shaders need ES 3.1 or desktop 4.3. wgpu's GL backend
        // offers neither SHADER_F16 nor SUBGROUP (and naga's GLSL writer has no f16), so
        // variants needing them are not translated to GLSL: they can never run there.
        if uses_f16 || subgroups {
            continue;
        }
        for version in [glsl::Version::new_gles(310), glsl::Version::Desktop(430)] {
            let opts = glsl::Options { version, ..Default::default() };
            let popts = glsl::PipelineOptions { shader_stage: naga::ShaderStage::Compute, entry_point: ep.clone(), multiview: None };
            let mut s = String::new();
            let r = glsl::Writer::new(&mut s, &module, &info, &opts, &popts, policies()).and_then(|mut w| w.write());
            match r {
                Ok(_) if s.contains("local_size_x") => ran.push(if matches!(version, glsl::Version::Desktop(_)) { "glsl430" } else { "glsl310es" }),
                Ok(_) => fails.push(format!("GLSL {version:?} ({ep}): output has no local_size_x layout")),
                Err(e) => fails.push(format!("GLSL {version:?} ({ep}): {e}")),
            }
        }
    }
    (ran, fails)
}

/// `sources::ALL` plus the shaders the host builds that are not listed there.
fn all_shaders() -> Vec<(&'static str, &'static str)> {
    let mut v = sources::ALL.to_vec();
    if !v.iter().any(|(n, _)| *n == "flash_matrix") {
        v.push(("flash_matrix", sources::FLASH_MATRIX));
    }
    v
}

#[test]
fn every_shader_translates() {
    let mut failures = Vec::new();
    let mut total = 0;
    // SHADERS_ONLY=name[,name...] limits the run to those shaders (development).
    let only = std::env::var("SHADERS_ONLY").ok();
    for (name, source) in all_shaders() {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|n| n == name)) {
            continue;
        }
        let specs = specializations(name);
        assert!(!specs.is_empty(), "shader `{name}` has no specializations listed");
        for defines in specs {
            total += 1;
            let src = render(source, &defines);
            let what = format!("{name} [{}]", describe(&defines));
            if let Some(pos) = src.find('$') {
                let end = src[pos..].find(|c: char| !(c == '$' || c.is_ascii_alphanumeric() || c == '_')).map_or(src.len(), |e| pos + e);
                failures.push(format!("{what}: unreplaced template placeholder `{}`", &src[pos..end]));
                continue;
            }
            let t0 = std::time::Instant::now();
            let (ran, fails) = check_one(&src);
            eprintln!(
                "{what}: ok on {ran:?}{} ({} lines, {:.2} s)",
                if fails.is_empty() { String::new() } else { format!(", {} failure(s)", fails.len()) },
                src.lines().count(),
                t0.elapsed().as_secs_f64()
            );
            failures.extend(fails.into_iter().map(|f| format!("{what}: {f}")));
        }
    }
    assert!(failures.is_empty(), "{} of the shader translations failed ({total} specializations):\n{}", failures.len(), failures.join("\n\n"));
}

/// Every define a shader's source uses (`$NAME`) is given by each of its
/// specializations, and no specialization gives a define the source does not use.
#[test]
fn specializations_match_template_names() {
    let mut problems = Vec::new();
    for (name, source) in all_shaders() {
        // The source as render() sees it: with its `//#include`s pasted in.
        let source = &ringattn::kernels::include(source);
        // Placeholder names as the host's render() matches them: `$` then [A-Z0-9_]+,
        // where a trailing `u` literal suffix is not part of the name (`$BKu`).
        let mut used: Vec<String> = Vec::new();
        // `//#if NAME` conditions are defines too.
        for line in source.lines() {
            if let Some(n) = line.trim_start().strip_prefix("//#if ") {
                if !used.contains(&n.trim().to_string()) {
                    used.push(n.trim().to_string());
                }
            }
        }
        for (i, _) in source.match_indices('$') {
            let n: String = source[i + 1..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            if !n.is_empty() && !used.contains(&n) {
                used.push(n);
            }
        }
        for defines in specializations(name) {
            for u in &used {
                if !defines.iter().any(|(n, _)| n == u) {
                    problems.push(format!("{name}: `${u}` is used by the source but missing from [{}]", describe(&defines)));
                }
            }
            for (n, _) in &defines {
                if !used.iter().any(|u| u == n) {
                    problems.push(format!("{name}: define `{n}` is not used by the source"));
                }
            }
        }
    }
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The tiles the library actually picks on each available adapter are among those
/// translated above.
#[test]
fn library_tiles_are_covered() {
    for ctx in common::contexts() {
        let caps = ctx.capabilities();
        for &d in SUPPORTED_HEAD_DIMS {
            let cfg = ringattn::kernels::flash::portable_config(&ctx, d);
            assert!(
                [16384, 24576].iter().any(|&b| ringattn::kernels::flash::portable_config_for(d, b, 256) == cfg),
                "portable_config on {} for head_dim {d} picks tiles that tests/shaders.rs does not translate: {cfg:?}",
                ctx.describe()
            );
            let one_row = ringattn::kernels::flash::portable_config_split(d, MIN_WG_BYTES, 256, Some(1));
            assert_eq!((one_row.bq, one_row.bk), portable_tiles(d), "head_dim {d}: update portable_tiles()");
            if !caps.tiers().contains(&ringattn::Tier::Subgroup) {
                continue;
            }
            use ringattn::kernels::flash::{tiled_config_for, SgVariant};
            let cfg = ringattn::kernels::flash::subgroup_config(&ctx, Dtype::F32, d);
            let covered = if cfg.variant == SgVariant::Broadcast {
                d <= 128 && BCAST_SUBGROUP_SIZES.contains(&cfg.bk) && cfg.bq == (64 / cfg.bk).max(1) * cfg.bk
            } else if let SgVariant::Tiled { .. } = cfg.variant {
                let lim = &caps.limits;
                [16384, 32768, 49152, 65536].contains(&lim.max_compute_workgroup_storage_size)
                    && Some(cfg) == tiled_config_for(d, caps.subgroup_min_size, lim.max_compute_workgroup_storage_size, 1024, u32::MAX)
            } else {
                // The rule's shapes, or a measured one (flash::SHUFFLE_MEASURED) in its
                // workgroup (flash::SHUFFLE_WG).
                use ringattn::kernels::flash::{shuffle_wg_default, SHUFFLE_MEASURED};
                let key = (d, cfg.r, cfg.m, cfg.bk);
                let measured = SHUFFLE_MEASURED.contains(&key) && cfg.bq == (shuffle_wg_default(Some(key), Dtype::F32) / cfg.r).max(1) * cfg.m;
                measured
                    || (cfg.r == subgroup_lanes(caps.subgroup_min_size, d)
                        && cfg.m == 4
                        && cfg.bq == (128 / cfg.r).max(1) * 4
                        && cfg.bk == portable_tiles(d).1.min(ringattn::kernels::flash::shuffle_bk_max(cfg.r, 4, None)))
            };
            assert!(covered, "subgroup_config on {} for head_dim {d} gives {cfg:?}, which tests/shaders.rs does not translate", ctx.describe());
        }
    }
}

/// Every flash pipeline the library builds on each adapter for a representative set of
/// calls (each tier, dtype and head_dim the adapter takes; dense launches of 4096 tokens
/// and of 1024 with one head, causal and not, decode launches of one and two tokens of
/// 4 query heads per K/V head, and block-sparse launches over 64-token blocks; built-in
/// tiles, `RINGATTN_TUNE=0`) is among the specializations translated above (the rules'
/// and the recorded ones), its grid-transposed twin (GRID_T) counting as its form.
/// `library_tiles_are_covered` checks tile shapes; this checks every template
/// substitution, the build options the library adds per adapter included. On a GPU whose
/// builds differ from the rules (the H200's measured shapes and options), the failure
/// lists the missing builds as entries for `tests/data/gpu_specializations.json`.
#[test]
fn built_pipelines_are_translated() {
    if !common::is_child() {
        common::run_child("built_pipelines_are_translated", &[("RINGATTN_TUNE", "0")]);
        return;
    }
    use ringattn::kernels::flash;
    use ringattn::Shape;
    let mut missing = Vec::new();
    let mut checked = 0;
    for ctx in common::contexts() {
        let caps = ctx.capabilities();
        let cpu = ctx.info().device_type == wgpu::DeviceType::Cpu;
        // (llvmpipe's GL driver takes minutes to compile these; its tier is the portable
        // one, whose pipelines lavapipe's Vulkan builds here too.)
        if cpu && ctx.info().backend == wgpu::Backend::Gl {
            continue;
        }
        let dims: &[usize] = if cpu { &[64, 128] } else { SUPPORTED_HEAD_DIMS };
        let dtypes: Vec<Dtype> = DTYPES.into_iter().filter(|&t| t == Dtype::F32 || caps.shader_f16).collect();
        for tier in caps.tiers() {
            for &dtype in &dtypes {
                for &d in dims {
                    // (An error is a combination the tier does not take: the library falls
                    // back to a lower tier there.)
                    let _ = flash::prepare(&ctx, tier, dtype, d);
                    let shapes = [
                        (Shape::new(1, 4096, 8, d), false),
                        (Shape::new(1, 4096, 8, d), true),
                        (Shape::new(1, 1024, 1, d), true),
                        (Shape::new(2, 1, 8, d).with_seq_k(4096).with_kv_heads(2), false),
                        (Shape::new(1, 2, 32, d).with_seq_k(16384).with_kv_heads(8), true),
                    ];
                    for (shape, causal) in shapes {
                        if let Ok(prep) = flash::prepare_for(&ctx, tier, dtype, &shape, causal) {
                            let _ = flash::prepare_launch(&ctx, &prep, d, causal, false, 0.125);
                        }
                    }
                    let _ = flash::prepare_sparse(&ctx, tier, dtype, d, 64);
                }
            }
        }
        let mut lists: std::collections::HashMap<&str, Vec<Defines>> = std::collections::HashMap::new();
        for key in ctx.built_pipelines() {
            if !key.kernel.starts_with("flash_") {
                continue;
            }
            checked += 1;
            let norm = |v: &Defines| {
                let mut v: Defines = v.iter().map(|(n, x)| (*n, if *n == "GRID_T" { "0".to_string() } else { x.clone() })).collect();
                v.sort();
                v
            };
            let list = lists.entry(key.kernel).or_insert_with(|| specializations(key.kernel).iter().map(norm).collect());
            if !list.contains(&norm(&key.defines)) {
                missing.push(record_line(&ctx.describe(), key.kernel, &key.defines));
            }
        }
    }
    eprintln!("{checked} built flash pipelines checked");
    assert!(
        missing.is_empty(),
        "{} built pipelines are not translated by every_shader_translates (add these entries to tests/data/gpu_specializations.json, or a rule that makes them):\n{}",
        missing.len(),
        missing.join(",\n")
    );
}

/// The checker itself catches broken shaders (so a pass above means something).
#[test]
fn checker_reports_failures() {
    let (_, f) = check_one("fn main( {}");
    assert!(f.iter().any(|m| m.starts_with("WGSL parse")), "{f:?}");
    // f16 without `enable f16;` must fail validation or parsing.
    let (_, f) =
        check_one("@group(0) @binding(0) var<storage, read_write> x: array<f16>;\n@compute @workgroup_size(1) fn main() { x[0] = f16(1.0); }");
    assert!(!f.is_empty(), "f16 without enable was accepted");
    let (_, f) = check_one("fn helper() {}");
    assert!(f.iter().any(|m| m.contains("no compute entry point")), "{f:?}");
    let (ran, f) = check_one("@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n@compute @workgroup_size(1) fn main() { x[0] = 1.0; }");
    assert!(f.is_empty(), "{f:?}");
    assert_eq!(ran, ["spv", "msl", "hlsl", "glsl310es", "glsl430"]);
}

/// The SPIR-V the library writes for RINGATTN_ROLLED_LOOPS: a kernel with loops gets
/// each `OpLoopMerge` marked `DontUnroll` (loop control 0x2) and nothing else changed;
/// a kernel without loops is left as it is.
#[test]
fn spirv_loops_marked_dont_unroll() {
    use ringattn::context::{spirv_dont_unroll, vulkan_spirv};
    let src = "@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    var acc = 0.0;
    for (var i = 0u; i < arrayLength(&x); i += 64u) { acc += x[i]; }
    loop { if acc > 1.0 { break; } acc += 1.0; }
    x[id.x] = acc;
}";
    let spirv = vulkan_spirv(src, true, true).unwrap();
    assert_eq!(spirv.workgroup_size(), (64, 1, 1));
    let words = spirv.words;
    // Loop-merge instructions (opcode 246) and their loop-control words.
    let merges = |w: &[u32]| {
        let (mut i, mut out) = (5, Vec::new());
        while i < w.len() && w[i] >> 16 != 0 {
            if w[i] & 0xffff == 246 {
                out.push((i, w[i + 3]));
            }
            i += (w[i] >> 16) as usize;
        }
        out
    };
    let before = merges(&words);
    assert!(before.len() >= 2, "expected the two loops (and naga's loop bounds), got {before:?}");
    let mut marked = words.clone();
    assert_eq!(spirv_dont_unroll(&mut marked), before.len());
    let after = merges(&marked);
    for ((i, c0), (j, c1)) in before.iter().zip(&after) {
        assert_eq!(i, j);
        assert_eq!(*c1, (c0 & !1) | 2, "loop control of the merge at word {i}");
    }
    let changed: Vec<usize> = (0..words.len()).filter(|&i| words[i] != marked[i]).collect();
    assert!(changed.iter().all(|i| before.iter().any(|(m, _)| m + 3 == *i)), "words other than loop controls changed: {changed:?}");
    let mut plain = vulkan_spirv("@compute @workgroup_size(1) fn main() {}", false, false).unwrap().words;
    assert_eq!(spirv_dont_unroll(&mut plain), 0);
}
