//! Host side of the flash-attention kernels (all tiers share one bind group layout
//! and one parameter block).

use crate::context::{GpuContext, PipelineKey};
use crate::error::{Error, Result};
use crate::kernels::{bind_in_order, enable_line, render, sources, window, Slot, Tier};
use crate::mask::GpuBlockMask;
use crate::tensor::{Dtype, GpuTensor, LseBuffer, Shape};

/// Mirrors `struct Params` in the flash shaders, field by field.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct FlashParams {
    pub seq_q: u32,
    pub seq_k: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub q_off: u32,
    pub k_off: u32,
    pub v_off: u32,
    pub o_off: u32,
    pub lse_off: u32,
    pub causal: u32,
    pub diag: i32,
    pub scale_log2: f32,
    pub q_pos0: u32,
    pub k_pos0: u32,
    pub neg_inf: f32,
    pub ln2: f32,
    pub k_begin: u32,
    pub k_end: u32,
    pub accumulate: u32,
    /// Block mask (zero without one): log2 of the block size, mask rows per head,
    /// number of per-head masks, offset of the column entries in the meta buffer, and
    /// words per partial-block bitmap.
    pub mask_log2b: u32,
    pub mask_nqb: u32,
    pub mask_heads: u32,
    pub mask_cols: u32,
    pub mask_words: u32,
    /// Causal launches ([`longest_first`]): 1 runs the query tiles in reverse order, per
    /// head; 2 in reverse order with each tile's heads together ([`heads_together`]: the
    /// grid is dispatched transposed, (head, tile)). Launches with a `mask_order` have 2
    /// (their grid transposed too).
    pub rev_tiles: u32,
    /// Block mask: log2 of the query tokens per mask row (the block size, or more for
    /// merged rows: `BlockMask::tall_factor`).
    pub mask_log2q: u32,
    /// Block mask: offset in the meta buffer of the layout's rows longest first (0: the
    /// tiles run in index order, or reversed by `rev_tiles`). Set for launches over a
    /// whole mask ([`mask_order_fits`], [`heads_together`]): the (head, query tile) plane
    /// of each batch element then runs the mask's rows by their key blocks, longest
    /// first over all heads, and each row's tiles together (the kernels' `GRID_HEADS`).
    pub mask_order: u32,
    /// Query heads packed into the rows of one grid head ([`gqa_fold`]; 1: none). With
    /// `fold` > 1, `seq_q` counts the launch's rows (tokens x fold) and `heads` its grid
    /// heads (the K/V heads); the kernels address Q, O and LSE in their usual layouts.
    pub fold: u32,
    /// Key parts of a split run by this one launch (1: none; [`encode_key_parts`]): the
    /// launch's grid z is parts x `zb` batch elements, part i of batch element b runs
    /// keys [i * `part_keys`, (i + 1) * `part_keys`) of it (`k_begin`/`k_end` count from
    /// the part's first key) and writes O and LSE as batch element i * `zb` + b.
    pub parts: u32,
    pub part_keys: u32,
    /// Batch elements in this launch (its grid's z, per part).
    pub zb: u32,
    pub _pad: u32,
}

/// Whether a launch of `seq_q` queries from query `q_pos0` with `bq`-row tiles may run
/// the rows of a mask layout of `rows`-query rows longest first
/// ([`FlashParams::mask_order`]): it covers the whole mask (the order lists every row)
/// in whole tiles per row (a last row shorter than the others has fewer tiles; one tile
/// per row, or rows that all hold whole tiles). Built-in causal launches keep the
/// reverse order, the mask's order ignores their limit. The order runs each row's heads
/// together, so it needs [`heads_together`] too.
pub fn mask_order_fits(mask_seq_q: usize, rows: usize, seq_q: usize, q_pos0: usize, bq: usize, causal: bool) -> bool {
    q_pos0 == 0 && seq_q == mask_seq_q && (rows == bq || seq_q.is_multiple_of(rows)) && !causal && longest_first()
}

/// Whether launches that run their longest tiles first ([`longest_first`]) take each
/// query tile's heads together (`RINGATTN_HEADS_TOGETHER=0|off|false`: per head, for
/// comparisons): with the heads apart the last head's longest tiles start when most of
/// the launch has gone, and a launch of a few waves ends on them. On an H200
/// (twenty-eighth session, f16, B=1, H=8, built-in tiles), causal, together against per
/// head: head_dim 64 N=4096 0.141 / 0.163 ms, 16384 1.15 / 1.42, 32768 4.37 / 4.37-4.57,
/// 65536 17.0 / 17.0-17.1; head_dim 128 N=4096 0.189 / 0.264, 16384 2.31 / 2.32, 32768
/// 8.93-9.13 / 9.03-9.30, 65536 45.6-45.9 / 45.4-45.6.
pub fn heads_together() -> bool {
    switch(std::env::var("RINGATTN_HEADS_TOGETHER").ok().as_deref()) != Some(false)
}

/// Whether launches run their longest query tiles first
/// (`RINGATTN_LONGEST_FIRST=0|off|false` turns it off, for comparisons): causal launches
/// their tiles in reverse order, launches over a whole block mask its rows by their key
/// blocks ([`FlashParams::mask_order`]); both with the heads of a tile (or mask row)
/// together. A GPU starts workgroups roughly in index order, so in order the longest
/// tiles would start last and run alone at the end of the launch, and with the heads
/// apart the last head's longest tiles would start late.
pub fn longest_first() -> bool {
    switch(std::env::var("RINGATTN_LONGEST_FIRST").ok().as_deref()) != Some(false)
}

/// Where a (query chunk, key chunk) pair sits in the full sequence, for causal masks.
///
/// Query at chunk row i may see key at chunk row j iff
/// `k_pos0 + j <= q_pos0 + i + diag`. Plain attention uses `q_pos0 = k_pos0 = 0` and
/// `diag = seq_k - seq_q` (bottom-right alignment, as FlashAttention-2 defines it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CausalFrame {
    pub q_pos0: u32,
    pub k_pos0: u32,
    pub diag: i32,
}

impl CausalFrame {
    pub fn bottom_right(seq_q: usize, seq_k: usize) -> Self {
        CausalFrame { q_pos0: 0, k_pos0: 0, diag: seq_k as i32 - seq_q as i32 }
    }
}

/// One flash-attention launch description.
pub struct FlashArgs<'a> {
    pub q: &'a GpuTensor,
    pub k: &'a GpuTensor,
    pub v: &'a GpuTensor,
    pub o: &'a GpuTensor,
    pub lse: &'a LseBuffer,
    pub scale: f32,
    /// `None`: dense. `Some(frame)`: causal in that frame.
    pub causal: Option<CausalFrame>,
    /// Block mask in the coordinates of the whole problem: chunk row i is mask row
    /// `q_pos0 + i` and chunk key j mask column `k_pos0 + j` of `frame` (the causal
    /// frame's positions are used even when `causal` is `None`). The pipeline in
    /// `Prepared` must have been built with [`prepare_sparse`].
    pub mask: Option<(&'a GpuBlockMask, CausalFrame)>,
}

/// Which kernel a tier runs: the subgroup tier's kernels, and the matrix tier's
/// register kernel (`Regs`); elsewhere `Shuffle`, which means nothing there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SgVariant {
    /// `flash_subgroup.wgsl`: `r` lanes split a row's head dimension and sum partial
    /// dot products with shuffles; `m` rows per row group.
    Shuffle,
    /// `flash_bcast.wgsl`: one row per invocation, K/V shared by subgroupBroadcast
    /// (`bk` is the subgroup size; CPU adapters).
    Broadcast,
    /// `flash_tiled.wgsl`: TM x 4KQ register blocks of scores per lane, P through
    /// workgroup memory (where the per-adapter search picks it, or
    /// `RINGATTN_SUBGROUP_VARIANT=tiled`). `palias`: P^T
    /// shares the K^T area.
    Tiled { palias: bool },
    /// Matrix tier: `flash_regs.wgsl`, the softmax on the fragments' elements in
    /// registers (`kernels::regs`); otherwise the tier runs `flash_matrix.wgsl`.
    Regs,
    /// `flash_decode.wgsl` (decode launches, [`decode_stream_config`]): K/V streamed
    /// into registers by groups of `r` lanes per key, `m` keys per group and step, `w`
    /// invocations, `mq` 1 where each step's loads are issued a step ahead (PREF); `bq`
    /// is the rows per workgroup, `bk` the keys of one step.
    Decode,
}

/// Tile shape of a pipeline; part of the pipeline key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileConfig {
    /// Query rows per workgroup.
    pub bq: u32,
    /// Keys per K/V tile.
    pub bk: u32,
    /// Invocations sharing one query row (subgroup tier; 1 elsewhere).
    pub r: u32,
    /// Subgroup tier only: which kernel (see [`SgVariant`]).
    pub variant: SgVariant,
    /// Matrix tier only: 16-row blocks per subgroup and subgroups per workgroup.
    pub mq: u32,
    pub w: u32,
    /// Subgroup tier only: query rows per row group of `r` lanes (shuffle and tiled
    /// variants).
    pub m: u32,
}

impl TileConfig {
    /// Invocations per workgroup: for the subgroup tier's shuffle and tiled kernels row
    /// groups of `r` lanes, `m` query rows each; for `flash_matrix.wgsl` the same sum
    /// (`w` subgroups of `r` 16-row groups of blocks: `bq / m * r`); for the register
    /// kernel `w` subgroups of 32 lanes.
    pub fn invocations(&self) -> u32 {
        match self.variant {
            SgVariant::Regs => self.w * 32,
            SgVariant::Decode => self.w,
            _ => self.bq / self.m.max(1) * self.r,
        }
    }

    /// Short description for reports: query rows and keys per tile, then the tier's own
    /// parameters (`mq`, `w` on the matrix tier; `r`, `m`, `bcast` or `tiled` on the
    /// subgroup tier).
    pub fn describe(&self, tier: Tier) -> String {
        let base = format!("bq={} bk={}", self.bq, self.bk);
        match tier {
            Tier::Portable if self.r > 1 => format!("{base} r={}", self.r),
            Tier::Portable => base,
            Tier::Subgroup => match self.variant {
                SgVariant::Broadcast => format!("{base} bcast"),
                SgVariant::Tiled { palias } => format!("{base} tiled tm={} kq={}{}", self.m, tiled_kq(self), if palias { " palias" } else { "" }),
                SgVariant::Decode => format!("{base} decode g={} kb={} wg={}{}", self.r, self.m, self.w, if self.mq == 1 { " pref" } else { "" }),
                SgVariant::Shuffle | SgVariant::Regs => format!("{base} r={} m={}", self.r, self.m),
            },
            Tier::Matrix => format!("{base} mq={} w={}{}", self.mq, self.w, if self.variant == SgVariant::Regs { " regs" } else { "" }),
        }
    }

    /// Rough count of loop back-edges one invocation executes per key (and per row),
    /// for drivers that cap loop iterations (see `Capabilities::max_loop_iterations`).
    fn loop_cost(&self, tier: Tier, head_dim: usize) -> (u64, u64) {
        let d4 = head_dim as u64 / 4;
        match tier {
            Tier::Portable => {
                let dr = d4 / self.r.max(1) as u64;
                (2 * dr + 3 + d4 / self.bk as u64, 4 * dr + 8)
            }
            Tier::Subgroup => match self.variant {
                SgVariant::Tiled { .. } => {
                    // Per tile: the K^T/V staging loop, the d and key loops (unrolled by du, ju).
                    let (d, bk, wg) = (head_dim as u64, self.bk as u64, self.invocations() as u64);
                    let o = TiledOpts::for_tiles(head_dim, self);
                    let per_tile = (d * bk / 4).div_ceil(wg) + (d / o.du as u64) + (bk / o.ju as u64) + 1;
                    (per_tile.div_ceil(bk), (d * self.bq as u64 / 4).div_ceil(wg) + 8)
                }
                // One key-loop pass per step of bk keys; the merge's loops at the end.
                SgVariant::Decode => {
                    let w = self.w.max(4) as u64;
                    (1, 2 * (d4 * self.bq as u64).div_ceil(w) * (w / 4) + 64)
                }
                _ => (1 + d4 / self.bk as u64, 4 * (d4 / self.r as u64) + 8),
            },
            Tier::Matrix => (2 * d4 + 8, 4 * d4 + 8),
        }
    }
}

/// Checks that q, k and v form one attention problem and returns its shape.
pub fn check_qkv(q: &GpuTensor, k: &GpuTensor, v: &GpuTensor) -> Result<Shape> {
    let [b, n, h, d] = q.dims();
    let [kb, m, kvh, kd] = k.dims();
    let s = Shape { batch: b, seq_q: n, seq_k: m, heads: h, kv_heads: kvh, head_dim: d };
    if kb != b || kd != d {
        return Err(Error::ShapeMismatch { what: "k", expected: format!("({b}, m, kv_heads, {d})"), got: format!("{:?}", k.dims()) });
    }
    if v.dims() != k.dims() {
        return Err(Error::ShapeMismatch { what: "v", expected: format!("{:?} (same as k)", k.dims()), got: format!("{:?}", v.dims()) });
    }
    for (what, t) in [("k", k), ("v", v)] {
        if t.dtype() != q.dtype() {
            return Err(Error::DtypeMismatch { what, expected: q.dtype(), got: t.dtype() });
        }
    }
    s.validate()?;
    Ok(s)
}

/// Checks that q, k, v, o and lse form one attention problem and returns its shape.
pub fn check_shapes(q: &GpuTensor, k: &GpuTensor, v: &GpuTensor, o: &GpuTensor, lse: &LseBuffer) -> Result<Shape> {
    let s = check_qkv(q, k, v)?;
    if o.dims() != q.dims() {
        return Err(Error::ShapeMismatch { what: "o", expected: format!("{:?} (same as q)", q.dims()), got: format!("{:?}", o.dims()) });
    }
    if lse.dims() != s.lse_dims() {
        return Err(Error::ShapeMismatch { what: "lse", expected: format!("{:?}", s.lse_dims()), got: format!("{:?}", lse.dims()) });
    }
    Ok(s)
}

/// The largest power of two <= x (x >= 1).
fn pow2_floor(x: u32) -> u32 {
    1 << (31 - x.max(1).leading_zeros())
}

/// Default tiles for the portable tier on `ctx` ([`portable_config_for`] its limits;
/// for measurements, `RINGATTN_PORTABLE_SPLIT=1|2|4` sets the invocations per query row
/// where the head_dim allows it and `RINGATTN_PORTABLE_BYTES` the workgroup memory the
/// tiles may take, within the adapter's limit).
pub fn portable_config(ctx: &GpuContext, head_dim: usize) -> TileConfig {
    let lim = &ctx.capabilities().limits;
    let env = |name| std::env::var(name).ok().and_then(|v: String| v.trim().parse::<u32>().ok());
    let bytes = lim.max_compute_workgroup_storage_size.min(env("RINGATTN_PORTABLE_BYTES").unwrap_or(PORTABLE_WG_BYTES));
    portable_config_split(head_dim, bytes, max_invocations(lim), env("RINGATTN_PORTABLE_SPLIT"))
}

/// Workgroup memory the portable tier's tiles take at most: 24 KiB where the adapter
/// allows it (16 KiB, the WebGPU minimum, elsewhere). With [`PORTABLE_SPLIT_BK`] that
/// gives head_dims 80-128 16-key tiles (8 in 16 KiB): on an H200 (f32; BENCHMARKS.md,
/// thirtieth session) head_dim 128 ran N=16384 in 89.2 ms against 98.3-98.4 with 8-key
/// tiles and N=4096 in 5.70 against 7.57-7.59; 32-key tiles (40 KiB) took 135 ms.
pub const PORTABLE_WG_BYTES: u32 = 24576;

/// The portable tier's longest key tile with rows split over invocations: at head_dim
/// 64 on an H200 (f32, N=16384) 32-key tiles ran 46.7 ms against 42.5-42.6 with 16.
/// One invocation per row takes up to 32 keys.
pub const PORTABLE_SPLIT_BK: u32 = 16;

/// The portable tier's tiles in `wg_bytes` of workgroup memory with `split` invocations
/// per query row where [`portable_split_fits`] allows it (else [`portable_split`]'s).
pub fn portable_config_split(head_dim: usize, wg_bytes: u32, max_invocations: u32, split: Option<u32>) -> TileConfig {
    let r = split.filter(|&r| portable_split_fits(head_dim, r)).unwrap_or_else(|| portable_split(head_dim));
    // 64 rows, at most 128 invocations when rows are split (their partial scores: 8 KiB).
    let bq = 64.min(128 / r).min(max_invocations / r).max(1);
    let kv_bytes = wg_bytes.saturating_sub(portable_split_bytes(bq, r));
    let most = if r > 1 { PORTABLE_SPLIT_BK } else { 32 };
    let bk = pow2_floor((kv_bytes / (2 * 4 * head_dim as u32)).min(most)).max(8);
    TileConfig { bq, bk, r, variant: SgVariant::Shuffle, mq: 0, w: 0, m: 1 }
}

/// The portable tier's tiles: 64 query rows (32 with four invocations per row; fewer
/// where the adapter allows fewer invocations), each owned by [`portable_split`]
/// invocations; K and V tiles of f32 and the split rows' partial scores in at most
/// [`PORTABLE_WG_BYTES`] of workgroup memory (every backend's adapters have the 16 KiB of
/// the WebGPU minimum); a multiple of 8 keys (the kernel takes them eight at a time) up to
/// 32, or [`PORTABLE_SPLIT_BK`] with rows split. Below 16 KiB, head_dim 256 would need
/// more than the limit: its pipeline then fails to build with an error.
pub fn portable_config_for(head_dim: usize, max_wg_bytes: u32, max_invocations: u32) -> TileConfig {
    portable_config_split(head_dim, max_wg_bytes.min(PORTABLE_WG_BYTES), max_invocations, None)
}

/// Whether the portable kernel can split a query row over `r` invocations at
/// `head_dim`: 1 always; 2 or 4 where each takes whole vec4 columns and the K and V
/// tiles of 8 keys fit beside the partial scores (head_dim <= 128).
pub fn portable_split_fits(head_dim: usize, r: u32) -> bool {
    r == 1 || (matches!(r, 2 | 4) && head_dim <= 128 && head_dim.is_multiple_of(4 * r as usize))
}

/// Invocations per query row in the portable kernel: two from head_dim 64 up to 128,
/// else one. A row's q and O as f32 take 2 head_dim registers (256 at head_dim 128, past what
/// GPUs give one invocation without spilling). On an H200 (f32, N=16384; BENCHMARKS.md,
/// thirtieth session) two invocations per row ran head_dim 128 in 99 ms against 151-160
/// with one, 96 in 65 against 86, 80 in 57 against 62, 64 in 42.5 against 50.4-52.2
/// (each in 16 KiB); four per row ran slower than two at 64 and 128, and two slower than
/// one at 32 (23.5 against 18.6-18.7 ms). At head_dim 256 the K and V tiles alone fill
/// 16 KiB.
pub fn portable_split(head_dim: usize) -> u32 {
    match head_dim {
        d if (64..=128).contains(&d) && portable_split_fits(d, 2) => 2,
        _ => 1,
    }
}

/// Workgroup memory of the portable kernel's partial scores for `bq` rows of `r`
/// invocations: two areas of two vec4 per invocation (none when `r` is 1).
pub fn portable_split_bytes(bq: u32, r: u32) -> u32 {
    match r {
        1 => 0,
        _ => 2 * 2 * 16 * bq * r,
    }
}

/// Default tiles for the subgroup tier: on GPUs the shuffle kernel with the shapes
/// measured fastest where known ([`SHUFFLE_MEASURED`]), else R lanes per row with at
/// least 4 vec4 columns each (fewer shuffles per multiply-add); 128 invocations, K/V
/// staged 16 KiB per barrier ([`SHUFFLE_STAGE_BYTES`]); the workgroup may depend on the
/// dtype ([`SHUFFLE_WG`]).
pub fn subgroup_config(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> TileConfig {
    let caps = ctx.capabilities();
    let lim = &caps.limits;
    // On CPU adapters workgroup-memory reads with lane-varying indexes are gathers;
    // the broadcast variant keeps K/V in registers instead (needs a fixed subgroup size).
    let cpu = ctx.info().device_type == wgpu::DeviceType::Cpu;
    let forced = variant_from_env();
    // The register-tiled kernel on request here (the untuned defaults); where the
    // per-adapter search finds it faster, `subgroup_config_tuned` takes it too.
    if matches!(forced, Some(SgVariant::Tiled { .. })) {
        if let Some(cfg) = tiled_config(ctx, head_dim, u32::MAX) {
            return cfg;
        }
    }
    // Above head_dim 128 its fully unrolled body takes llvmpipe minutes to compile
    // (measured: > 12 min at 256), so wider heads use the shuffle variant there too.
    if cpu && forced.is_none() && head_dim <= 128 && caps.subgroup_min_size == caps.subgroup_max_size && caps.subgroup_min_size >= 4 {
        let sg = caps.subgroup_min_size;
        let bq = (64 / sg).max(1) * sg;
        return TileConfig { bq: bq.min(lim.max_compute_invocations_per_workgroup), bk: sg, r: 1, variant: SgVariant::Broadcast, mq: 0, w: 0, m: 1 };
    }
    shuffle_config(ctx, dtype, head_dim)
}

/// The subgroup tier's tiles for `dtype` and `head_dim` on this adapter, for launches
/// of problem shape `grid` when known: [`subgroup_config`], except where the per-adapter
/// search (`tuning`, cache tier `subgroup`) found another shuffle-kernel shape
/// ([`shuffle_candidates`]) or the register-tiled kernel faster. The tiled kernel: on an
/// H100 at head_dim 64 f32 it won, 20.4 against 21.8-22.4 ms at N=16384, until the
/// shuffle kernel's reduce-scatter took that to 20.3 against the tiled kernel's 20.5
/// (BENCHMARKS.md); it is not taken where its grid would be small (the search compared
/// the kernels on a full grid; the shuffle kernel has small-grid tiles). Not searched
/// when `RINGATTN_SUBGROUP_VARIANT` or `RINGATTN_SUBGROUP_CFG` force a kernel or shape.
fn subgroup_config_tuned(ctx: &GpuContext, dtype: Dtype, head_dim: usize, grid: Option<&Shape>) -> TileConfig {
    let cfg = subgroup_config(ctx, dtype, head_dim);
    if cfg.variant != SgVariant::Shuffle || variant_from_env().is_some() || std::env::var("RINGATTN_SUBGROUP_CFG").is_ok() {
        return cfg;
    }
    match crate::tuning::tuned_subgroup(ctx, dtype, head_dim) {
        Some(crate::tuning::SubgroupPick::Tiled) => {
            let Some(tiled) = tiled_config(ctx, head_dim, u32::MAX) else { return cfg };
            let small = grid.is_some_and(|s| small_grid_on() && grid_workgroups(s, tiled.bq) < small_grid_workgroups(ctx, dtype, head_dim));
            if small {
                cfg
            } else {
                tiled
            }
        }
        Some(crate::tuning::SubgroupPick::Shuffle(Some(shape))) => shuffle_config_tuned_shape(ctx, head_dim, shape).unwrap_or(cfg),
        _ => cfg,
    }
}

/// `RINGATTN_SUBGROUP_VARIANT=shuffle|tiled`: the subgroup tier's kernel on any adapter
/// (`tiled` falls back to `shuffle` where it does not fit; `shuffle` also on CPU
/// adapters, which otherwise take the broadcast kernel).
fn variant_from_env() -> Option<SgVariant> {
    match std::env::var("RINGATTN_SUBGROUP_VARIANT").ok()?.as_str() {
        "shuffle" => Some(SgVariant::Shuffle),
        "tiled" => Some(SgVariant::Tiled { palias: false }),
        _ => None,
    }
}

/// The register-tiled subgroup kernel for this adapter and head_dim, with query tiles
/// of at most `max_bq` rows, or `None` when it does not fit.
pub fn tiled_config(ctx: &GpuContext, head_dim: usize, max_bq: u32) -> Option<TileConfig> {
    let caps = ctx.capabilities();
    let lim = &caps.limits;
    let (sg, bytes, inv) = (caps.subgroup_min_size, lim.max_compute_workgroup_storage_size, lim.max_compute_invocations_per_workgroup);
    // RINGATTN_TILED_CFG=bq,bk,tm,kq tries that shape first (experiments, device sweeps).
    // RINGATTN_TILED_BYTES caps the workgroup memory the shapes may use (experiments:
    // a smaller budget puts P^T in the K^T area, for more workgroups per core).
    let bytes = std::env::var("RINGATTN_TILED_BYTES").ok().and_then(|v| v.parse().ok()).map_or(bytes, |b: u32| b.min(bytes));
    let forced = env_numbers("RINGATTN_TILED_CFG")
        .and_then(|want| tiled_shapes_for(head_dim, sg, bytes, inv, max_bq).find(|c| want == [c.bq, c.bk, c.m, tiled_kq(c)]));
    forced.or_else(|| tiled_config_for(head_dim, sg, bytes, inv, max_bq))
}

/// Tile shapes of the register-tiled kernel, most preferred first: (query rows, keys,
/// rows per lane, key quads per lane).
const TILED_SHAPES: &[(u32, u32, u32, u32)] = &[
    (64, 64, 4, 2),
    (64, 32, 4, 1),
    (64, 64, 8, 2),
    (64, 32, 8, 1),
    (32, 64, 8, 2),
    (32, 32, 4, 1),
    (64, 16, 4, 1),
    (32, 16, 4, 1),
    (16, 32, 4, 1),
    (16, 16, 4, 1),
];

/// The register-tiled subgroup kernel's tiles for a head_dim, minimum subgroup size and
/// workgroup limits (no device needed; the shader tests use it): the first shape of
/// `TILED_SHAPES` with at most `max_bq` rows whose row groups (`bk / 4 / kq` lanes, `r`
/// in the result; `m` rows each) fit in a subgroup and divide the head dimension's vec4
/// columns, with at least 32 invocations over which the K/V tiles' vec4 units divide
/// evenly, and whose Q^T, K, V and P^T fit in workgroup memory (P^T in the K area when
/// that is what makes them fit; no P^T where P·V takes P by shuffles, see
/// [`tiled_psh`]).
pub fn tiled_config_for(head_dim: usize, sg_min: u32, max_wg_bytes: u32, max_invocations: u32, max_bq: u32) -> Option<TileConfig> {
    tiled_shapes_for(head_dim, sg_min, max_wg_bytes, max_invocations, max_bq).next()
}

/// Vec4s of the tiled kernel's K^T area and P^T area.
fn tiled_areas(d: u32, bq: u32, bk: u32) -> (u32, u32) {
    (d * bk / 4, bk * bq / 4)
}

/// The tiled kernel's K column permutation mask: key `key` stores vec4 column c at
/// c ^ (key % tx & mask), the largest power-of-two mask below tx (at most 7, the
/// banks' period in vec4s) that keeps every column inside its row.
fn tiled_swizzle(d: u32, tx: u32) -> u32 {
    let mut m = tx.min(8);
    while m > 1 && !(d / 4).is_multiple_of(m) {
        m /= 2;
    }
    m - 1
}

/// Key quads per lane of a tiled configuration (`bk / 4` keys over `r` lanes).
pub fn tiled_kq(cfg: &TileConfig) -> u32 {
    cfg.bk / 4 / cfg.r
}

/// Every shape of `TILED_SHAPES` that fits (see [`tiled_config_for`]), in order, for
/// the P·V path [`tiled_psh`] gives at this head_dim (`RINGATTN_TILED_PSH` included).
pub fn tiled_shapes_for(head_dim: usize, sg_min: u32, max_wg_bytes: u32, max_invocations: u32, max_bq: u32) -> impl Iterator<Item = TileConfig> {
    let psh = tiled_psh(head_dim, std::env::var("RINGATTN_TILED_PSH").ok().as_deref());
    tiled_shapes_with(head_dim, sg_min, max_wg_bytes, max_invocations, max_bq, psh)
}

/// [`tiled_shapes_for`] with P·V's path given: with `psh` (P by subgroup shuffles)
/// there is no P^T to find room for. Shapes sized this way must be rendered with the
/// same `psh` ([`TiledOpts::psh`]), else P^T may not fit.
pub fn tiled_shapes_with(
    head_dim: usize,
    sg_min: u32,
    max_wg_bytes: u32,
    max_invocations: u32,
    max_bq: u32,
    psh: bool,
) -> impl Iterator<Item = TileConfig> {
    let d = head_dim as u32;
    let d4 = d / 4;
    let ok = d.is_multiple_of(4) && d <= 128;
    TILED_SHAPES.iter().filter(move |_| ok).filter_map(move |&(bq, bk, tm, kq)| {
        let tx = bk / 4 / kq;
        let wg = bq / tm * tx;
        if bq > max_bq || tx > sg_min || !d4.is_multiple_of(tx) || wg > max_invocations || wg < 32 || !(bk * d4).is_multiple_of(wg) {
            return None;
        }
        let (kt, pt) = tiled_areas(d, bq, bk);
        let pt = if psh { 0 } else { pt };
        let base = d * bq / 4 + bk * d4;
        let palias = if 16 * (base + kt + pt) <= max_wg_bytes {
            false
        } else if 16 * (base + kt.max(pt)) <= max_wg_bytes {
            true
        } else {
            return None;
        };
        Some(TileConfig { bq, bk, r: tx, variant: SgVariant::Tiled { palias }, mq: 0, w: 0, m: tm })
    })
}

/// Code-shape options of the tiled kernel: unroll factors of the loop over d's vec4
/// columns in S (`du`) and of the key loop of P V (`ju`), whether the next tile's
/// K/V are loaded into registers during the current one (`prefetch`), whether full
/// tiles that no row sees only in part run in a first pass without mask code (`unm`,
/// UNM; `RINGATTN_TILED_UNM=0` (or `off`, `false`) turns it off), whether S reads
/// one key's vec4 of K at a time against four Q^T rows instead of all the lane's keys at
/// once (`kone`, KONE; `RINGATTN_TILED_KONE=0` off), and whether P·V takes P by subgroup
/// shuffles (`psh`, PSH; `RINGATTN_TILED_PSH=0/1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TiledOpts {
    pub du: u32,
    pub ju: u32,
    pub prefetch: bool,
    pub unm: bool,
    pub kone: bool,
    /// Whether P·V takes each key's probabilities from the lane that computed them by a
    /// subgroup shuffle (PSH) instead of through P^T in workgroup memory (two barriers
    /// per tile instead of three or four).
    pub psh: bool,
}

impl TiledOpts {
    /// Vec4s of K (and of V) each lane stages per tile (the shapes divide evenly).
    fn per_lane(d: u32, cfg: &TileConfig) -> u32 {
        d * cfg.bk / 4 / cfg.invocations()
    }

    /// The defaults: the d loop unrolled over 4 vec4 columns (where they divide
    /// head_dim / 4) and the key loop by 16 (at most the tile; with UNM and KONE the
    /// best of 1-16 x 4-64 on an H100, 20.7 ms against 21.7 at 8 and 22.3 at 32 at
    /// head_dim 64 f32, N=16384; fully unrolled bodies overflow the instruction cache:
    /// 1.9x slower on an H200, BENCHMARKS.md), prefetch where it costs at most 8 vec4
    /// registers per lane, UNM and KONE on, PSH as [`tiled_psh`] says;
    /// `RINGATTN_TILED_OPTS=du,ju,pf` overrides du, ju and pf where they fit (experiments).
    pub fn for_tiles(d: usize, cfg: &TileConfig) -> Self {
        let d = d as u32;
        let du = [4, 2, 1].into_iter().find(|u| (d / 4).is_multiple_of(*u)).unwrap_or(1);
        let env = |name: &str| std::env::var(name).ok();
        let on = |name: &str| switch(env(name).as_deref()) != Some(false);
        let (unm, kone) = (on("RINGATTN_TILED_UNM"), on("RINGATTN_TILED_KONE"));
        let psh = tiled_psh(d as usize, env("RINGATTN_TILED_PSH").as_deref());
        let default = TiledOpts { du, ju: 16.min(cfg.bk), prefetch: Self::per_lane(d, cfg) <= 4, unm, kone, psh };
        match env_triple("RINGATTN_TILED_OPTS") {
            Some((du, ju, pf)) => {
                let o = TiledOpts { du, ju, prefetch: pf != 0, unm, kone, psh };
                if o.fits(d, cfg) {
                    o
                } else {
                    default
                }
            }
            None => default,
        }
    }

    /// Whether these options can be rendered for `cfg` at head_dim `d`.
    pub fn fits(&self, d: u32, cfg: &TileConfig) -> bool {
        self.du > 0 && (d / 4).is_multiple_of(self.du) && self.ju > 0 && cfg.bk.is_multiple_of(self.ju)
    }
}

/// Whether the tiled kernel's P·V takes P by subgroup shuffles (PSH) at `head_dim`, given
/// `RINGATTN_TILED_PSH` (`value`: `1`/`on`/`true` at every head_dim, `0`/`off`/`false`
/// never): by default up to head_dim 64 (on an H100, f32 N=16384: 10.0 ms against 13.3
/// at head_dim 32, 20.5 against 20.8 at 64, but 89.1 against 83.6 at 128; BENCHMARKS.md,
/// fourteenth session).
pub fn tiled_psh(head_dim: usize, value: Option<&str>) -> bool {
    switch(value).unwrap_or(head_dim <= 64)
}

/// Template substitutions of `flash_tiled.wgsl` for a head_dim, dtype and tiles, with
/// the default (or environment's) [`TiledOpts`].
pub fn tiled_defines(d: usize, dtype: Dtype, cfg: &TileConfig, sparse: bool) -> Vec<(&'static str, String)> {
    tiled_defines_with(d, dtype, cfg, sparse, TiledOpts::for_tiles(d, cfg))
}

/// [`tiled_defines`] with explicit code-shape options.
pub fn tiled_defines_with(d: usize, dtype: Dtype, cfg: &TileConfig, sparse: bool, opts: TiledOpts) -> Vec<(&'static str, String)> {
    // With PSH there is no P^T, so the K area holds K alone.
    let palias = matches!(cfg.variant, SgVariant::Tiled { palias: true }) && !opts.psh;
    let (kt, pt) = tiled_areas(d as u32, cfg.bq, cfg.bk);
    // Staging rounds: all units at once when prefetching, else at most 4 of K and 4 of
    // V in flight (the registers they hold count towards the kernel's peak), a divisor
    // of the units per lane.
    let npf = TiledOpts::per_lane(d as u32, cfg);
    let sch = if opts.prefetch { npf } else { (1..=4).rev().find(|c| npf.is_multiple_of(*c)).unwrap_or(1) };
    vec![
        ("BK", cfg.bk.to_string()),
        ("BQ", cfg.bq.to_string()),
        ("CV", (d as u32 / 4 / cfg.r).to_string()),
        ("ENABLE", enable_line(&[dtype])),
        ("HEAD_DIM", d.to_string()),
        ("IN", dtype.wgsl().to_string()),
        ("OUT", dtype.wgsl().to_string()),
        ("KQ", tiled_kq(cfg).to_string()),
        ("NK", (4 * tiled_kq(cfg)).to_string()),
        ("KREG", if palias { kt.max(pt) } else { kt }.to_string()),
        ("LOG2LANES", cfg.r.trailing_zeros().to_string()),
        ("PALIAS", (palias as u32).to_string()),
        ("PT", if palias { "ks" } else { "pt" }.to_string()),
        ("SWM", tiled_swizzle(d as u32, cfg.r).to_string()),
        ("TM", cfg.m.to_string()),
        ("TQ", (cfg.m / 4).to_string()),
        ("DU4", opts.du.to_string()),
        ("JU", opts.ju.to_string()),
        ("PF", (opts.prefetch as u32).to_string()),
        ("UNM", (opts.unm as u32).to_string()),
        ("KONE", (opts.kone as u32).to_string()),
        ("PSH", (opts.psh as u32).to_string()),
        ("NCH", (npf / sch).to_string()),
        ("SCH", sch.to_string()),
        ("SPARSE", sparse_flag(sparse)),
    ]
}

/// The shuffle variant of the subgroup tier: R lanes per row, 128 invocations. At the
/// head_dims of [`SHUFFLE_MEASURED`], the shape measured fastest there (where it fits
/// the adapter and reduce-scatters its scores) with its workgroup for `dtype`
/// ([`SHUFFLE_WG`]); elsewhere the general rule below.
pub(crate) fn shuffle_config(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> TileConfig {
    let caps = ctx.capabilities();
    let d4 = head_dim as u32 / 4;
    let lim = &caps.limits;
    let wg = shuffle_wg(lim, None, dtype);
    let rs_env = std::env::var("RINGATTN_SUBGROUP_RS").ok();
    // RINGATTN_SUBGROUP_CFG=r,m,bk forces a shape (experiments; checked against the
    // subgroup size, head_dim and the workgroup-memory limit, ignored when it does not fit).
    if let Some(cfg) = env_triple("RINGATTN_SUBGROUP_CFG").and_then(|(er, em, ebk)| shuffle_config_for(ctx, head_dim, er, em, ebk)) {
        return cfg;
    }
    let measured = SHUFFLE_MEASURED.iter().find(|(d, ..)| *d == head_dim);
    if let Some(&(_, r, m, bk)) = measured.filter(|&&(_, r, m, bk)| shuffle_rs(r, m, bk, rs_env.as_deref())) {
        if let Some(cfg) = shuffle_config_wg(ctx, head_dim, r, m, bk, Some(shuffle_wg(lim, Some((head_dim, r, m, bk)), dtype))) {
            return cfg;
        }
    }
    let mut r = 1;
    while r * 2 <= caps.subgroup_min_size.max(1) && d4.is_multiple_of(r * 2) && d4 / (r * 2) >= 4 {
        r *= 2;
    }
    let wg_bytes = lim.max_compute_workgroup_storage_size.min(SHUFFLE_STAGE_BYTES);
    // Four query rows per row group (1.9x the one-row kernel at head_dim 64, 1.6x at 128
    // on an H200) and 8-key tiles (4.5-9 % faster than 16 on an H100: fewer score
    // registers per lane), from sweeps with scripts/device_subgroup.sh (BENCHMARKS.md);
    // 16-key tiles where the scores are reduce-scattered (RS, r >= 4 rows): on an H100,
    // f32 N=16384, 20.5 ms at head_dim 64 against 22.3-22.6 with 8 keys (RS or not) and
    // 47.6-47.9 at 128 against 50.9-51.8 (55.2-55.6 without RS; device_rs15b.sh).
    let m = 4;
    let bk = pow2_floor((wg_bytes / (2 * 4 * head_dim as u32)).min(shuffle_bk_max(r, m, rs_env.as_deref())));
    TileConfig { bq: (wg / r).max(1) * m, bk, r, variant: SgVariant::Shuffle, mq: 0, w: 0, m }
}

/// The shuffle kernel's tiles for decode launches ([`is_decode`]) that
/// `flash_decode.wgsl` does not take ([`decode_stream_config`]: head_dims 80 and 96, or
/// `RINGATTN_DECODE_STREAM=0`) and whose rows (tokens x packed query heads) fit one
/// workgroup (`prepare_tiles`): two row groups of r lanes, r
/// the most of 32, the subgroup size and head_dim / 4 (one vec4 column per lane at
/// head_dim 128 on a 32-lane GPU), 4 rows each, 16-key tiles; `None` above head_dim 128
/// (not measured), where the workgroup (2 r invocations) is not a multiple of 32 or
/// where the shape does not fit ([`shuffle_config_wg`]). A decode launch's rows are its
/// packed query heads (4 for one token with 4 query heads per K/V head), so the dense
/// tiles (32-64 rows per workgroup) run most rows idle. On an H200 (BENCHMARKS.md,
/// thirty-second session; one token, H=32, 8 K/V heads, 32 key parts) (32,4,16) in 64
/// invocations ran f32 head_dim 128 in 0.0324-0.0334 / 0.103-0.105 / 0.332-0.337 ms at
/// K/V lengths 4K / 16K / 64K over three calls, against 0.0441 / 0.144 / 0.492 for the
/// dense tiles (r=8, m=2, 128 invocations); forced by environment in an earlier call,
/// 0.0456 / 0.116 / 0.345 against the dense tiles' 0.0578 / 0.155 / 0.503 and one row
/// group's 0.0522 / 0.150 / 0.481 (its lanes alone stage K/V: the second group's rows
/// run idle, but its lanes load), f16 0.0421 / 0.109 / 0.356 against 0.0551 / 0.152 /
/// 0.484, and (16,4,16) in 32 invocations at head_dim 64 (f16) 0.0421 / 0.0962 / 0.333
/// against 0.0519 / 0.125 / 0.422. Five tokens' 20 rows would take three such
/// workgroups per K/V head, each reading all of its K/V: 0.0540 / 0.195 / 0.712 ms (f32,
/// head_dim 128, 16 parts), against 0.0477 / 0.146 / 0.542 on the dense tiles, which hold
/// 32 rows (32 parts).
pub fn shuffle_decode_config(ctx: &GpuContext, head_dim: usize) -> Option<TileConfig> {
    let r = shuffle_decode_lanes(head_dim, ctx.capabilities().subgroup_min_size);
    shuffle_config_wg(ctx, head_dim, r, 4, 16, Some(2 * r)).filter(|_| head_dim <= 128)
}

/// The lanes per row of [`shuffle_decode_config`] on a GPU whose subgroups have at least
/// `sg_min` lanes.
pub fn shuffle_decode_lanes(head_dim: usize, sg_min: u32) -> u32 {
    pow2_floor((head_dim as u32 / 4).min(sg_min).min(32))
}

/// Most rows (tokens x packed query heads) per K/V head of a launch on
/// `flash_decode.wgsl` ([`decode_stream_config`]). Every query tile reads all of its
/// head's K and V: on an H200 (BENCHMARKS.md, thirty-third session; head_dim 128, f16)
/// five tokens of 4 query heads per K/V head (20 rows) in five 4-row tiles took 0.122 /
/// 0.386 ms at 16K / 64K keys, in three 7-row tiles 0.136 / 0.432, against 0.0996 /
/// 0.182 on the matrix tier's decode tiles, which keep them in one 16-row tile.
pub const DECODE_STREAM_ROWS: usize = 8;

/// Most rows of one `flash_decode.wgsl` workgroup ([`decode_stream_config`]): each lane
/// keeps its units of q and O for every row, and sums each row's scores with its group
/// (log2 G shuffles per row and key). A launch of more rows (up to
/// [`DECODE_STREAM_ROWS`]) takes two query tiles: on an H200 (thirty-third session; two
/// tokens, or one of 8 query heads per K/V head; head_dim 128, f16, 16 parts) two 4-row
/// tiles took 0.0220 / 0.0560 / 0.160 ms at 4K / 16K / 64K keys, one 8-row tile 0.0251 /
/// 0.0647 / 0.179.
pub const DECODE_STREAM_TILE_ROWS: usize = 4;

/// Keys per lane group and step of `flash_decode.wgsl` (`RINGATTN_DECODE_KB`: 1, 2, 4 or
/// 8): every load of a step is issued before the step's first use of one.
pub const DECODE_STREAM_KB: u32 = 4;

/// The most lanes per key of `flash_decode.wgsl` in f16 (f32: 32): at head_dim 256 a key
/// row's 32 16-byte units go to 16 lanes of two units each. On an H200 (thirty-fourth
/// session; one token, H=32, 8 K/V heads, 16 parts, two rounds) that ran 0.0244-0.0246 /
/// 0.0663-0.0664 / 0.187 ms at K/V lengths 4K / 16K / 64K against 32 lanes' 0.0253-0.0257
/// / 0.0762-0.0763 / 0.239 (2.9 TB/s of K/V at 64K against 2.2); f32 kept 32 lanes: at
/// head_dim 128, 16 lanes ran level at best (0.0209 / 0.0558 / 0.158 against 0.0214 /
/// 0.0557 / 0.157), at 256 8 % slower at 4K and 6-11 % faster at 16K-64K.
pub const DECODE_STREAM_LANES_F16: u32 = 16;

/// Subgroups per workgroup of `flash_decode.wgsl` at the adapter's least subgroup size
/// (`RINGATTN_DECODE_WG` sets the invocations instead).
pub const DECODE_STREAM_SUBGROUPS: u32 = 8;

/// The most vec4 of q per lane (and as many of O) that [`decode_stream_config_for`]
/// gives a workgroup: rows x head_dim / (4 x lanes per key).
pub const DECODE_STREAM_VEC4: u32 = 16;

/// Whether `RINGATTN_DECODE_STREAM` leaves `flash_decode.wgsl` on for decode launches
/// (`0`, `off` or `false`: the shuffle kernel's decode tiles, as before it).
pub fn decode_stream_on() -> bool {
    switch(std::env::var("RINGATTN_DECODE_STREAM").ok().as_deref()) != Some(false)
}

/// `flash_decode.wgsl`'s tiles for a dense decode launch ([`is_decode`]) of `rows` rows
/// per K/V head (tokens x [`gqa_fold`]) on this adapter, with the `RINGATTN_DECODE_*`
/// overrides as set, or `None` where it does not fit ([`decode_stream_config_for`]).
pub fn decode_stream_config(ctx: &GpuContext, dtype: Dtype, head_dim: usize, rows: usize) -> Option<TileConfig> {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<u32>().ok());
    let opts = DecodeStreamOpts {
        kb: env("RINGATTN_DECODE_KB"),
        wg: env("RINGATTN_DECODE_WG"),
        lanes: env("RINGATTN_DECODE_G"),
        tile_rows: env("RINGATTN_DECODE_ROWS").map(|r| r as usize),
        pref: switch(std::env::var("RINGATTN_DECODE_PREF").ok().as_deref()),
    };
    decode_stream_config_with(ctx, dtype, head_dim, rows, opts)
}

/// [`decode_stream_config`] with the overrides `opts` (no environment) on this adapter.
pub fn decode_stream_config_with(ctx: &GpuContext, dtype: Dtype, head_dim: usize, rows: usize, opts: DecodeStreamOpts) -> Option<TileConfig> {
    let caps = ctx.capabilities();
    if !caps.subgroup {
        return None;
    }
    let lim = &caps.limits;
    decode_stream_config_for(dtype, head_dim, rows, caps.subgroup_min_size, lim.max_compute_workgroup_storage_size, max_invocations(lim), opts)
}

/// The `flash_decode.wgsl` tiles a dense launch of `shape` takes, if any: decode launches
/// ([`is_decode`]) where the kernel fits ([`decode_stream_config`]), unless
/// `RINGATTN_DECODE_STREAM=0`, `RINGATTN_SUBGROUP_CFG` (a forced subgroup shape) or
/// `RINGATTN_SMALL_GRID=0` says otherwise. The one decision `prepare_tiles` builds by and
/// `Attention::tier_for` moves decode calls off the matrix tier by.
pub fn decode_stream_for(ctx: &GpuContext, dtype: Dtype, shape: &Shape) -> Option<TileConfig> {
    let on = is_decode(shape) && decode_stream_on() && std::env::var("RINGATTN_SUBGROUP_CFG").is_err() && small_grid_on();
    on.then(|| decode_stream_config(ctx, dtype, shape.head_dim, shape.seq_q * gqa_fold(shape))).flatten()
}

/// Overrides of [`decode_stream_config_for`]'s choices (experiments; `None`: the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeStreamOpts {
    /// Keys per group and step (1, 2, 4 or 8; default [`DECODE_STREAM_KB`]).
    pub kb: Option<u32>,
    /// Invocations per workgroup (a multiple of the subgroup size; default
    /// [`DECODE_STREAM_SUBGROUPS`] subgroups).
    pub wg: Option<u32>,
    /// Lanes per key (a power of two, at most a key row's units, the subgroup size and
    /// 32; default [`DECODE_STREAM_LANES_F16`] in f16, else the most).
    pub lanes: Option<u32>,
    /// Most rows per query tile (1 to [`DECODE_STREAM_ROWS`]; default
    /// [`DECODE_STREAM_TILE_ROWS`]).
    pub tile_rows: Option<usize>,
    /// Each step's K/V loads issued a step ahead (PREF; default [`DECODE_STREAM_PREF`]).
    pub pref: Option<bool>,
}

/// Whether `flash_decode.wgsl` issues each step's K/V loads a step ahead, before the
/// step before it computes (`RINGATTN_DECODE_PREF`).
pub const DECODE_STREAM_PREF: bool = false;

/// `flash_decode.wgsl`'s tiles for `rows` rows at head_dim `d` on an adapter with
/// subgroups of at least `sg_min` lanes, `max_wg_bytes` of workgroup memory and
/// `max_invocations` per workgroup: a key row is read in 16-byte units (8 f16 or 4
/// f32), split over G lanes (the units of a row, at most `sg_min`, 32 and in f16
/// [`DECODE_STREAM_LANES_F16`]), C units per lane; [`DECODE_STREAM_SUBGROUPS`] subgroups
/// per workgroup; the rows in query tiles of at most [`DECODE_STREAM_TILE_ROWS`] (`bq`:
/// rows per tile). `None` for head_dims that
/// are not a power of two (80, 96: the shuffle kernel's decode tiles run them), more
/// than [`DECODE_STREAM_ROWS`] rows, more than [`DECODE_STREAM_VEC4`] vec4 of q per
/// lane, or subgroup states over the workgroup memory.
pub fn decode_stream_config_for(
    dtype: Dtype,
    d: usize,
    rows: usize,
    sg_min: u32,
    max_wg_bytes: u32,
    max_invocations: u32,
    opts: DecodeStreamOpts,
) -> Option<TileConfig> {
    let uw = if dtype == Dtype::F16 { 8 } else { 4 };
    let units = d as u32 / uw;
    if !d.is_power_of_two() || units == 0 || rows == 0 || rows > DECODE_STREAM_ROWS || sg_min < 4 {
        return None;
    }
    // Rows per query tile: at most DECODE_STREAM_TILE_ROWS (or RINGATTN_DECODE_ROWS), as
    // even as the tiles allow.
    let tile_rows = opts.tile_rows.filter(|r| (1..=DECODE_STREAM_ROWS).contains(r)).unwrap_or(DECODE_STREAM_TILE_ROWS);
    let rows = rows.div_ceil(rows.div_ceil(tile_rows));
    let most = units.min(sg_min).min(32);
    let mut g = most.min(if dtype == Dtype::F16 { DECODE_STREAM_LANES_F16 } else { 32 });
    if let Some(l) = opts.lanes.filter(|l| l.is_power_of_two() && *l <= most) {
        g = l;
    }
    let c = units / g;
    let kb = opts.kb.filter(|k| [1, 2, 4, 8].contains(k)).unwrap_or(DECODE_STREAM_KB);
    let wg = opts.wg.filter(|w| w.is_multiple_of(sg_min) && *w >= sg_min).unwrap_or(DECODE_STREAM_SUBGROUPS * sg_min);
    let rows = rows as u32;
    let vec4s = rows * c * uw / 4;
    // The subgroups' states (m, l and O rows) and the rows' earlier LSE.
    let bytes = wg / sg_min * rows * (d as u32 * 4 + 8) + rows * 4;
    if vec4s > DECODE_STREAM_VEC4 || bytes > max_wg_bytes || wg > max_invocations {
        return None;
    }
    let pref = opts.pref.unwrap_or(DECODE_STREAM_PREF);
    Some(TileConfig { bq: rows, bk: wg / g * kb, r: g, variant: SgVariant::Decode, mq: pref as u32, w: wg, m: kb })
}

/// Template substitutions of `flash_decode.wgsl` for `dtype`, head_dim `d`, tiles `cfg`
/// ([`decode_stream_config_for`]) and the adapter's least subgroup size `sg_min`.
pub fn decode_stream_defines(dtype: Dtype, d: usize, cfg: &TileConfig, sg_min: u32) -> Vec<(&'static str, String)> {
    let f16 = dtype == Dtype::F16;
    let uw = if f16 { 8 } else { 4 };
    vec![
        ("BQ", cfg.bq.to_string()),
        ("C", (d as u32 / uw / cfg.r).to_string()),
        ("ENABLE", enable_line(&[dtype])),
        ("G", cfg.r.to_string()),
        ("HEAD_DIM", d.to_string()),
        ("IN", dtype.wgsl().to_string()),
        ("KB", cfg.m.to_string()),
        ("LOG2LANES", cfg.r.trailing_zeros().to_string()),
        ("OUT", dtype.wgsl().to_string()),
        ("PREF", ((cfg.mq == 1) as u32).to_string()),
        ("SGMIN", sg_min.to_string()),
        ("SPARSE", "0".to_string()),
        ("U4", (uw / 4).to_string()),
        ("UNPACK", (f16 as u32).to_string()),
        ("WG", cfg.w.to_string()),
    ]
}

/// The `flash_decode.wgsl` pipeline for tiles `cfg` ([`decode_stream_config`]).
pub fn prepare_decode_stream(ctx: &GpuContext, dtype: Dtype, head_dim: usize, cfg: TileConfig) -> Result<Prepared> {
    if cfg.variant != SgVariant::Decode || !ctx.capabilities().subgroup {
        return Err(Error::InvalidArgument(format!("{cfg:?} are not flash_decode tiles, or the adapter has no subgroups")));
    }
    Ok(Prepared::new(subgroup_pipeline(ctx, dtype, head_dim, cfg, false)?, cfg, Tier::Subgroup, false, dtype))
}

/// Invocations per workgroup of the shuffle kernel for `shape` (head_dim, r, m, bk):
/// `RINGATTN_SUBGROUP_WG` where set (experiments: a multiple of 32 up to 1024), else
/// [`SHUFFLE_WG`] for `dtype`, at most the adapter's limits.
fn shuffle_wg(lim: &wgpu::Limits, shape: Option<ShapeKey>, dtype: Dtype) -> u32 {
    let env = std::env::var("RINGATTN_SUBGROUP_WG").ok().and_then(|v| v.trim().parse::<u32>().ok());
    let want = env.filter(|w| w.is_multiple_of(32) && (32..=1024).contains(w)).unwrap_or_else(|| shuffle_wg_default(shape, dtype));
    want.min(max_invocations(lim))
}

/// The most invocations a one-dimensional workgroup may have on this adapter.
fn max_invocations(lim: &wgpu::Limits) -> u32 {
    lim.max_compute_invocations_per_workgroup.min(lim.max_compute_workgroup_size_x)
}

/// The shuffle kernel's invocations per workgroup for `shape` (head_dim, r, m, bk) and
/// `dtype`: those of [`SHUFFLE_WG`] where listed, else [`SHUFFLE_WG_USUAL`].
pub fn shuffle_wg_default(shape: Option<ShapeKey>, dtype: Dtype) -> u32 {
    if shape.is_some_and(|sh| shuffle_full(sh, Some(dtype))) {
        return 256;
    }
    shape.and_then(|sh| SHUFFLE_WG.iter().find(|(s, t, _)| *s == sh && *t == dtype)).map_or(SHUFFLE_WG_USUAL, |&(_, _, wg)| wg)
}

/// The shuffle kernel's invocations per workgroup outside [`SHUFFLE_WG`].
pub const SHUFFLE_WG_USUAL: u32 = 128;

/// Shapes (head_dim, r, m, bk) and dtypes of the shuffle kernel with other than 128
/// invocations per workgroup: on an H100 (f32, N=16384, eighteenth session, scripts/device_rsp18.sh,
/// device_wg18.sh) 256 took (8,4,16) at head_dim 128 from 38.1-38.4 to 37.0-37.2 ms
/// (f16 46.6 to 39.9; 128 query rows per workgroup instead of 64: half the K/V staging
/// per row; 252 registers either way) and made (4,4,32) at 64 and (2,2,16) at 32
/// slower (16.6 against 16.2-16.3, 9.33 against 8.34); 384 bounds the driver to 168
/// registers, which it meets by spilling to workgroup memory (48 KiB; 22-49 ms). Lighter
/// shapes at 512 invocations (128 registers, 16 warps per SM, no spills) stayed slower:
/// (16,4,16) at 128 40.6 ms, (8,4,16) at 64 18.4 (device_occ18.sh).
/// On small grids the workgroup halves back to 128 first ([`small_grid_subgroup_config`]).
/// With PIPE ([`SHUFFLE_PIPE`], nineteenth session) 128 invocations are faster again at
/// (8,4,16) in f32: 35.0 ms against 35.9-36.1 with 256; f16 keeps 256: 35.4-35.5 against
/// 37.9-38.0 (without PIPE 36.3-36.7).
/// With TAIL, PSM and EARLY (twentieth session) 256 wins in f32 too: 31.1 ms against 31.8
/// with 128 (causal 17.5 against 17.8-17.9, N=4096 1.99-2.00 against 2.05-2.11, N=65536
/// 489 against 514-516 for 128 without EARLY).
/// The shapes of [`SHUFFLE_FULL`] (twenty-first session) take 256 as well.
pub const SHUFFLE_WG: &[(ShapeKey, Dtype, u32)] = &[((128, 8, 4, 16), Dtype::F16, 256), ((128, 8, 4, 16), Dtype::F32, 256)];

/// A shuffle-kernel shape: (head_dim, lanes per row r, rows per row group m, keys per tile bk).
pub type ShapeKey = (usize, u32, u32, u32);

/// The shuffle kernel's measured defaults: (head_dim, lanes per row r, rows per row
/// group m, keys per tile bk), each the fastest of a sweep on an H100 (f32, N=16384,
/// B=1, H=8, K/V staged 16 KiB per barrier with batched loads, scores as scalar
/// chains; BENCHMARKS.md, sixteenth and seventeenth sessions, scripts/device_nsub16.sh,
/// device_scal17.sh): 32: (2,2,16) 8.30 ms against 8.78 for (4,4,16) and 9.11 for the
/// general rule's (2,4,8); 64: (4,4,32) with UNM ([`SHUFFLE_UNM`]) 16.8 against 17.2
/// for (2,2,32) and 17.7 for (4,4,16) (16.2-16.3 with RSP too, [`SHUFFLE_RSP`]); 128:
/// (8,4,16) 38.0-38.3 (the general rule's shape; (16,4,16) 41.4, (16,8,16) 43.0,
/// (4,2,16) 47.0), 37.0-37.2 with 256 invocations per workgroup (eighteenth session),
/// 34.9-35.1 with PIPE and UNM and 128 ([`SHUFFLE_PIPE`]). Twenty-first session: at 64
/// (4,4,16) with 256 invocations and every option (PIPE, UNM, RSP, TAIL, PSM, EARLY,
/// DBUF) 15.2 ms against 16.0-16.1 for (4,4,32) (N=4096 0.995 against 1.05, causal
/// 9.95 against 10.2). The per-adapter search still weighs the shuffle kernel against the
/// tiled one. At 80, 96 and 256 the general rule's shapes, measured with every option
/// and 256 invocations in the same session ([`SHUFFLE_FULL`]; listed here so their
/// workgroup comes from [`SHUFFLE_WG`]'s rule, not the general 128).
pub const SHUFFLE_MEASURED: &[ShapeKey] = &[(32, 2, 2, 16), (64, 4, 4, 16), (80, 4, 4, 16), (96, 4, 4, 16), (128, 8, 4, 16), (256, 16, 4, 8)];

/// Keys per tile of the subgroup tier's shuffle kernel (at most; fewer where 16 KiB of
/// workgroup memory cannot hold K and V tiles that long).
pub const SUBGROUP_BK: u32 = 8;

/// Keys per tile of the shuffle kernel where it reduce-scatters its scores (RS; at most,
/// as [`SUBGROUP_BK`]).
pub const SUBGROUP_BK_RS: u32 = 16;

/// The shuffle kernel's most keys per tile for `r` lanes and `m` rows per row group:
/// [`SUBGROUP_BK_RS`] where its 16-key tiles reduce-scatter their scores (RS, given
/// `RINGATTN_SUBGROUP_RS` as `value`, see [`shuffle_rs`]), else [`SUBGROUP_BK`].
pub fn shuffle_bk_max(r: u32, m: u32, value: Option<&str>) -> u32 {
    if shuffle_rs(r, m, SUBGROUP_BK_RS, value) {
        SUBGROUP_BK_RS
    } else {
        SUBGROUP_BK
    }
}

/// The shuffle variant of the subgroup tier with `r` lanes per row group, `m` rows per
/// group and `bk`-key tiles ([`shuffle_wg_default`] for f32 / r groups per workgroup:
/// 128 / r), or `None` when that does not fit the adapter (subgroup size,
/// workgroup memory) or head_dim.
pub fn shuffle_config_for(ctx: &GpuContext, head_dim: usize, r: u32, m: u32, bk: u32) -> Option<TileConfig> {
    shuffle_config_wg(ctx, head_dim, r, m, bk, None)
}

/// [`shuffle_config_for`] with `wg` invocations per workgroup (`None`: the shape's
/// default for f32, or `RINGATTN_SUBGROUP_WG`); `None` where the shape or `wg` (a multiple of 32
/// and of `r`, within the adapter's limits) does not fit.
pub fn shuffle_config_wg(ctx: &GpuContext, head_dim: usize, r: u32, m: u32, bk: u32, wg: Option<u32>) -> Option<TileConfig> {
    let caps = ctx.capabilities();
    let lim = &caps.limits;
    let d4 = head_dim as u32 / 4;
    let wg_fits = wg.is_none_or(|w| w.is_multiple_of(32) && w <= max_invocations(lim));
    let wg = wg.unwrap_or_else(|| shuffle_wg(lim, Some((head_dim, r, m, bk)), Dtype::F32));
    let fits = r.is_power_of_two()
        && r <= caps.subgroup_min_size.max(1)
        && d4.is_multiple_of(r)
        && m.is_power_of_two()
        && m <= 8
        && matches!(bk, 4 | 8 | 16 | 32)
        && wg_fits
        && wg.is_multiple_of(r)
        && shuffle_staged_fits(head_dim, bk, 1, lim.max_compute_workgroup_storage_size);
    fits.then_some(TileConfig { bq: (wg / r).max(1) * m, bk, r, variant: SgVariant::Shuffle, mq: 0, w: 0, m })
}

/// Shapes of the shuffle kernel the per-adapter search (`tuning::search_subgroup`) times
/// beside the default, as (vec4 columns per lane, rows per row group m, keys per tile
/// bk, invocations per workgroup), so one list serves every head_dim (r = head_dim / 4 /
/// columns). They span the register weight of the shapes measured fastest on an H100
/// (BENCHMARKS.md, fifteenth to eighteenth sessions): (4,4,16,128) the general rule's
/// shape with reduce-scattered scores, (4,4,32,128) head_dim 64's until the twenty-first
/// session, (4,2,16,128) head_dim 32's, (4,4,16,256) head_dim 128's and 64's (since the
/// twenty-first session), and (2,4,16,128), twice the lanes per row (half the registers
/// per lane), for GPUs with smaller register files.
pub const SHUFFLE_CANDIDATES: &[(u32, u32, u32, u32)] = &[(4, 4, 16, 128), (4, 4, 32, 128), (4, 2, 16, 128), (4, 4, 16, 256), (2, 4, 16, 128)];

/// [`SHUFFLE_CANDIDATES`] at `head_dim` as (r, m, bk, invocations per workgroup): those
/// whose columns divide head_dim / 4 and whose scores can be reduce-scattered (r >= m).
pub fn shuffle_candidate_shapes(head_dim: usize) -> Vec<(u32, u32, u32, u32)> {
    let d4 = head_dim as u32 / 4;
    SHUFFLE_CANDIDATES
        .iter()
        .filter(|&&(c, ..)| c > 0 && d4.is_multiple_of(c))
        .map(|&(c, m, bk, wg)| (d4 / c, m, bk, wg))
        .filter(|&(r, m, bk, _)| shuffle_rs_fits(r, m, bk))
        .collect()
}

/// The shuffle-kernel tiles the per-adapter search times for `dtype`: the default
/// (`shuffle_config`) first, then each of [`shuffle_candidate_shapes`] that fits the
/// adapter and differs from it.
pub fn shuffle_candidates(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> Vec<TileConfig> {
    let mut out = vec![shuffle_config(ctx, dtype, head_dim)];
    for (r, m, bk, wg) in shuffle_candidate_shapes(head_dim) {
        if let Some(c) = shuffle_config_wg(ctx, head_dim, r, m, bk, Some(wg)) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// The shuffle kernel's tiles for a tuned shape (query rows per workgroup, keys per
/// tile, lanes per row, rows per row group; `tuning`'s cache), or `None` where that no
/// longer fits this adapter and head_dim.
pub fn shuffle_config_tuned_shape(ctx: &GpuContext, head_dim: usize, [bq, bk, r, m]: [u32; 4]) -> Option<TileConfig> {
    if m == 0 || !bq.is_multiple_of(m) {
        return None;
    }
    shuffle_config_wg(ctx, head_dim, r, m, bk, Some(bq / m * r)).filter(|c| c.bq == bq)
}

/// The subgroup tier with an explicit tile configuration, any variant (tests and
/// experiments; see [`shuffle_config_for`] and [`tiled_shapes_for`]).
pub fn prepare_subgroup_with(ctx: &GpuContext, dtype: Dtype, head_dim: usize, cfg: TileConfig) -> Result<Prepared> {
    Ok(Prepared::new(subgroup_pipeline(ctx, dtype, head_dim, cfg, false)?, cfg, Tier::Subgroup, false, dtype))
}

/// The shuffle kernel with an explicit tile configuration and build options (the
/// reduce-scatter, UNM, RSP and PIPE on or off, where given tiles per staged K/V tile,
/// dense or block-sparse; tests: each path on one adapter). An error where an option
/// does not fit the shape ([`ShuffleOpts::fits`]: RS see [`shuffle_rs`]; UNM, RSP and
/// PIPE need RS, PIPE one tile per staged tile, PSM and DBUF PIPE) or the staged tile
/// (with PSM's P area, [`shuffle_psm_fits`]) does not fit the adapter's workgroup memory,
/// or DBUF cannot run there ([`shuffle_dbuf_runs`]: its two areas, or `subgroupBarrier`
/// with PSM). TAIL is left off where the staging needs more than
/// one round ([`shuffle_tail_round`]).
pub fn prepare_shuffle_with(ctx: &GpuContext, dtype: Dtype, head_dim: usize, cfg: TileConfig, opts: ShuffleOpts) -> Result<Prepared> {
    let lim = ctx.capabilities().limits.max_compute_workgroup_storage_size;
    let staged_fits = opts.nsub.is_none_or(|n| shuffle_staged_fits(head_dim, cfg.bk, n, lim))
        && (!opts.psm || shuffle_psm_fits(head_dim, &cfg, lim))
        && (!opts.dbuf || shuffle_dbuf_runs(ctx, head_dim, &cfg, opts.psm));
    if cfg.variant != SgVariant::Shuffle || !opts.fits(&cfg) || !staged_fits {
        return Err(Error::InvalidArgument(format!("no shuffle kernel with {opts:?} for {}", cfg.describe(Tier::Subgroup))));
    }
    Ok(Prepared::new(shuffle_pipeline(ctx, dtype, head_dim, cfg, opts)?, cfg, Tier::Subgroup, opts.sparse, dtype))
}

/// Whether the shuffle kernel with `r` lanes per row group, `m` rows per group and
/// `bk`-key tiles reduce-scatters its scores (RS in `flash_subgroup.wgsl`: each lane
/// ends with `m * bk / r` full scores of one row, its softmax runs once per score, P·V
/// takes P by shuffles): possible where a lane's share lies in one row (`r >= m`, so
/// `m * bk / r <= bk`), given `RINGATTN_SUBGROUP_RS` (`value`: `0`/`off`/`false` never,
/// `1`/`on`/`true` wherever possible); by default wherever it fits (on an H100, f32
/// N=16384, with the 16-key tiles the default shapes then take: 20.5 ms against 22.3-22.6
/// at head_dim 64, 47.6-47.9 against 55.2-55.6 at 128; BENCHMARKS.md, fifteenth
/// session).
pub fn shuffle_rs(r: u32, m: u32, bk: u32, value: Option<&str>) -> bool {
    shuffle_rs_fits(r, m, bk) && switch(value).unwrap_or(true)
}

/// Whether the reduce-scatter (RS) can run with `r` lanes, `m` rows per row group and
/// `bk`-key tiles: at least two lanes, at most five rounds, and each lane's
/// `m * bk / r` scores whole and inside one row (`r >= m`).
pub fn shuffle_rs_fits(r: u32, m: u32, bk: u32) -> bool {
    r >= 2 && r >= m && r <= 32 && (m * bk).is_multiple_of(r)
}

/// The template substitutions of the shuffle kernel's RS path (all of them, RS off
/// or on: Q scores per lane, LPR lanes per row, and per reduce-scatter round k <= 5
/// whether it runs (RSk, while r >= 2^k) and its pair distance HALFk = m bk / 2^k).
pub fn shuffle_rs_defines(r: u32, m: u32, bk: u32, rs: bool) -> Vec<(&'static str, String)> {
    const ROUNDS: [(&str, &str); 5] = [("RS1", "HALF1"), ("RS2", "HALF2"), ("RS3", "HALF3"), ("RS4", "HALF4"), ("RS5", "HALF5")];
    let q = if rs { m * bk / r } else { 1 };
    let lpr = if rs { bk / q } else { 1 };
    let mut out =
        vec![("RS", (rs as u32).to_string()), ("Q", q.to_string()), ("LPR", lpr.to_string()), ("LOG2LPR", lpr.trailing_zeros().to_string())];
    for (k, (on, half)) in ROUNDS.into_iter().enumerate() {
        let live = rs && r >> (k + 1) >= 1;
        out.push((on, (live as u32).to_string()));
        out.push((half, if live { (m * bk) >> (k + 1) } else { 0 }.to_string()));
    }
    out
}

/// Shapes (head_dim, r, m, bk) whose reduce-scatter path skips the mask on the tiles a
/// row sees whole (UNM in `flash_subgroup.wgsl`): on an H100 (f32, N=16384) UNM took
/// (4,4,32) at head_dim 64 from 17.2 to 16.8 ms (causal 10.9 to 10.5) and made the other
/// measured shapes 0.5-1 % slower (BENCHMARKS.md, seventeenth session); with PIPE it took
/// (8,4,16) at 128 from 35.5-35.8 to 34.9-35.1 (nineteenth session). (4,4,16) at 64 runs
/// it with every option (twenty-first session, [`SHUFFLE_FULL`]); (4,4,32) keeps it for
/// the search's candidate.
pub const SHUFFLE_UNM: &[ShapeKey] = &[(64, 4, 4, 32), (128, 8, 4, 16)];

/// Shapes (head_dim, r, m, bk) whose reduce-scatter rounds that pair rows run without
/// selects (RSP in `flash_subgroup.wgsl`: lane L of a row group computes its score slots
/// with the rows permuted by L / LPR, so those rounds keep the lower half on every lane;
/// where r > m the rounds over a row's LPR lanes keep their selects; possible wherever
/// the scores are reduce-scattered): on an H100 (f32, N=16384) RSP took (4,4,32) at
/// head_dim 64 from 16.7-16.9 to 16.2-16.3 ms and made (2,2,16) at 32 and (2,2,32) at 64
/// slower (8.52 against 8.32-8.35, 17.3-17.4 against 17.1-17.3; seventeenth session).
/// (4,4,16) at 64 with every option (twenty-first session): 15.2 ms with RSP, 15.4
/// without. At (8,4,16) (r > m) at 128 the eighteenth session's RSP permuted the keys
/// too (lane-dependent K addresses) and ran slower (38.8-39.1 against 38.3-38.4 with 128
/// invocations; on an H200 with the current kernel 31.3-31.4 against 30.4-30.5,
/// twenty-fourth session); rows only, it runs level (30.4 against 30.3-30.4, three
/// rounds, H200, scripts/device_rsp24.sh), so it stays off there.
pub const SHUFFLE_RSP: &[ShapeKey] = &[(64, 4, 4, 32)];

/// Whether the shuffle kernel for `cfg` at `head_dim` skips the mask on whole tiles
/// (UNM): `RINGATTN_SUBGROUP_UNM` given as `value` (`0`/`1`...), else the shapes of
/// [`SHUFFLE_UNM`]; only with the reduce-scatter (`rs`), the path that has it.
pub fn shuffle_unm(head_dim: usize, cfg: &TileConfig, rs: bool, value: Option<&str>) -> bool {
    rs && shape_switch(SHUFFLE_UNM, head_dim, cfg, value)
}

/// Whether the shuffle kernel for `cfg` at `head_dim` runs its reduce-scatter rounds
/// without selects (RSP): `RINGATTN_SUBGROUP_RSP` given as `value`, else the shapes of
/// [`SHUFFLE_RSP`]; only with the reduce-scatter (`rs`).
pub fn shuffle_rsp(head_dim: usize, cfg: &TileConfig, rs: bool, value: Option<&str>) -> bool {
    rs && shuffle_rs_fits(cfg.r, cfg.m, cfg.bk) && shape_switch(SHUFFLE_RSP, head_dim, cfg, value)
}

/// Shapes (head_dim, r, m, bk) and dtypes whose reduce-scatter path runs a tile's P·V in
/// the next tile's body (PIPE in `flash_subgroup.wgsl`; one tile staged per barrier, V one tile
/// behind K, so the driver interleaves the multiply-adds of both products with the
/// reduce-scatter's shuffles). On an H100 (f32, N=16384; BENCHMARKS.md, nineteenth
/// session, scripts/device_pipe19*.sh) PIPE took (8,4,16) at head_dim 128 from 37.5-37.7
/// to 35.5-35.8 ms with 128 invocations (34.9-35.1 with UNM; 37.2-37.3 before, with
/// 256), causal 20.0-20.1 to 19.1, N=4096 2.39 to 2.28; it made (4,4,32) at 64 slower
/// (16.3-17.5 against 16.0, whatever UNM and RSP; (2,2,32) 16.5 against 17.0-17.1) and
/// every shape at 32 (one tile per barrier: 8.8-9.8 against 8.2-8.4). f16 (not a target):
/// (8,4,16) at 128 with 256 invocations 35.4-35.5 against 36.3-36.7 without; (4,4,32) at
/// 64 16.4-16.6 against 17.3-17.4 without. (4,4,16) at 64 runs it with every option
/// (twenty-first session, [`SHUFFLE_FULL`]).
pub const SHUFFLE_PIPE: &[(ShapeKey, Dtype)] = &[((128, 8, 4, 16), Dtype::F32), ((128, 8, 4, 16), Dtype::F16), ((64, 4, 4, 32), Dtype::F16)];

/// Whether the shuffle kernel for `cfg` at `head_dim` with `dtype` runs PIPE:
/// `RINGATTN_SUBGROUP_PIPE` given as `value`, else the entries of [`SHUFFLE_PIPE`]; only
/// with the reduce-scatter (`rs`).
pub fn shuffle_pipe(head_dim: usize, cfg: &TileConfig, dtype: Dtype, rs: bool, value: Option<&str>) -> bool {
    rs && dtype_switch(SHUFFLE_PIPE, head_dim, cfg, dtype, value)
}

/// Shapes (head_dim, r, m, bk) and dtypes whose tiles issue the next staged tile's K/V
/// loads at their end, before the closing barrier, and store them after it (TAIL in
/// `flash_subgroup.wgsl`; one staging round only, see [`shuffle_tail_round`]). On an
/// H100 (f32, N=16384; BENCHMARKS.md, twentieth session, scripts/device_tail20.sh) TAIL
/// took (8,4,16) at head_dim 128 with PIPE and UNM from 34.6-35.0 to 33.1-33.2 ms (with
/// PSM as well: 31.9-32.2); it made (4,4,32) at 64 slower without PIPE (16.4 against
/// 16.0: the driver spilled) and (2,2,16) at 32 (8.29 against 8.18). (4,4,16) at 64 runs
/// it with every option (twenty-first session, [`SHUFFLE_FULL`]).
pub const SHUFFLE_TAIL: &[(ShapeKey, Dtype)] = &[((128, 8, 4, 16), Dtype::F32), ((128, 8, 4, 16), Dtype::F16)];

/// Shapes (head_dim, r, m, bk) and dtypes whose PIPE path takes the previous tile's P
/// from workgroup memory instead of subgroup shuffles (PSM in `flash_subgroup.wgsl`;
/// PIPE and m a multiple of 4 only, see [`ShuffleOpts::fits`]). On an H100 (f32,
/// N=16384; twentieth session) PSM took (8,4,16) at head_dim 128 with PIPE, UNM and TAIL
/// from 33.1-33.2 to 31.9-32.2 ms (227 registers instead of 255; causal 18.9-19.0 to
/// 17.9 and N=4096 2.29 to 2.15 against PIPE and UNM alone); f16 with 256 invocations
/// 35.4-35.5 to 33.1-33.2 with TAIL. (4,4,16) at 64 runs it with every option
/// (twenty-first session, [`SHUFFLE_FULL`]).
pub const SHUFFLE_PSM: &[(ShapeKey, Dtype)] = &[((128, 8, 4, 16), Dtype::F32), ((128, 8, 4, 16), Dtype::F16)];

/// Shapes (head_dim, r, m, bk) and dtypes whose PIPE path with TAIL issues the next
/// tile's loads right after the tile's Q·K^T rather than at its end (EARLY in
/// `flash_subgroup.wgsl`: their latency then overlaps the previous tile's P·V and the
/// softmax as well as the barrier). On an H100 (N=16384; BENCHMARKS.md, twentieth
/// session) EARLY took (8,4,16) at head_dim 128 with PIPE, UNM, TAIL and PSM from
/// 32.1-32.2 to 31.8 ms in f32 with 128 invocations and to 31.1 with 256 ([`SHUFFLE_WG`]),
/// f16 with 256 from 33.0 to 30.7. (4,4,16) at 64 with every option (twenty-first
/// session): 15.2 ms with EARLY, 16.4 without.
pub const SHUFFLE_EARLY: &[(ShapeKey, Dtype)] = &[((128, 8, 4, 16), Dtype::F32), ((128, 8, 4, 16), Dtype::F16)];

/// Shapes (head_dim, r, m, bk) and dtypes whose PIPE path stages into two K/V areas
/// used by alternate tiles, one barrier per tile instead of two (DBUF in
/// `flash_subgroup.wgsl`; where both areas and PSM's fit the adapter, see
/// [`shuffle_dbuf_fits`]; with PSM only where the adapter has `subgroupBarrier`, which
/// guards PSM's single P area), by default only in workgroups of at least 256
/// invocations (their registers leave one workgroup per SM on an H100 anyway, so the
/// second area costs no occupancy; see [`shuffle_dbuf`]). On an H100 (N=16384;
/// BENCHMARKS.md, twenty-first session, scripts/device_dbuf21.sh) DBUF took (8,4,16) at
/// head_dim 128 with every other option from 31.1 to 30.6 ms in f32 (causal 17.5 to
/// 17.3) and from 30.7 to 30.2 in f16, and made (4,4,16) with 256 invocations the fastest
/// shape at 64: 15.2 ms with it, 15.8 without, against 16.0-16.1 for (4,4,32) (the
/// default before; SDPA efficient 16.6 in the same call).
pub const SHUFFLE_DBUF: &[(ShapeKey, Dtype)] = &[((128, 8, 4, 16), Dtype::F32), ((128, 8, 4, 16), Dtype::F16)];

/// Whether the shuffle kernel for `cfg` at `head_dim` with `dtype` runs DBUF:
/// `RINGATTN_SUBGROUP_DBUF` given as `value`, else the entries of [`SHUFFLE_DBUF`] where
/// the workgroup has at least 256 invocations (small grids halve it to 128, where the
/// second area could cost a workgroup per SM); only with PIPE (`pipe`).
pub fn shuffle_dbuf(head_dim: usize, cfg: &TileConfig, dtype: Dtype, pipe: bool, value: Option<&str>) -> bool {
    pipe && switch(value).unwrap_or_else(|| cfg.invocations() >= 256 && dtype_switch(SHUFFLE_DBUF, head_dim, cfg, dtype, None))
}

/// Whether DBUF's two staged K/V tiles (one BK-key tile of f32 K and V each), and PSM's
/// P area where `psm`, fit the adapter's workgroup-memory `limit`.
pub fn shuffle_dbuf_fits(head_dim: usize, cfg: &TileConfig, psm: bool, limit: u32) -> bool {
    2 * 8 * cfg.bk * head_dim as u32 + if psm { shuffle_psm_bytes(cfg) } else { 0 } <= limit
}

/// Whether DBUF can run for `cfg` beside PSM (`psm`) on `ctx`'s adapter: both K/V areas
/// (and P's) fit its workgroup memory ([`shuffle_dbuf_fits`]), and with PSM it has
/// `subgroupBarrier`, which guards the single P area.
pub fn shuffle_dbuf_runs(ctx: &GpuContext, head_dim: usize, cfg: &TileConfig, psm: bool) -> bool {
    let caps = ctx.capabilities();
    shuffle_dbuf_fits(head_dim, cfg, psm, caps.limits.max_compute_workgroup_storage_size) && (!psm || caps.subgroup_barrier)
}

/// Whether the shuffle kernel for `cfg` at `head_dim` with `dtype` runs EARLY:
/// `RINGATTN_SUBGROUP_EARLY` given as `value`, else the entries of [`SHUFFLE_EARLY`];
/// only with PIPE and TAIL (`pipe_tail`).
pub fn shuffle_early(head_dim: usize, cfg: &TileConfig, dtype: Dtype, pipe_tail: bool, value: Option<&str>) -> bool {
    pipe_tail && dtype_switch(SHUFFLE_EARLY, head_dim, cfg, dtype, value)
}

/// Whether the shuffle kernel for `cfg` at `head_dim` with `dtype` stages with TAIL:
/// `RINGATTN_SUBGROUP_TAIL` given as `value`, else the entries of [`SHUFFLE_TAIL`]
/// (whether the staging fits one round is checked where the kernel is built).
pub fn shuffle_tail(head_dim: usize, cfg: &TileConfig, dtype: Dtype, value: Option<&str>) -> bool {
    dtype_switch(SHUFFLE_TAIL, head_dim, cfg, dtype, value)
}

/// Whether the shuffle kernel for `cfg` at `head_dim` with `dtype` runs PSM:
/// `RINGATTN_SUBGROUP_PSM` given as `value`, else the entries of [`SHUFFLE_PSM`]; only
/// with PIPE (`pipe`) and a multiple of 4 rows per group.
pub fn shuffle_psm(head_dim: usize, cfg: &TileConfig, dtype: Dtype, pipe: bool, value: Option<&str>) -> bool {
    pipe && cfg.m.is_multiple_of(4) && dtype_switch(SHUFFLE_PSM, head_dim, cfg, dtype, value)
}

/// Bytes of PSM's P area (f32): one vec4 per 4 rows and key of each row group, plus one
/// vec4 per group.
pub fn shuffle_psm_bytes(cfg: &TileConfig) -> u32 {
    cfg.bq / cfg.m.max(1) * (cfg.bk * cfg.m / 4 + 1) * 16
}

/// Whether PSM's P area fits beside PIPE's staged K/V tile (one tile of f32 K and V) in
/// the adapter's workgroup-memory `limit`.
pub fn shuffle_psm_fits(head_dim: usize, cfg: &TileConfig, limit: u32) -> bool {
    8 * cfg.bk * head_dim as u32 + shuffle_psm_bytes(cfg) <= limit
}

/// TAIL's staging round: every vec4 unit of K (and of V) the `wg` invocations stage per
/// barrier, `nsub` tiles of `bk` keys, held in registers across the barrier; `None`
/// where that is more than 8 per invocation (TAIL then stays off).
pub fn shuffle_tail_round(head_dim: usize, bk: u32, nsub: u32, wg: u32) -> Option<u32> {
    Some((nsub * bk * head_dim as u32 / 4).div_ceil(wg.max(1)).max(1)).filter(|&n| n <= 8)
}

/// A switch given as `value` (`0`/`1`...), else whether `cfg` at `head_dim` is in `shapes`.
/// (The shapes of [`SHUFFLE_FULL`], in any dtype, are on as well.)
fn shape_switch(shapes: &[ShapeKey], head_dim: usize, cfg: &TileConfig, value: Option<&str>) -> bool {
    let key = (head_dim, cfg.r, cfg.m, cfg.bk);
    switch(value).unwrap_or_else(|| shapes.contains(&key) || shuffle_full(key, None))
}

/// [`shape_switch`] for tables keyed by shape and dtype (the entries of
/// [`SHUFFLE_FULL`] are on as well).
fn dtype_switch(entries: &[(ShapeKey, Dtype)], head_dim: usize, cfg: &TileConfig, dtype: Dtype, value: Option<&str>) -> bool {
    let key = (head_dim, cfg.r, cfg.m, cfg.bk);
    switch(value).unwrap_or_else(|| entries.contains(&(key, dtype)) || shuffle_full(key, Some(dtype)))
}

/// Shapes (head_dim, r, m, bk) and dtypes of the shuffle kernel that run every option of
/// its PIPE path by default (PIPE, UNM, RSP, TAIL, PSM, EARLY and DBUF) with 256
/// invocations per workgroup; the option tables above list the other shapes that run
/// some. On an H100 (f32, N=16384; BENCHMARKS.md, twenty-first session,
/// scripts/device_dbuf21.sh, SDPA efficient in the same calls):
/// - head_dim 64, (4,4,16): 15.2 ms against 16.0-16.1 for (4,4,32) with 128 invocations,
///   UNM and RSP (the default before); without DBUF 15.8, RSP 15.4, EARLY 16.4; with 128
///   invocations 28.3 (25 KiB of workgroup memory: one workgroup per SM). f16 15.1-15.2
///   against 16.2-16.5.
/// - head_dim 80, (4,4,16) (the general rule's shape): 19.6 against 22.0-22.3 without the
///   options (SDPA 21.8); f16 21.3 against 23.3.
/// - head_dim 96, (4,4,16): 28.4-28.5 against 29.1 (SDPA 21.8; the driver spills to
///   workgroup memory, 48 KiB; with 128 invocations 45.9); f16 26.4 against 30.0.
/// - head_dim 256, (16,4,8): 67.4-68.0 against 94.2 (SDPA 57.7; with 128 invocations
///   94.9); f16 70.0 against 96.0-96.7.
pub const SHUFFLE_FULL: &[(ShapeKey, Dtype)] = &[
    ((64, 4, 4, 16), Dtype::F32),
    ((64, 4, 4, 16), Dtype::F16),
    ((80, 4, 4, 16), Dtype::F32),
    ((80, 4, 4, 16), Dtype::F16),
    ((96, 4, 4, 16), Dtype::F32),
    ((96, 4, 4, 16), Dtype::F16),
    ((256, 16, 4, 8), Dtype::F32),
    ((256, 16, 4, 8), Dtype::F16),
];

/// Whether `key` is in [`SHUFFLE_FULL`] for `dtype` (`None`: for any dtype).
pub fn shuffle_full(key: ShapeKey, dtype: Option<Dtype>) -> bool {
    SHUFFLE_FULL.iter().any(|&(k, t)| k == key && dtype.is_none_or(|d| d == t))
}

/// Build options of the shuffle kernel beyond its shape (tests and experiments:
/// [`prepare_shuffle_with`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShuffleOpts {
    /// Scores reduce-scattered over the row group (RS; see [`shuffle_rs`]).
    pub rs: bool,
    /// The mask skipped on tiles a row sees whole (UNM; RS only, see [`shuffle_unm`]).
    pub unm: bool,
    /// Reduce-scatter rounds without selects (RSP; RS only, see [`shuffle_rsp`]).
    pub rsp: bool,
    /// Tiles per staged K/V tile (NSUB), `None`: the default (see `shuffle_staging`).
    /// PIPE stages one.
    pub nsub: Option<u32>,
    /// A tile's P·V run in the next tile's body, V staged one tile behind K (PIPE; RS
    /// only, see [`shuffle_pipe`]).
    pub pipe: bool,
    /// The block-sparse build (launches with a mask, as [`prepare_sparse`] gives).
    pub sparse: bool,
    /// The next staged tile's loads issued before the closing barrier (TAIL, see
    /// [`shuffle_tail`]; off where the staging needs more than one round).
    pub tail: bool,
    /// The previous tile's P through workgroup memory (PSM; PIPE with a multiple of 4
    /// rows per group only, see [`shuffle_psm`]).
    pub psm: bool,
    /// With PIPE and TAIL, the next tile's loads issued after this tile's Q·K^T instead
    /// of at its end (EARLY, see [`shuffle_early`]).
    pub early: bool,
    /// With PIPE, two K/V areas for alternate tiles and one barrier per tile (DBUF, see
    /// [`shuffle_dbuf`]; the areas' fit is checked against the adapter elsewhere).
    pub dbuf: bool,
}

impl ShuffleOpts {
    /// Whether these options fit the shape of `cfg`: RS where [`shuffle_rs_fits`], UNM,
    /// RSP and PIPE only with RS, PIPE with one tile per staged tile where `nsub` forces
    /// a count, PSM only with PIPE and a multiple of 4 rows per group, EARLY only with
    /// PIPE and TAIL, DBUF only with PIPE (the staged tiles and PSM's area are checked
    /// against the adapter elsewhere).
    pub fn fits(&self, cfg: &TileConfig) -> bool {
        if self.rs {
            shuffle_rs_fits(cfg.r, cfg.m, cfg.bk)
                && !(self.pipe && self.nsub.is_some_and(|n| n != 1))
                && !(self.psm && (!self.pipe || !cfg.m.is_multiple_of(4)))
                && !(self.early && !(self.pipe && self.tail))
                && (!self.dbuf || self.pipe)
        } else {
            !self.unm && !self.rsp && !self.pipe && !self.psm && !self.early && !self.dbuf
        }
    }
}

/// Most bytes of K and V (f32) the shuffle kernel stages in workgroup memory per
/// barrier. On an H100 (f32, N=16384) staging 24 KiB ran level with 16 and 32 KiB
/// 1.6-1.75x slower at head_dims 64 and 128: workgroup memory over ~24 KiB cost whole
/// workgroups per SM there (BENCHMARKS.md, sixteenth session).
pub const SHUFFLE_STAGE_BYTES: u32 = 16384;

/// The shuffle kernel's `bk`-key tiles per staged K/V tile (NSUB in
/// `flash_subgroup.wgsl`): a power of two, as many as fit [`SHUFFLE_STAGE_BYTES`] and
/// the adapter's workgroup-memory `limit`, at least one.
pub fn shuffle_stage_tiles(head_dim: usize, bk: u32, limit: u32) -> u32 {
    pow2_floor((SHUFFLE_STAGE_BYTES.min(limit) / (8 * head_dim as u32 * bk).max(1)).max(1))
}

/// Whether `nsub` tiles of `bk` keys of f32 K and V (one staged tile of the shuffle
/// kernel) fit the adapter's workgroup-memory `limit` (at most 16 tiles).
pub fn shuffle_staged_fits(head_dim: usize, bk: u32, nsub: u32, limit: u32) -> bool {
    (1..=16).contains(&nsub) && 8 * nsub * bk * head_dim as u32 <= limit
}

/// The shuffle kernel's default staging round (SCH in `flash_subgroup.wgsl`): every
/// vec4 unit of K (and of V) an invocation of a `wg`-invocation workgroup stages per
/// barrier, `nsub` tiles of `bk` keys, in one round of at most 4.
pub fn shuffle_stage_round(head_dim: usize, bk: u32, nsub: u32, wg: u32) -> u32 {
    (nsub * bk * head_dim as u32 / 4).div_ceil(wg.max(1)).clamp(1, 4)
}

/// The shuffle kernel's K/V staging for `cfg`: tiles per staged tile (NSUB: `nsub`,
/// else `RINGATTN_SUBGROUP_NSUB`, else [`shuffle_stage_tiles`]; a value whose staged
/// tile would not fit the adapter's workgroup memory is ignored) and vec4 units of K
/// and of V per invocation and staging round (SCH: `RINGATTN_SUBGROUP_SCH`, else every
/// unit of the staged tile in one round, at most 4). On an H100 (f32, N=16384), one
/// round instead of one unit at a time took head_dim 128 from 49 to 40 ms and 64 from
/// 21.4 to 19.7 (18.3 with two tiles per staged tile).
fn shuffle_staging(ctx: &GpuContext, d: usize, cfg: TileConfig, nsub: Option<u32>) -> (u32, u32) {
    let lim = ctx.capabilities().limits.max_compute_workgroup_storage_size;
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<u32>().ok());
    let nsub = nsub
        .or_else(|| env("RINGATTN_SUBGROUP_NSUB"))
        .filter(|&n| shuffle_staged_fits(d, cfg.bk, n, lim))
        .unwrap_or_else(|| shuffle_stage_tiles(d, cfg.bk, lim));
    let sch =
        env("RINGATTN_SUBGROUP_SCH").filter(|n| (1..=16).contains(n)).unwrap_or_else(|| shuffle_stage_round(d, cfg.bk, nsub, cfg.invocations()));
    (nsub, sch)
}

/// Three comma-separated numbers from an environment variable.
fn env_triple(name: &str) -> Option<(u32, u32, u32)> {
    match env_numbers(name)?[..] {
        [a, b, c] => Some((a, b, c)),
        _ => None,
    }
}

/// Comma-separated numbers from an environment variable.
fn env_numbers(name: &str) -> Option<Vec<u32>> {
    let v = std::env::var(name).ok()?;
    Some(v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
}

/// Head dims the matrix tier is built for (multiples of 16 whose accumulators fit in
/// registers); others fall back to the subgroup tier.
pub const MATRIX_HEAD_DIMS: &[usize] = &[32, 64, 96, 128];

/// Tiles for the matrix tier, or `None` when the adapter's subgroup size does not fit
/// (the tier needs a fixed subgroup size that is a multiple of the rows per subgroup).
/// f32 tensors take the split kernel (each operand as two f16 parts, see
/// `flash_matrix.wgsl`), which needs more workgroup memory.
pub fn matrix_config(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> Option<TileConfig> {
    let caps = ctx.capabilities();
    if caps.subgroup_min_size != caps.subgroup_max_size {
        return None;
    }
    // Precedence: RINGATTN_MATRIX_CFG, then the adapter's tuned choice (tuning.rs),
    // then the defaults measured on an H200.
    let (sg, wg_bytes, invocations) =
        (caps.subgroup_min_size, caps.limits.max_compute_workgroup_storage_size, caps.limits.max_compute_invocations_per_workgroup);
    let chosen = env_matrix_shape().or_else(|| crate::tuning::tuned_matrix_shape(ctx, dtype, head_dim, false));
    match chosen {
        Some(shape) => matrix_config_for(dtype, head_dim, shape, sg, wg_bytes, invocations),
        None => builtin_matrix_config(dtype, head_dim, sg, wg_bytes, invocations),
    }
}

/// The built-in tiles for a subgroup size and workgroup limits: [`default_matrix_shape`]
/// where it fits, else [`MATRIX_FALLBACK_SHAPE`]; `None` when neither fits.
pub fn builtin_matrix_config(dtype: Dtype, head_dim: usize, sg: u32, max_wg_bytes: u32, max_invocations: u32) -> Option<TileConfig> {
    let fit = |shape| matrix_config_for(dtype, head_dim, shape, sg, max_wg_bytes, max_invocations);
    fit(default_matrix_shape(dtype, head_dim)).or_else(|| fit(MATRIX_FALLBACK_SHAPE))
}

/// The tiles a built-in default gives way to where it does not fit the adapter (two
/// 16-row blocks per subgroup need subgroups of 32 or 64 invocations): one 16-row block
/// per subgroup, four subgroups, 32-key tiles, the smallest of the tuner's candidates.
pub const MATRIX_FALLBACK_SHAPE: MatrixShape = (1, 4, 32);

/// Matrix-tier tile shape: (16-row blocks per subgroup, subgroups per workgroup, keys per tile).
pub type MatrixShape = (u32, u32, u32);

/// Defaults. f16, from tile searches on an H200 (scripts/device_sweep.sh and `ringattn
/// tune`, BENCHMARKS.md): one 16-row block per subgroup and eight subgroups (at
/// head_dim 64 the search of 2026-11-26 timed 0.50 ms against 0.96 for two blocks and
/// four subgroups), two blocks and four subgroups at 32, four subgroups at 96 (where
/// eight do not divide the work); 32-key tiles. At head_dim 128 two blocks, eight
/// subgroups and 16-key tiles, what every search on an H100 and an H200 has picked since
/// the eighth session (H200, twenty-ninth session, built-in (1,8,32) against it, GPU ms:
/// N=4096 0.409 / 0.318, 16384 5.77 / 4.53, 65536 95.3 / 71.4, causal 65536 45.6 /
/// 35.1). f32 (split kernel, twice the K/V and P areas): 16-key tiles where 32 do not fit
/// 48 KiB. A default that does not fit an adapter (its subgroup size, workgroup memory
/// or invocations) gives way to [`MATRIX_FALLBACK_SHAPE`].
pub fn default_matrix_shape(dtype: Dtype, head_dim: usize) -> MatrixShape {
    match (dtype, head_dim) {
        (Dtype::F16, 32) => (2, 4, 32),
        (Dtype::F16, 64) => (1, 8, 32),
        (Dtype::F16, 96) => (1, 4, 32),
        (Dtype::F16, 128) => (2, 8, 16),
        (Dtype::F16, _) => (1, 8, 32),
        (Dtype::F32, 64) => (2, 4, 16),
        (Dtype::F32, 128) => (1, 8, 16),
        (Dtype::F32, _) => (1, 4, 32),
    }
}

/// `RINGATTN_MATRIX_CFG=mq,w,bk` forces a tile shape (experiments, the sweep scripts).
fn env_matrix_shape() -> Option<MatrixShape> {
    env_triple("RINGATTN_MATRIX_CFG")
}

/// Every tile shape the tuner tries. Two came from sweeps on an H100 (2026-11-26,
/// BENCHMARKS.md): (2,4,16) at head_dim 64 (N=16384: 6.00 ms against 7.41 for (1,8,32)
/// then, 4.80 against 7.06-7.63 for the other 16-key shapes now) and (2,8,16) at 128
/// (8.10 ms against 9.99 for (1,8,32); at other head dims it needs the wide staging).
pub const MATRIX_CANDIDATES: &[MatrixShape] =
    &[(1, 4, 32), (1, 8, 32), (2, 4, 32), (2, 4, 16), (2, 8, 16), (1, 4, 64), (2, 2, 32), (2, 2, 64), (1, 2, 64)];

/// The f32 (split) kernel's candidates: shorter key tiles, as its K/V and P areas are twice
/// as large.
pub const MATRIX_SPLIT_CANDIDATES: &[MatrixShape] = &[(2, 4, 16), (1, 8, 16), (1, 4, 16), (1, 4, 32), (2, 2, 32), (2, 2, 16), (1, 8, 32)];

/// The tile shapes the tuner tries for a dtype.
pub fn matrix_candidates(dtype: Dtype) -> &'static [MatrixShape] {
    match dtype {
        Dtype::F16 => MATRIX_CANDIDATES,
        Dtype::F32 => MATRIX_SPLIT_CANDIDATES,
    }
}

/// The matrix-tier tiles for a shape, subgroup size and workgroup limits, or `None`
/// when they do not fit (no device needed; the shader tests use it to validate every
/// specialization on any machine).
pub fn matrix_config_for(dtype: Dtype, head_dim: usize, shape: MatrixShape, sg: u32, max_wg_bytes: u32, max_invocations: u32) -> Option<TileConfig> {
    if !MATRIX_HEAD_DIMS.contains(&head_dim) {
        return None;
    }
    let (mq, w, bk) = shape;
    let rs = 16 * mq;
    if mq == 0 || w == 0 || bk == 0 || bk % 16 != 0 || sg < rs || !sg.is_multiple_of(rs) || sg > 64 {
        return None;
    }
    let tile = TileConfig { bq: w * rs, bk, r: sg / rs, variant: SgVariant::Shuffle, mq, w, m: 1 };
    let (sreg, preg) = matrix_regions(&tile, head_dim);
    let (kstr, kreg) = matrix_kv_regions(&tile, head_dim);
    // The split kernel keeps a second (lo) copy of the K, V and P areas.
    let parts = if dtype == Dtype::F32 { 2 } else { 1 };
    let bytes = w * (sreg * 4 + parts * preg * 2 + rs * 4) + parts * (kreg * 2 + cfg_kv_bytes(&tile, kstr)) + 16;
    if bytes > max_wg_bytes || w * sg > max_invocations {
        return None;
    }
    Some(tile)
}

/// Launches of fewer workgroups than this leave most streaming multiprocessors idle on
/// the GPUs measured (an H100 has 132; wgpu does not report the count): below it the
/// matrix tier takes shorter query tiles ([`small_grid_matrix_config`]), and the
/// subgroup tier smaller workgroups ([`small_grid_subgroup_config`]) where its search
/// measured no cores ([`small_grid_workgroups`]).
pub const SMALL_GRID_WORKGROUPS: u64 = 128;

/// The share of the cores, in %, a launch must fill to count as a full grid where the
/// cores were measured ([`small_grid_workgroups`]): 95 % of an H100's 132 SMs is 126
/// workgroups, so its grids of 128 stay full and those of 64 small, as with
/// [`SMALL_GRID_WORKGROUPS`].
pub const SMALL_GRID_FILL_PCT: u64 = 95;

/// The subgroup tier's small-grid threshold, in workgroups, for a GPU of `cores` cores
/// (`None`: not measured, [`SMALL_GRID_WORKGROUPS`]): [`SMALL_GRID_FILL_PCT`] of them.
pub fn small_grid_threshold(cores: Option<u64>) -> u64 {
    cores.filter(|&c| c > 0).map_or(SMALL_GRID_WORKGROUPS, |c| (c * SMALL_GRID_FILL_PCT).div_ceil(100))
}

/// The subgroup tier's small-grid threshold on this adapter for `dtype` and `head_dim`
/// ([`small_grid_threshold`] of the cores the subgroup search measured, held by this
/// context: `tuning::measure_wave`; the search or the tile cache is consulted when the
/// tier is first prepared), so a GPU with fewer or more cores than an H100 gets its
/// own measure of a full launch.
pub fn small_grid_workgroups(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> u64 {
    small_grid_threshold(crate::tuning::tuned_cores(ctx, dtype, head_dim))
}

/// The shortest query tile the small-grid rule takes. On an H100 (BENCHMARKS.md, "Small
/// grids") the 32-row shapes (two subgroups per workgroup) were slower than the 64-row
/// (1,4,32) at head_dim 128 even where they doubled the workgroup count (N=4096, H=1:
/// 0.32-0.36 ms against 0.26 ms) and at most 9 % faster at 64.
pub const SMALL_GRID_MIN_ROWS: u32 = 64;

/// Decode launches ([`is_decode`]) have at most this many query rows per sequence.
pub const DECODE_MAX_QUERIES: usize = 16;

/// Decode launches ([`is_decode`]) have at least this many keys.
pub const DECODE_MIN_KEYS: usize = 1024;

/// The matrix tier's tiles for f16 decode launches on `flash_matrix.wgsl` (those that
/// `flash_decode.wgsl` does not take: [`decode_stream_config`], `Attention::tier_for`):
/// one 16-row block, one subgroup, 16 keys per tile. On an H200 (BENCHMARKS.md, thirtieth to
/// thirty-second sessions; one query row, H=32, 8 K/V heads, head_dim 128) 32-key tiles
/// ran K/V lengths 4096 / 16384 / 65536 in 0.0499 / 0.162 / 0.520 ms in 8 key parts,
/// against 0.307 / 1.18 / 4.52 for the dense tiles (256 rows, one part) and 0.0527 /
/// 0.170 / 0.541 for 64-row tiles in 4 parts; with GQA packing and [`decode_key_splits`]
/// (thirty-first session) 0.0513 / 0.106 / 0.198, 64-key tiles (1,1,64) 0.0812 / 0.322
/// / 0.915 and two subgroups (1,2,32) 0.0990 / 0.115 / 0.224. The 16-key tiles take half
/// the workgroup memory (10.6 KiB against 21.3), and more of their workgroups run at once:
/// in 64 parts they ran 0.0420 / 0.0940 / 0.143 ms, against 0.0406 / 0.0943 / 0.185 for
/// 32-key tiles at their best part counts (32 parts; 64 parts of 32-key tiles: 0.0598 /
/// 0.117 / 0.216) in the same call (thirty-second session); 64 parts read bimodally in
/// later calls ([`DECODE_MAX_PARTS`]), and in 32 they run level with the 32-key tiles,
/// while MHA in 16 parts ran 1.3-1.7x faster ([`DECODE_SPLIT_WORKGROUPS_SHORT`]).
pub const DECODE_SHAPE: MatrixShape = (1, 1, 16);

/// The register kernel's tiles for decode launches (`flash_regs.wgsl`, where it runs the
/// head_dim's dense launches): one 16-row block, one subgroup, 32 keys per tile. On an
/// H200 at head_dim 64 (thirty-second session, one token, H=32, 8 K/V heads) they ran
/// 0.0202 / 0.0313 / 0.0859 ms at K/V lengths 4K / 16K / 64K in 32 parts, against 0.0242
/// / 0.0372 / 0.0944 for 16-key tiles at their best part counts.
pub const DECODE_SHAPE_REGS: MatrixShape = (1, 1, 32);

/// Whether a dense launch of `shape` is decode-shaped: few query rows per sequence
/// ([`DECODE_MAX_QUERIES`], e.g. one new token) against a long K/V cache
/// ([`DECODE_MIN_KEYS`]). Its grid is one workgroup per (batch, head), whatever the
/// query tile, and every row of a tile past seq_q is work thrown away: such launches take
/// the shortest query tile ([`DECODE_SHAPE`] and [`DECODE_SHAPE_REGS`] on the matrix
/// tier, f16) and split their keys into parts that run side by side
/// ([`auto_key_splits`]; flash-decoding).
pub fn is_decode(shape: &Shape) -> bool {
    shape.seq_q <= DECODE_MAX_QUERIES && shape.seq_k >= DECODE_MIN_KEYS
}

/// Query heads a dense launch of `shape` packs into the rows of one grid head (GQA
/// packing, the kernels' `fold`): for decode launches ([`is_decode`]) with grouped K/V
/// heads, the group (heads / kv_heads), so one workgroup runs every query head of a K/V
/// head and reads each K/V tile once for them all, not once per query head (a decode
/// launch's time is its K/V reads); 1 otherwise, or with `RINGATTN_GQA_PACK=0`.
/// Launches under a block mask never pack ([`encode_keys`]).
pub fn gqa_fold(shape: &Shape) -> usize {
    match is_decode(shape) && gqa_pack_on() {
        true => shape.group().max(1),
        false => 1,
    }
}

/// Whether `RINGATTN_GQA_PACK` leaves GQA packing on ([`gqa_fold`]; `0`, `off` or
/// `false` turn it off).
fn gqa_pack_on() -> bool {
    switch(std::env::var("RINGATTN_GQA_PACK").ok().as_deref()) != Some(false)
}

/// Whether `RINGATTN_PARTS_LAUNCH` leaves key parts in one launch on
/// ([`encode_key_parts`]; `0`, `off` or `false`: one launch per part, for measurements).
pub fn parts_launch_on() -> bool {
    switch(std::env::var("RINGATTN_PARTS_LAUNCH").ok().as_deref()) != Some(false)
}

/// The grid of one dense launch of `shape` with `bq`-row query tiles: (query tiles,
/// grid heads). With GQA packing ([`gqa_fold`]) a grid head holds the query heads of one
/// K/V head as its rows, tokens x fold of them.
pub fn launch_grid(shape: &Shape, bq: u32) -> (u32, u32) {
    grid_folded(shape, bq, gqa_fold(shape))
}

/// [`launch_grid`] with `fold` query heads per grid head.
fn grid_folded(shape: &Shape, bq: u32, fold: usize) -> (u32, u32) {
    ((shape.seq_q * fold).div_ceil(bq.max(1) as usize) as u32, (shape.heads / fold) as u32)
}

/// Workgroups of one launch of `shape` with `bq`-row query tiles (`encode_keys`'s grid:
/// query tiles x grid heads x batch, [`launch_grid`]).
pub fn grid_workgroups(shape: &Shape, bq: u32) -> u64 {
    let (tiles, heads) = launch_grid(shape, bq);
    tiles as u64 * heads as u64 * shape.batch as u64
}

/// The matrix-tier tiles for a launch of `shape`, given the tiles `normal` chosen for
/// the adapter and head_dim ([`matrix_config`]) and the adapter's subgroup size and
/// workgroup limits (no device needed, so it is unit-tested anywhere).
///
/// A grid of at least [`SMALL_GRID_WORKGROUPS`] keeps `normal`. A smaller one takes,
/// among the shapes that fit ([`MATRIX_CANDIDATES`] and (1,2,32)) with fewer query rows
/// than `normal` but at least [`SMALL_GRID_MIN_ROWS`], the tallest tile that reaches
/// [`SMALL_GRID_WORKGROUPS`], or when none does the one with the most workgroups
/// (then the taller tile). Ties go to `normal`'s key tile, then to more subgroups, then
/// to longer key tiles: on an H100 (1,4,32) beat (2,2,32) in every small grid measured.
/// `normal` stays when nothing gives more workgroups than it does.
pub fn small_grid_matrix_config(dtype: Dtype, normal: TileConfig, shape: &Shape, sg: u32, max_wg_bytes: u32, max_invocations: u32) -> TileConfig {
    let base = grid_workgroups(shape, normal.bq);
    if base >= SMALL_GRID_WORKGROUPS {
        return normal;
    }
    let fits: Vec<(TileConfig, u64)> = matrix_candidates(dtype)
        .iter()
        .chain([(1, 2, 32)].iter())
        .filter_map(|&sh| matrix_config_for(dtype, shape.head_dim, sh, sg, max_wg_bytes, max_invocations))
        .filter(|c| c.bq < normal.bq && c.bq >= SMALL_GRID_MIN_ROWS)
        .map(|c| (c, grid_workgroups(shape, c.bq)))
        .collect();
    let pref = |c: &TileConfig| (c.bk == normal.bk, c.w, c.bk);
    let pick = fits
        .iter()
        .filter(|(_, n)| *n >= SMALL_GRID_WORKGROUPS)
        .max_by_key(|(c, _)| (c.bq, pref(c)))
        .or_else(|| fits.iter().max_by_key(|(c, n)| (*n, c.bq, pref(c))));
    match pick {
        Some(&(c, n)) if n > base => c,
        _ => normal,
    }
}

/// The subgroup tier's shuffle-kernel tiles for a launch of `shape`, given the tiles
/// `normal` chosen for the adapter and head_dim: a grid of fewer than `full` workgroups
/// ([`small_grid_workgroups`]; [`SMALL_GRID_WORKGROUPS`] where no cores were measured)
/// first halves workgroups of over 128 invocations
/// ([`SHUFFLE_WG`]) back to 128, then takes fewer rows per row group (m halved, down
/// to 2, or to 1 with two lanes per row; tiles over 16 keys halve with it) until it
/// reaches that many. Measured on an H100 (BENCHMARKS.md, "Small grids, subgroup tier";
/// N=1024, H=8, head_dim 64): with four lanes per row (64 workgroups at m = 4) m = 2
/// took 0.174 ms against 0.273 at m = 4 and 0.209 at m = 1, and at N=4096 (256
/// workgroups) m = 4 stayed fastest (1.52 ms against 1.96 at m = 2); with two lanes per
/// row (sixteenth session, f32) (2,1,16) took 0.125 ms against 0.286 for (2,2,32) and
/// 0.171 for (2,1,32). Other variants are returned as given.
pub fn small_grid_subgroup_config(normal: TileConfig, shape: &Shape, full: u64) -> TileConfig {
    if normal.variant != SgVariant::Shuffle {
        return normal;
    }
    let floor = if normal.r <= 2 { 1 } else { 2 };
    let mut cfg = normal;
    // Workgroups over the usual size (SHUFFLE_WG) first halve back to it.
    while cfg.invocations() > SHUFFLE_WG_USUAL && grid_workgroups(shape, cfg.bq) < full {
        cfg.bq /= 2;
    }
    while cfg.m > floor && grid_workgroups(shape, cfg.bq) < full {
        cfg.bq /= 2;
        cfg.m /= 2;
        if cfg.bk > 16 {
            cfg.bk /= 2;
        }
    }
    cfg
}

/// The key-split rule's wave where none was measured ([`key_splits_to_fill`],
/// [`split_wave`]): the subgroup tier's invocations in flight at once on an H100,
/// [`SMALL_GRID_WORKGROUPS`] workgroups of 256 invocations, eight warps on each SM.
pub const SMALL_GRID_INVOCATIONS: u64 = SMALL_GRID_WORKGROUPS * 256;

/// The key-split rule's wave for `dtype` and `head_dim` on this adapter: the subgroup
/// search's measurement held by this context (`tuning::measure_wave`; the search or the
/// tile cache is consulted when the tier is first prepared, with the search on), else
/// [`SMALL_GRID_INVOCATIONS`].
pub fn split_wave(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> u64 {
    crate::tuning::tuned_wave(ctx, dtype, head_dim).filter(|&w| w > 0).unwrap_or(SMALL_GRID_INVOCATIONS)
}

/// The least work a part of an automatic key split keeps, in keys times head_dim (128
/// keys at head_dim 64, 64 at 128; [`auto_key_splits`]).
pub const SPLIT_MIN_KEY_DIMS: usize = 8192;

/// The fixed work of a key part in the split rule's model, in keys ([`key_splits_to_fill`]).
pub const SPLIT_PART_KEYS: usize = 32;

/// The least gain, in % of the modelled time, for which the split rule takes more parts
/// ([`key_splits_to_fill`]): a launch of whole waves plus a sliver is left alone (its
/// scratch O for the extra parts costs memory, and the model misses a few %).
pub const SPLIT_MIN_GAIN_PCT: u64 = 5;

/// The most parts [`key_splits_to_fill`] takes (decode launches: [`DECODE_MAX_PARTS`]).
pub const SPLIT_MAX_PARTS: usize = 8;

/// Waves a causal launch of the subgroup tier splits its keys up to
/// ([`key_splits_to_fill`]): the causal triangle leaves workgroups with unequal work, and
/// parts of at least [`CAUSAL_SPLIT_MIN_KEY_DIMS`] even it out.
pub const CAUSAL_SPLIT_WAVES: u64 = 8;

/// The least work a part of a causal launch's further split keeps, in keys times
/// head_dim (256 keys at head_dim 64, 128 at 128; [`key_splits_to_fill`]).
pub const CAUSAL_SPLIT_MIN_KEY_DIMS: usize = 16384;

/// The key parts a dense launch of `shape` on tiles `cfg` runs in when the caller asked
/// for none (`Attention::with_key_splits`, `RINGATTN_KEY_SPLITS`): decode launches
/// ([`is_decode`]) take [`decode_key_splits`] on every tier but the matrix tier's f32
/// split kernel (which got slower in parts on an H200, and which `Attention` leaves for
/// the subgroup tier on decode launches); other launches on the subgroup tier's shuffle
/// kernel take [`key_splits_to_fill`] for the launch's workgroups and invocations (after
/// the small-grid shape rule, [`small_grid_subgroup_config`]), and 1 on other kernels
/// and tiers. Always 1 on CPU adapters (`gpu` false: no cores to fill) and with
/// `RINGATTN_SMALL_GRID=0`. `wave`: the adapter's ([`split_wave`]). Each extra part is
/// merged into O and LSE by LSE in the same pass. Measured on an H100 (BENCHMARKS.md,
/// "Key splits for the subgroup tier's small grids"): the shuffle kernel wants eight
/// warps per SM, a small grid's halved workgroups leave four or fewer, and causal
/// launches of up to 512 workgroups of 256 ran 3-18 % faster in 2 or 4 parts; with the
/// merge in one dispatch (twenty-third session) smaller parts pay, and the rule was
/// refitted ([`key_splits_to_fill`]).
pub fn auto_key_splits(cfg: &TileConfig, tier: Tier, dtype: Dtype, shape: &Shape, causal: bool, gpu: bool, wave: u64) -> usize {
    if !gpu || !small_grid_on() {
        return 1;
    }
    if is_decode(shape) {
        return match tier == Tier::Matrix && dtype == Dtype::F32 {
            true => 1,
            false => decode_key_splits(grid_workgroups(shape, cfg.bq), shape.seq_k, decode_split(tier, cfg, shape.head_dim)),
        };
    }
    match tier == Tier::Subgroup && cfg.variant == SgVariant::Shuffle {
        true => key_splits_to_fill(grid_workgroups(shape, cfg.bq), cfg.invocations(), shape.seq_k, shape.head_dim, causal, wave),
        false => 1,
    }
}

/// The workgroups a decode launch's key parts add up to ([`decode_split`]), but on the
/// short decode tiles ([`DECODE_SPLIT_WORKGROUPS_SHORT`]).
pub const DECODE_SPLIT_WORKGROUPS: u64 = 256;

/// The workgroups a decode launch's key parts add up to on `flash_matrix.wgsl`'s
/// 16-key decode tiles ([`DECODE_SHAPE`], half the workgroup memory of the others) and
/// the shuffle kernel's ([`shuffle_decode_config`]; see [`decode_split`]): on
/// an H200 (thirty-second session; head_dim 128, one token of H=32 with 32 K/V heads,
/// 32 workgroups per part) 16 parts ran K/V lengths 4K / 16K / 64K in 0.0857 / 0.136 /
/// 0.336 ms, against 0.0961 / 0.177 / 0.515 in 8 (and the 32-key tiles' 0.0895 / 0.182
/// / 0.586 in 8); a batch of 4 with 8 K/V heads the same.
pub const DECODE_SPLIT_WORKGROUPS_SHORT: u64 = 512;

/// The invocations a decode launch's key parts add up to on `flash_decode.wgsl`, times
/// its rows per workgroup (at least 2; [`decode_split`]): 131072 for one or two rows,
/// 65536 for four, 32768 for eight (each lane holds its units of q and O for every
/// row). Measured on an H200 (BENCHMARKS.md, thirty-third session; H=32, head_dim 128,
/// 256 invocations per workgroup, 4K-64K keys): one row (MHA) ran fastest in 16 parts
/// (131072 invocations: 0.0760 / 0.257 ms at 16K / 64K against 0.0914 / 0.323 in 8 and
/// 0.0834 / 0.266 in 32), two rows the same, four rows (one token, 8 K/V heads) in 32
/// (65536: 0.0433 / 0.0991 against 0.0555 / 0.112 in 64 and 0.0488 / 0.130 in 16; a
/// batch of 4 in 8), eight rows (one tile, `RINGATTN_DECODE_ROWS=8`) in 16 (32768:
/// 0.180 ms at 64K against 0.188 in 32).
/// Above [`DECODE_STREAM_PARTS_HEAD_DIM`] the budget shrinks with the head_dim.
pub const DECODE_STREAM_INVOCATIONS: u64 = 262144;

/// The head_dim up to which `flash_decode.wgsl`'s parts keep the whole
/// [`DECODE_STREAM_INVOCATIONS`]; above it the budget is divided by head_dim / this
/// ([`decode_split`]; a fit, not a model). On an H200 (thirty-fourth session; one token,
/// H=32, 8 K/V heads, f16, two rounds) head_dim 256 on 32 lanes per key ran 0.0256-0.0258
/// / 0.0767-0.0768 / 0.239-0.240 ms at K/V lengths 4K / 16K / 64K in 16 parts, against
/// 0.0299-0.0302 / 0.0837-0.0840 / 0.246-0.273 in 32 and 0.0353 / 0.126 / 0.438 in 8; on
/// 16 lanes ([`DECODE_STREAM_LANES_F16`]) 0.0244 / 0.0664 / 0.187 in 16 against 0.0304 /
/// 0.076 / 0.195 in 32; f32 at 256 in 16 parts 0.0390 / 0.0910 / 0.293 against 0.0461 /
/// 0.0994 / 0.300. At head_dim 128, f32 as f16, 32 parts stay the fastest (f32: 0.0214 /
/// 0.0558 / 0.156 against 16 parts' 0.0233 / 0.0705 / 0.222).
pub const DECODE_STREAM_PARTS_HEAD_DIM: usize = 128;

/// The least keys a decode launch's key part keeps on the matrix tier's 32-key decode
/// tiles ([`decode_split`]; one-subgroup workgroups). On an H200 at 4096 keys (one token,
/// 8 workgroups per part) 32 parts of 128 keys ran 4 % (head_dim 128) and 19 % (64)
/// slower than 16 of 256 (thirty-first session, with the slot merge that the
/// thirty-second session made cheaper; at head_dim 64 then 32 parts ran 4 % faster).
pub const DECODE_PART_KEYS: usize = 256;

/// The least keys a decode launch's key part keeps on the subgroup and portable tiers
/// and on [`DECODE_SHAPE`]'s 16-key tiles ([`decode_split`]). On an H200 at 4096 keys 32
/// parts of 128 keys ran 15-20 % faster than 16 of 256 on the portable tier (f16 and f32
/// at head_dim 128, f16 at 64), 1 % faster on the subgroup tier (f32, 128) and 9 %
/// faster on the 16-key matrix tiles (f16, 128: 0.0428 ms against 0.0467).
pub const DECODE_PART_KEYS_WIDE: usize = 128;

/// The most key parts of a decode launch ([`decode_key_splits`]). On an H200
/// (thirty-second session; one token, H=32, 8 K/V heads, head_dim 128, the 16-key
/// tiles) 64 parts ran 0.094-0.098 ms at 16K keys against 0.098-0.101 for 32, but at 64K
/// 0.143-0.158 in three processes and 0.222-0.229 in two, against 0.179-0.183 for 32 in
/// all five: 32 stays the cap.
pub const DECODE_MAX_PARTS: usize = 32;

/// How [`decode_key_splits`] splits a decode launch: the workgroups the parts may add up
/// to and the least keys a part keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeSplit {
    pub workgroups: u64,
    pub part_keys: usize,
}

/// The decode split for launches of `tier` on tiles `cfg`: [`DECODE_SPLIT_WORKGROUPS`]
/// and [`DECODE_PART_KEYS`] on the matrix tier, [`DECODE_PART_KEYS_WIDE`] on the other
/// tiers; [`DECODE_SPLIT_WORKGROUPS_SHORT`] and [`DECODE_PART_KEYS_WIDE`] on
/// `flash_matrix.wgsl`'s 16-key decode tiles ([`DECODE_SHAPE`]) and on the shuffle
/// kernel's decode tiles ([`shuffle_decode_config`], at most 64 invocations: on an H200,
/// f32 head_dim 128, five query rows, 24 workgroups a part, 16 parts ran 0.0578 / 0.196 /
/// 0.713 ms at K/V lengths 4K / 16K / 64K against 0.0805 / 0.313 / 1.18 in 8; MHA, 32
/// workgroups a part, level in 8 and 16); on `flash_decode.wgsl` the parts' invocations
/// within [`DECODE_STREAM_INVOCATIONS`] over its rows per workgroup, divided by
/// `head_dim` / [`DECODE_STREAM_PARTS_HEAD_DIM`] above it.
pub fn decode_split(tier: Tier, cfg: &TileConfig, head_dim: usize) -> DecodeSplit {
    if cfg.variant == SgVariant::Decode {
        let wide = (head_dim / DECODE_STREAM_PARTS_HEAD_DIM).max(1) as u64;
        let invocations = DECODE_STREAM_INVOCATIONS / cfg.bq.max(2) as u64 / wide;
        return DecodeSplit { workgroups: (invocations / cfg.w.max(1) as u64).max(1), part_keys: DECODE_PART_KEYS_WIDE };
    }
    let short = match tier {
        Tier::Matrix => cfg.variant != SgVariant::Regs && (cfg.mq, cfg.w, cfg.bk) == DECODE_SHAPE,
        Tier::Subgroup => cfg.variant == SgVariant::Shuffle && cfg.invocations() <= 64,
        Tier::Portable => false,
    };
    match (tier, short) {
        (_, true) => DecodeSplit { workgroups: DECODE_SPLIT_WORKGROUPS_SHORT, part_keys: DECODE_PART_KEYS_WIDE },
        (Tier::Matrix, false) => DecodeSplit { workgroups: DECODE_SPLIT_WORKGROUPS, part_keys: DECODE_PART_KEYS },
        (Tier::Subgroup | Tier::Portable, false) => DecodeSplit { workgroups: DECODE_SPLIT_WORKGROUPS, part_keys: DECODE_PART_KEYS_WIDE },
    }
}

/// Key parts for a decode launch ([`is_decode`]) of `workgroups` workgroups (after GQA
/// packing, [`grid_workgroups`]) over `seq_k` keys: the most, as a power of two up to
/// [`DECODE_MAX_PARTS`], that keep the parts' workgroups within `split.workgroups` and
/// each part at `split.part_keys` keys ([`decode_split`]). Fitted on an H200
/// (BENCHMARKS.md, thirty-first and thirty-second sessions; f16, one-block tiles of one
/// subgroup, H=32 with 8 K/V heads packed, 8 workgroups per part for one token, 16 for
/// five): on the 32-key tiles the fastest of 8-64 parts was the rule's at every K/V
/// length 4096-65536 at head_dim 128, one token and five, and within 2 % of it at
/// head_dim 64; 64 parts ran 1.25-1.6x slower than 32 (1.16-1.27x with the thirty-second
/// session's slot merge). On the 16-key tiles see [`DECODE_SPLIT_WORKGROUPS_SHORT`] and
/// [`DECODE_MAX_PARTS`].
pub fn decode_key_splits(workgroups: u64, seq_k: usize, split: DecodeSplit) -> usize {
    let mut parts = 1;
    while parts * 2 <= DECODE_MAX_PARTS && workgroups * (parts as u64 * 2) <= split.workgroups && seq_k / (parts * 2) >= split.part_keys {
        parts *= 2;
    }
    parts
}

/// Key parts for a launch of `workgroups` workgroups of `invocations` each over `seq_k`
/// keys at `head_dim`: of 1, 2, 4 and 8 parts (each keeping [`SPLIT_MIN_KEY_DIMS`] of
/// work), the one whose launch takes the least time in a model of waves: the parts'
/// invocations run `wave` at a time ([`split_wave`]: measured per adapter, else
/// [`SMALL_GRID_INVOCATIONS`]), a wave takes as long as a part's keys plus
/// [`SPLIT_PART_KEYS`] (its fixed work: Q loaded, O and LSE written,
/// the merge), and a split must gain [`SPLIT_MIN_GAIN_PCT`] in it. So a launch short of
/// one wave splits until it fills one, and a longer one splits where its last wave would
/// run mostly empty (N=6000, H=4: 1.5 waves). A `causal` launch then doubles on while
/// its parts' invocations stay under [`CAUSAL_SPLIT_WAVES`] waves and each part keeps
/// [`CAUSAL_SPLIT_MIN_KEY_DIMS`]. Fitted on an H100 (twenty-third session, with the
/// one-dispatch merge: 56 cases of f32 and f16, H=1, 4 and 8, N=512-8192, head_dims 64
/// and 128, causal both, each against 1, 2, 4 and 8 parts; the rule's pick is on average
/// 2.3 % and at most 18 % slower than the fastest; on 16 shapes outside the fit, H=2 and
/// 8, N=2500-12000, 1.8 % and at most 9 %).
pub fn key_splits_to_fill(workgroups: u64, invocations: u32, seq_k: usize, head_dim: usize, causal: bool, wave: u64) -> usize {
    let wave = wave.max(1);
    let total = |parts: usize| workgroups * (parts as u64) * (invocations as u64);
    let cost = |parts: usize| total(parts).div_ceil(wave) * (seq_k.div_ceil(parts) + SPLIT_PART_KEYS) as u64;
    let mut parts = 1usize;
    let mut p = 2;
    while p <= SPLIT_MAX_PARTS && seq_k / p * head_dim >= SPLIT_MIN_KEY_DIMS {
        if cost(p) * 100 < cost(parts) * (100 - SPLIT_MIN_GAIN_PCT) {
            parts = p;
        }
        p *= 2;
    }
    // Work a part keeps after one more doubling.
    let halved = |parts: usize| seq_k / (parts * 2) * head_dim;
    while causal && parts < SPLIT_MAX_PARTS && total(parts) < CAUSAL_SPLIT_WAVES * wave && halved(parts) >= CAUSAL_SPLIT_MIN_KEY_DIMS {
        parts *= 2;
    }
    parts
}

/// Whether `RINGATTN_SMALL_GRID` leaves the small-grid rules on (both tiers).
fn small_grid_on() -> bool {
    small_grid_enabled(std::env::var("RINGATTN_SMALL_GRID").ok().as_deref())
}

/// Whether the small-grid rule is on for a value of `RINGATTN_SMALL_GRID` (`0`, `off`
/// or `false` turn it off; unset or anything else leaves it on).
pub fn small_grid_enabled(value: Option<&str>) -> bool {
    switch(value) != Some(false)
}

/// The matrix-tier tiles for a launch of `shape` on this adapter: [`matrix_config`],
/// shortened for small grids by [`small_grid_matrix_config`], or [`DECODE_SHAPE`] for
/// f16 decode launches ([`is_decode`]), unless `RINGATTN_MATRIX_CFG` forces a shape or
/// `RINGATTN_SMALL_GRID=0` turns these rules off.
/// `None` when the tier does not fit (as for [`matrix_config`]).
pub fn matrix_config_for_grid(ctx: &GpuContext, dtype: Dtype, shape: &Shape) -> Option<TileConfig> {
    let normal = matrix_config(ctx, dtype, shape.head_dim)?;
    if env_matrix_shape().is_some() || !small_grid_on() {
        return Some(normal);
    }
    let caps = ctx.capabilities();
    let lim = &caps.limits;
    if dtype == Dtype::F16 && is_decode(shape) {
        let decode = matrix_config_for(
            dtype,
            shape.head_dim,
            DECODE_SHAPE,
            caps.subgroup_min_size,
            lim.max_compute_workgroup_storage_size,
            lim.max_compute_invocations_per_workgroup,
        );
        if let Some(c) = decode {
            return Some(c);
        }
    }
    Some(small_grid_matrix_config(
        dtype,
        normal,
        shape,
        caps.subgroup_min_size,
        lim.max_compute_workgroup_storage_size,
        lim.max_compute_invocations_per_workgroup,
    ))
}

/// Per-subgroup workgroup-memory regions (S in f32 elements, P in f16 elements).
fn matrix_regions(cfg: &TileConfig, _head_dim: usize) -> (u32, u32) {
    let rs = 16 * cfg.mq;
    let sreg = (rs * (cfg.bk + 4)).max(256);
    let preg = rs * (cfg.bk + 8);
    (sreg, preg)
}

/// Row stride of the staged K/V tiles (f16 elements, padded against bank conflicts)
/// and the size of the K area.
fn matrix_kv_regions(cfg: &TileConfig, head_dim: usize) -> (u32, u32) {
    let kstr = head_dim as u32 + 8;
    (kstr, cfg.bk * kstr)
}

fn cfg_kv_bytes(cfg: &TileConfig, kstr: u32) -> u32 {
    cfg.bk * kstr * 2
}

/// Template substitutions of the matrix shader for `dtype`, `d` and `cfg` (the pipeline
/// key); f32 takes the split kernel.
pub fn matrix_defines(dtype: Dtype, d: usize, cfg: &TileConfig) -> Vec<(&'static str, String)> {
    let sg = cfg.r * 16 * cfg.mq;
    let lpr = cfg.r;
    let (sreg, preg) = matrix_regions(cfg, d);
    let (kstr, kreg) = matrix_kv_regions(cfg, d);
    vec![
        ("BK", cfg.bk.to_string()),
        ("CPL", (cfg.bk / lpr).to_string()),
        ("DT", (d / 16).to_string()),
        ("EPL", (256 / sg).to_string()),
        ("HEAD_DIM", d.to_string()),
        ("IN", dtype.wgsl().to_string()),
        ("KREG", kreg.to_string()),
        ("KSTR", kstr.to_string()),
        ("KT", (cfg.bk / 16).to_string()),
        ("LOG2LPR", lpr.trailing_zeros().to_string()),
        ("LPR", lpr.to_string()),
        ("MQ", cfg.mq.to_string()),
        ("FPS", ((cfg.bk / 16) * (d as u32 / 16) / cfg.w).to_string()),
        // 4-element units of the K (and of the V) tile each invocation loads (the split
        // kernel's vec4, WIDE's units).
        ("NPF", (cfg.bk * d as u32 / 4).div_ceil(cfg.w * sg).to_string()),
        ("PREG", preg.to_string()),
        ("PS", (cfg.bk + 8).to_string()),
        ("RS", (16 * cfg.mq).to_string()),
        ("SG", sg.to_string()),
        ("SPLIT", ((dtype == Dtype::F32) as u32).to_string()),
        ("SREG", sreg.to_string()),
        ("SS", (cfg.bk + 4).to_string()),
        ("W", cfg.w.to_string()),
    ]
}

/// Whether the f16 matrix kernel runs its software-pipelined tile loop (PIPE in
/// `flash_matrix.wgsl`: S of the next key tile multiplied while the softmax of this one
/// runs). Measured on an H100 (BENCHMARKS.md; N=16384): with the lazy rescale (`mref`
/// off), 3 % faster at (2,4,16) and 9 % at (1,8,32) with head_dim 64, 8 % at (1,8,32)
/// with 128, but 1 % slower at (2,8,16) with 128, where the Q and O fragments alone
/// (`mq` x `head_dim`/16 >= 16 of each) fill the registers; without the rescale (MREF,
/// [`matrix_mref`]) 12 % faster there too (4.51 against 5.16 ms). So: f16, loops
/// unrolled, and with the lazy rescale fewer than 16 Q fragments. `value`
/// (`RINGATTN_MATRIX_PIPE`) overrides: `0`/`off`/`false` never, `1`/`on`/`true` wherever
/// the kernel is f16 and unrolled.
pub fn matrix_pipelined(dtype: Dtype, cfg: &TileConfig, head_dim: usize, rolled: bool, mref: bool, value: Option<&str>) -> bool {
    if dtype != Dtype::F16 || rolled {
        return false;
    }
    switch(value).unwrap_or(mref || q_fragments_leave_room(cfg, head_dim))
}

/// Whether a subgroup of the f16 matrix kernel holds fewer than 16 Q fragments (`mq` x
/// `head_dim`/16): at 16 and more the Q and O fragments alone fill the registers.
fn q_fragments_leave_room(cfg: &TileConfig, head_dim: usize) -> bool {
    cfg.mq * (head_dim as u32 / 16) < 16
}

/// An environment switch's value: `1`/`on`/`true` or `0`/`off`/`false` (surrounding
/// blanks ignored), `None` when unset or anything else.
fn switch(value: Option<&str>) -> Option<bool> {
    match value.map(str::trim) {
        Some("0" | "off" | "false") => Some(false),
        Some("1" | "on" | "true") => Some(true),
        _ => None,
    }
}

/// Whether the f16 matrix kernel's softmax keeps four partial max/sum chains per row
/// (TREE in `flash_matrix.wgsl`): with the pipelined loop and fewer than 16 Q fragments
/// per subgroup. On an H100 (N=16384): 6 % faster at (2,4,16) with head_dim 64 (2.78
/// against 2.95 ms), 1.3 % slower at (2,8,16) with 128 (4.50 against 4.44), where the
/// registers are full (2 % slower there without the pipelined loop too).
pub fn matrix_tree(cfg: &TileConfig, head_dim: usize, pipelined: bool) -> bool {
    pipelined && q_fragments_leave_room(cfg, head_dim)
}

/// Whether the f16 matrix kernel keeps P against a fixed reference max per row (MREF in
/// `flash_matrix.wgsl`) instead of rescaling O lazily as the max rises: no per-tile
/// workgroup decision (the rescale flag's `workgroupUniformLoad`, two barriers per tile)
/// and no rescale code in the loops; a workgroup with a row whose max rises more than
/// 2^15 above its reference runs its keys a second time with the exact max. On an H100
/// (N=16384): 9 % faster at (2,4,16) with head_dim 64 (2.78 against 3.05 ms), 13 % at
/// (2,8,16) with 128 with the pipelined loop. f16 only (the split f32 kernel scales P
/// into f16 assuming P <= 2^8). `value` (`RINGATTN_MATRIX_MREF`) `0`, `off` or `false`
/// turns it off.
pub fn matrix_mref(dtype: Dtype, value: Option<&str>) -> bool {
    dtype == Dtype::F16 && switch(value) != Some(false)
}

/// The register kernel's tiles for dense launches (`RINGATTN_MATRIX_CFG`, the tuned
/// shape or [`default_regs_shape`]) where it runs ([`regs_active`]) for this dtype and
/// head_dim and the tiles fit ([`regs_config_for`]), else `None`; under a block mask see
/// [`regs_config_sparse`].
pub fn regs_config(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> Option<TileConfig> {
    regs_config_grid(ctx, dtype, head_dim, None)
}

/// [`regs_config`] for a launch of a known shape: a grid of fewer than
/// [`SMALL_GRID_WORKGROUPS`] workgroups is left to `flash_matrix.wgsl` and its
/// small-grid tiles (not when `RINGATTN_MATRIX_CFG` forces a shape or
/// `RINGATTN_SMALL_GRID=0`): on an H100 at N=1024, H=8, head_dim 64 it ran 0.0356 ms
/// against 0.0372-0.0500 for the register kernel's tiles (BENCHMARKS.md). Decode
/// launches ([`is_decode`]) take [`DECODE_SHAPE_REGS`] where the kernel runs the head_dim's
/// dense launches (H200, head_dim 64, one token of 32 heads with 8 K/V heads, packed, in
/// 16 / 32 / 32 parts: 0.0207 / 0.0303 / 0.0855 ms at K/V lengths 4K / 16K / 64K with
/// the thirty-second session's slot merge).
fn regs_config_grid(ctx: &GpuContext, dtype: Dtype, head_dim: usize, grid: Option<Grid>) -> Option<TileConfig> {
    let wanted = match grid {
        // (A decode launch's mask, if causal, hides at most its last few keys.)
        Some(Grid { shape, causal: true }) if !is_decode(shape) => regs_wanted_causal(shape, regs_env().as_deref()),
        _ => regs_wanted(head_dim, regs_env().as_deref()),
    };
    if !(wanted && regs_usable(ctx, dtype, head_dim)) {
        return None;
    }
    let lim = &ctx.capabilities().limits;
    let fit = |shape| regs_config_for(head_dim, shape, lim.max_compute_workgroup_storage_size, lim.max_compute_invocations_per_workgroup);
    let forced = env_matrix_shape();
    let shape = forced.or_else(|| crate::tuning::tuned_matrix_shape(ctx, dtype, head_dim, true)).unwrap_or_else(|| default_regs_shape(head_dim));
    let mut cfg = fit(shape)?;
    let (Some(Grid { shape: problem, causal }), None, true) = (grid, forced, small_grid_on()) else { return Some(cfg) };
    if is_decode(problem) {
        return fit(DECODE_SHAPE_REGS);
    }
    if causal {
        cfg = regs_causal_tiles(cfg, problem, fit);
    }
    (grid_workgroups(problem, cfg.bq) >= SMALL_GRID_WORKGROUPS).then_some(cfg)
}

/// The register kernel's query tiles of 64, 32 and 16 rows, for small mask blocks
/// ([`regs_config_sparse`]).
pub const REGS_SMALL_SHAPES: &[MatrixShape] = &[(1, 4, 32), (1, 2, 32), (1, 1, 32)];

/// The register kernel's tiles under a mask of `block`-query rows (a block, or merged
/// rows: `prepare_masked`), where it runs (as [`regs_active`], at every head_dim:
/// [`regs_wanted_sparse`]): the forced, tuned or
/// default shape where its query tile fits in a row (a workgroup's rows share one mask
/// row) and [`REGS_SPARSE_ROWS`], and its key tile has at most 64 keys (a tile's
/// visibility bits are two words), else of [`REGS_CANDIDATES`] and [`REGS_SMALL_SHAPES`]
/// the best that does by `sparse_rank` (the tallest query tile, then at least 4
/// subgroups, then the preferred shape's key tile and rows per subgroup, then the most
/// subgroups). Measured on an H200 (BENCHMARKS.md, twenty-sixth session; N=16384,
/// head_dim 64): at 64-token blocks (1,4,32) ran 1.2-1.3x faster than (2,2,32) (64
/// invocations); at 128-token blocks (2,4,32) 0-6 % faster than (1,8,64). Before that
/// session block masks ran on `flash_matrix.wgsl` only (1.2-3.7x slower).
pub fn regs_config_sparse(ctx: &GpuContext, dtype: Dtype, head_dim: usize, block: usize) -> Option<TileConfig> {
    if !(regs_wanted_sparse(regs_env().as_deref()) && regs_usable(ctx, dtype, head_dim)) {
        return None;
    }
    let lim = &ctx.capabilities().limits;
    regs_sparse_pick(head_dim, block, lim.max_compute_workgroup_storage_size, lim.max_compute_invocations_per_workgroup, || {
        env_matrix_shape().or_else(|| crate::tuning::tuned_matrix_shape(ctx, dtype, head_dim, true)).unwrap_or_else(|| default_regs_shape(head_dim))
    })
}

/// The register kernel's tallest query tile under a block mask. On an H200
/// (twenty-seventh session; N=16384, head_dim 64, f16, merged mask rows of 256 queries)
/// 128-row tiles at (2,4,32) ran every block as a mask in 2.31 ms, causal as a mask in
/// 1.39-1.40, a causal window of 4096 in 0.63-0.67, against 2.41, 1.50 and 0.72-0.73
/// for 256-row tiles at (2,8,32), the dense launches' shape (2.23 ms dense, 2.35 at
/// (2,4,32)).
pub const REGS_SPARSE_ROWS: usize = 128;

/// [`regs_config_sparse`]'s choice for workgroup limits, `preferred` giving the dense
/// launches' shape.
pub fn regs_sparse_pick(
    head_dim: usize,
    block: usize,
    max_wg_bytes: u32,
    max_invocations: u32,
    preferred: impl FnOnce() -> MatrixShape,
) -> Option<TileConfig> {
    let fit = |shape| regs_config_for(head_dim, shape, max_wg_bytes, max_invocations);
    let fits = |c: &TileConfig| c.bq as usize <= block.min(REGS_SPARSE_ROWS) && c.bk <= 64;
    let pref = preferred();
    match fit(pref).filter(fits) {
        Some(c) => Some(c),
        None => REGS_CANDIDATES.iter().chain(REGS_SMALL_SHAPES).filter_map(|&sh| fit(sh)).filter(fits).max_by_key(|c| sparse_rank(c, pref)),
    }
}

/// The order in which the matrix kernels' sparse picks ([`regs_sparse_pick`] and
/// `flash_matrix.wgsl`'s in `prepare_tiles`) rank the shapes whose query tiles fit a
/// mask row, the best last: the tallest query tile, then at least 4 subgroups, then the
/// key tile nearest the dense launches' shape `pref`, its rows per subgroup, the most
/// subgroups. On an H200 (twenty-seventh session; N=16384, f16, head_dim 128,
/// 64-token blocks, flash_matrix): (1,4,32) ran random 10 % masks in 1.54 ms, (2,2,32)
/// in 3.91, (1,4,64) and (2,2,64) in 5.19-5.20 (the pick before, by query then key tile).
fn sparse_rank(c: &TileConfig, pref: MatrixShape) -> impl Ord {
    let (pmq, _, pbk) = pref;
    (c.bq, c.w >= 4, std::cmp::Reverse(c.bk.abs_diff(pbk)), c.mq == pmq, c.w)
}

/// The register kernel's tiles for a causal launch: a grid of fewer than twice
/// [`SMALL_GRID_WORKGROUPS`] workgroups at `cfg` takes half as many subgroups per
/// workgroup (where that shape fits: `fit`). Causal work is a triangle, so such a grid,
/// one wave on a large GPU, idles the SMs of its short workgroups while the last ones run
/// all keys. Measured on an H100 (BENCHMARKS.md, twelfth session; N=4096, H=8, head_dim
/// 64, 128 workgroups at (2,8,32)): causal 0.198-0.205 ms at (2,8,32) against 0.159
/// non-causal, 0.165 at (2,4,32); at N=16384 the two shapes tie (1.51-1.53).
fn regs_causal_tiles(cfg: TileConfig, problem: &Shape, fit: impl Fn(MatrixShape) -> Option<TileConfig>) -> TileConfig {
    if cfg.w < 2 || grid_workgroups(problem, cfg.bq) >= 2 * SMALL_GRID_WORKGROUPS {
        return cfg;
    }
    fit((cfg.mq, cfg.w / 2, cfg.bk)).unwrap_or(cfg)
}

/// Whether dense launches of this dtype and head_dim run the register kernel: f16, the
/// head_dim wanted ([`regs_wanted`]) and a multiple of 16, and a device whose fragment
/// layout the kernel handles (`kernels::regs::coop_layout`, probed on first call).
/// Causal launches of a known shape follow [`regs_wanted_causal`] instead, masked ones
/// [`regs_wanted_sparse`].
pub fn regs_active(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> bool {
    regs_wanted(head_dim, regs_env().as_deref()) && regs_usable(ctx, dtype, head_dim)
}

/// `RINGATTN_MATRIX_REGS`, which [`regs_wanted`], [`regs_wanted_causal`] and
/// [`regs_wanted_sparse`] read.
fn regs_env() -> Option<String> {
    std::env::var("RINGATTN_MATRIX_REGS").ok()
}

/// Whether the register kernel can run this dtype and head_dim on `ctx` (f16, a
/// multiple of 16, a device whose fragment layout it handles).
pub fn regs_usable(ctx: &GpuContext, dtype: Dtype, head_dim: usize) -> bool {
    dtype == Dtype::F16 && head_dim.is_multiple_of(16) && crate::kernels::regs::coop_layout(ctx).is_some()
}

/// Causal launches whose work (batch x heads x seq_q x seq_k) is at most this many
/// (query, key) pairs run the register kernel at every head_dim ([`regs_wanted_causal`]).
/// On an H200 (twenty-seventh session; f16, head_dim 128, each kernel at its searched
/// tiles, two rounds) the register kernel against flash_matrix, causal, GPU ms: H=8
/// N=2048 0.103 / 0.158, 4096 0.271 / 0.310-0.314, 8192 0.762-0.764 / 0.951-0.952, 16384
/// 2.38-2.39 / 2.84, 32768 9.02-9.11 / 8.98-9.00, 65536 36.2 / 35.3-35.6; H=32 N=4096
/// 0.759 / 0.851, 8192 2.54 / 2.74, 16384 9.34 / 9.68 (2^33 pairs, the limit: H=8 at
/// N=32768 does the same work and runs level).
pub const REGS_CAUSAL_WORK: u64 = 1 << 33;

/// Whether a causal dense launch of `shape` runs the register kernel given
/// `RINGATTN_MATRIX_REGS` (`value`, as [`regs_wanted`]): by default at head_dims up to
/// 64 and, above, where its work is at most [`REGS_CAUSAL_WORK`].
pub fn regs_wanted_causal(shape: &Shape, value: Option<&str>) -> bool {
    let work = (shape.batch * shape.heads) as u64 * shape.seq_q as u64 * shape.seq_k as u64;
    switch(value).unwrap_or(shape.head_dim <= 64 || work <= REGS_CAUSAL_WORK)
}

/// Whether block-sparse launches run the register kernel given `RINGATTN_MATRIX_REGS`:
/// at every head_dim unless `0`/`off`/`false`. At head_dim 128 it ran masks 1.2-1.7x
/// faster than `flash_matrix.wgsl` at its tuned tiles on an H200 (twenty-seventh session;
/// N=16384, f16): random 10 % of 128-token blocks 0.66 ms against 1.14, of 64-token
/// blocks 0.97 against 1.53; causal as a mask 2.40 against 2.85; a causal window of 4096
/// 1.19 against 1.41 (dense launches: 4.70 against 4.58).
pub fn regs_wanted_sparse(value: Option<&str>) -> bool {
    switch(value).unwrap_or(true)
}

/// Every tile shape the tuner tries for the register kernel.
pub const REGS_CANDIDATES: &[MatrixShape] = &[(2, 8, 32), (2, 4, 32), (2, 4, 16), (1, 8, 64), (1, 8, 32), (2, 2, 32), (2, 4, 64)];

/// The register kernel's default tiles (16-row blocks per subgroup, subgroups, keys per
/// tile) for a head_dim: at head_dim <= 64 256-row tiles, what the searches on an H100
/// and an H200 pick since O is rescaled every tile (0.159-0.161 ms against 0.170-0.176
/// for (2,4,32) on the search problem; 2.22-2.26 ms at N=16384 against 2.40-2.42;
/// BENCHMARKS.md, twelfth session).
pub fn default_regs_shape(head_dim: usize) -> MatrixShape {
    match head_dim {
        d if d <= 64 => (2, 8, 32),
        _ => (1, 8, 32),
    }
}

/// The register kernel's tiles for a shape and workgroup limits, or `None` when they do
/// not fit (its workgroup memory holds only the K and V tiles).
pub fn regs_config_for(head_dim: usize, shape: MatrixShape, max_wg_bytes: u32, max_invocations: u32) -> Option<TileConfig> {
    let (mq, w, bk) = shape;
    let ok = head_dim.is_multiple_of(16)
        && head_dim > 0
        && (1..=4).contains(&mq)
        && w > 0
        && bk > 0
        && bk.is_multiple_of(16)
        && w * 32 <= max_invocations
        && crate::kernels::regs::regs_workgroup_bytes(head_dim, bk) <= max_wg_bytes;
    ok.then_some(TileConfig { bq: w * 16 * mq, bk, r: 1, variant: SgVariant::Regs, mq, w, m: 1 })
}

/// The fragment layout when `cfg` asks for the register kernel ([`SgVariant::Regs`]) on
/// a launch it takes (f16) and the device has a layout it handles; `None`:
/// `flash_matrix.wgsl`.
fn regs_layout(ctx: &GpuContext, dtype: Dtype, cfg: &TileConfig) -> Option<crate::kernels::regs::CoopLayout> {
    match cfg.variant == SgVariant::Regs && dtype == Dtype::F16 {
        true => crate::kernels::regs::coop_layout(ctx),
        false => None,
    }
}

/// Whether the register kernel is wanted at `head_dim` given `RINGATTN_MATRIX_REGS`
/// (`value`: `1`/`on`/`true` at every head_dim, `0`/`off`/`false` never): by default at
/// head_dims up to 64, where it is faster than `flash_matrix.wgsl` (at 128 it is slower
/// on an H100: BENCHMARKS.md, eleventh session).
pub fn regs_wanted(head_dim: usize, value: Option<&str>) -> bool {
    switch(value).unwrap_or(head_dim <= 64)
}

/// The matrix pipeline for an explicit tile configuration (the tuner times several).
/// (`cfg.variant` [`SgVariant::Regs`]: the register kernel where the device allows it,
/// else `flash_matrix.wgsl`, and the returned tiles say which.)
pub fn prepare_matrix(ctx: &GpuContext, dtype: Dtype, head_dim: usize, cfg: TileConfig) -> Result<Prepared> {
    let k = matrix_pipeline(ctx, dtype, head_dim, cfg, false, true)?;
    Ok(Prepared::new(k, settled(ctx, dtype, cfg), Tier::Matrix, false, dtype))
}

/// `cfg` as [`matrix_pipeline`] built it: a register-kernel request that fell back to
/// `flash_matrix.wgsl` (no usable layout, or the driver rejected the kernel) says so.
fn settled(ctx: &GpuContext, dtype: Dtype, cfg: TileConfig) -> TileConfig {
    match cfg.variant == SgVariant::Regs && regs_layout(ctx, dtype, &cfg).is_none() {
        true => TileConfig { variant: SgVariant::Shuffle, ..cfg },
        false => cfg,
    }
}

/// Whether the f16 matrix kernel reads K and V from storage as 8-byte units of 4
/// elements (WIDE in `flash_matrix.wgsl`) instead of as cooperative-matrix fragments,
/// which NVIDIA's driver turns into scalar 2-byte loads (on an H100 the wide loads made
/// the kernel 26 % faster at head_dim 64, 17 % at 128: BENCHMARKS.md). f16 only: the
/// split f32 kernel's K/V read as 16-byte units measured 27 % / 22 % slower than its
/// four scalar loads per vec4. `value` (`RINGATTN_MATRIX_WIDE`) `0`, `off` or `false`
/// turns it off where the tiles allow fragment staging ([`fragment_staging_fits`]). The units need K and V to start at a multiple of 4 elements in their
/// bindings, which holds for every launch: tensors own their buffers and a batch
/// group's window starts at a multiple of seq_k x kv_heads x head_dim elements, head_dim
/// a multiple of 16 on this tier (checked in [`encode_keys`]).
pub fn matrix_wide(dtype: Dtype, head_dim: usize, cfg: &TileConfig, value: Option<&str>) -> bool {
    dtype == Dtype::F16 && (switch(value) != Some(false) || !fragment_staging_fits(head_dim, cfg))
}

/// Whether the f16 kernel without WIDE can stage K/V tiles as fragments: each of the
/// `w` subgroups copies the same number of the tile's (bk/16) x (head_dim/16) fragments.
/// (The wide staging has no such condition: (2,8,16) fits head_dim 64 only with it.)
pub fn fragment_staging_fits(head_dim: usize, cfg: &TileConfig) -> bool {
    cfg.w > 0 && ((cfg.bk / 16) * (head_dim as u32 / 16)).is_multiple_of(cfg.w)
}

/// `scale_pos`: built for launches whose softmax scale is > 0 (SCALE_POS, f16 only: the
/// softmax's max is taken over the raw scores and the scale folded into the exponent's
/// FMA). [`Prepared`] holds that pipeline; [`encode_keys`] fetches the other for a
/// scale <= 0.
fn matrix_pipeline(ctx: &GpuContext, dtype: Dtype, d: usize, cfg: TileConfig, sparse: bool, scale_pos: bool) -> Result<Kernel> {
    if let Some(layout) = regs_layout(ctx, dtype, &cfg) {
        let defines = crate::kernels::regs::regs_defines(d, &cfg, &layout, scale_pos, sparse);
        let spec = KernelSpec::new("flash_regs", defines, layout_with(ctx, sparse, false), sources::FLASH_REGS, true);
        match spec.build(ctx) {
            Ok(k) => return Ok(k),
            // A driver that rejects the kernel: the workgroup-memory kernel runs (the
            // register kernel's tile shapes are ones it takes too).
            Err(e) => crate::kernels::regs::give_up(ctx, &e),
        }
    }
    let cfg = TileConfig { variant: SgVariant::Shuffle, ..cfg };
    let mut defines = matrix_defines(dtype, d, &cfg);
    defines.push(("SCALE_POS", if scale_pos && dtype == Dtype::F16 { "1" } else { "0" }.to_string()));
    let wide = matrix_wide(dtype, d, &cfg, std::env::var("RINGATTN_MATRIX_WIDE").ok().as_deref());
    defines.push(("WIDE", if wide { "1" } else { "0" }.to_string()));
    // The wide units as u32 pairs, where f16 values may be unpacked into f32.
    defines.push(("UNPACK", if wide && ctx.capabilities().shader_f16_in_f32 { "1" } else { "0" }.to_string()));
    defines.push(("SPARSE", sparse_flag(sparse)));
    // RINGATTN_MATRIX_ROLL=1 keeps the loops over a tile's 16-key blocks as loops
    // (experiment: fewer live fragments, fewer registers).
    let roll = std::env::var("RINGATTN_MATRIX_ROLL").is_ok_and(|v| v == "1");
    defines.push(("ROLLN", if roll { "1" } else { "0" }.to_string()));
    let mref = matrix_mref(dtype, std::env::var("RINGATTN_MATRIX_MREF").ok().as_deref());
    let pipe = matrix_pipelined(dtype, &cfg, d, roll, mref, std::env::var("RINGATTN_MATRIX_PIPE").ok().as_deref());
    defines.push(("TREE", if matrix_tree(&cfg, d, pipe) { "1" } else { "0" }.to_string()));
    defines.push(("MREF", if mref { "1" } else { "0" }.to_string()));
    defines.push(("PIPE", if pipe { "1" } else { "0" }.to_string()));
    KernelSpec::new("flash_matrix", defines, layout_with(ctx, sparse, dtype == Dtype::F32), sources::FLASH_MATRIX, true).build(ctx)
}

/// A rendered matrix-tier shader with the replacements of `RINGATTN_MATRIX_PATCH`
/// (`from=>to` pairs separated by `;;`: ablations that change the code the library
/// renders, see the device scripts).
fn env_patched(mut src: String) -> String {
    if let Ok(patch) = std::env::var("RINGATTN_MATRIX_PATCH") {
        for pair in patch.split(";;") {
            if let Some((a, b)) = pair.split_once("=>") {
                src = src.replace(a, b);
            }
        }
    }
    src
}

fn subgroup_pipeline(ctx: &GpuContext, dtype: Dtype, d: usize, cfg: TileConfig, sparse: bool) -> Result<Kernel> {
    let enable = enable_line(&[dtype]);
    if let SgVariant::Tiled { .. } = cfg.variant {
        return KernelSpec::new("flash_tiled", tiled_defines(d, dtype, &cfg, sparse), layout_for(ctx, sparse), sources::FLASH_TILED, false)
            .build(ctx);
    }
    if cfg.variant == SgVariant::Decode {
        let defines = decode_stream_defines(dtype, d, &cfg, ctx.capabilities().subgroup_min_size);
        return KernelSpec::new("flash_decode", defines, layout_for(ctx, sparse), sources::FLASH_DECODE, false).build(ctx);
    }
    if cfg.variant == SgVariant::Broadcast {
        let defines = vec![
            ("BQ", cfg.bq.to_string()),
            ("D4", (d / 4).to_string()),
            ("ENABLE", enable),
            ("HEAD_DIM", d.to_string()),
            ("IN", dtype.wgsl().to_string()),
            ("OUT", dtype.wgsl().to_string()),
            ("S", cfg.bk.to_string()),
            ("SPARSE", sparse_flag(sparse)),
        ];
        return KernelSpec::new("flash_bcast", defines, layout_for(ctx, sparse), sources::FLASH_BCAST, false).build(ctx);
    }
    let rs = shuffle_rs(cfg.r, cfg.m, cfg.bk, std::env::var("RINGATTN_SUBGROUP_RS").ok().as_deref());
    let unm = shuffle_unm(d, &cfg, rs, std::env::var("RINGATTN_SUBGROUP_UNM").ok().as_deref());
    let rsp = shuffle_rsp(d, &cfg, rs, std::env::var("RINGATTN_SUBGROUP_RSP").ok().as_deref());
    let pipe = shuffle_pipe(d, &cfg, dtype, rs, std::env::var("RINGATTN_SUBGROUP_PIPE").ok().as_deref());
    let tail = shuffle_tail(d, &cfg, dtype, std::env::var("RINGATTN_SUBGROUP_TAIL").ok().as_deref());
    let lim = ctx.capabilities().limits.max_compute_workgroup_storage_size;
    let psm = shuffle_psm(d, &cfg, dtype, pipe, std::env::var("RINGATTN_SUBGROUP_PSM").ok().as_deref()) && shuffle_psm_fits(d, &cfg, lim);
    let early = shuffle_early(d, &cfg, dtype, pipe && tail, std::env::var("RINGATTN_SUBGROUP_EARLY").ok().as_deref());
    let dbuf = shuffle_dbuf(d, &cfg, dtype, pipe, std::env::var("RINGATTN_SUBGROUP_DBUF").ok().as_deref()) && shuffle_dbuf_runs(ctx, d, &cfg, psm);
    shuffle_pipeline(ctx, dtype, d, cfg, ShuffleOpts { rs, unm, rsp, nsub: None, pipe, sparse, tail, psm, early, dbuf })
}

/// `flash_subgroup.wgsl` for `cfg` with `opts` (the reduce-scatter, UNM, RSP, PIPE,
/// TAIL, PSM, EARLY, DBUF, staged tiles, the block-sparse build; PSM's and DBUF's fits
/// are checked by the callers).
fn shuffle_pipeline(ctx: &GpuContext, dtype: Dtype, d: usize, cfg: TileConfig, opts: ShuffleOpts) -> Result<Kernel> {
    let ShuffleOpts { rs, unm, rsp, nsub, pipe, sparse, tail, psm, early, dbuf } = opts;
    // PIPE stages one tile per barrier.
    let nsub = if pipe { Some(1) } else { nsub };
    let enable = enable_line(&[dtype]);
    let defines = vec![
        ("BK", cfg.bk.to_string()),
        ("BQ", cfg.bq.to_string()),
        ("ENABLE", enable),
        ("HEAD_DIM", d.to_string()),
        ("IN", dtype.wgsl().to_string()),
        ("OUT", dtype.wgsl().to_string()),
        ("C", (d as u32 / 4 / cfg.r).to_string()),
        ("LOG2LANES", cfg.r.trailing_zeros().to_string()),
        ("M", cfg.m.to_string()),
        ("R", cfg.r.to_string()),
        ("SPARSE", sparse_flag(sparse)),
    ];
    let (nsub, sch) = shuffle_staging(ctx, d, cfg, nsub);
    // TAIL holds a whole staged tile in registers: one round of every unit.
    let tail_sch = shuffle_tail_round(d, cfg.bk, nsub, cfg.invocations()).filter(|_| tail);
    let sch = tail_sch.unwrap_or(sch);
    let staging = vec![("NSUB", nsub.to_string()), ("SCH", sch.to_string())];
    debug_assert!(opts.fits(&cfg), "{opts:?} for {cfg:?}");
    let flags = vec![
        ("UNM", (unm as u32).to_string()),
        ("RSP", (rsp as u32).to_string()),
        ("PIPE", (pipe as u32).to_string()),
        ("TAIL", (tail_sch.is_some() as u32).to_string()),
        ("PSM", (psm as u32).to_string()),
        ("EARLY", ((early && pipe && tail_sch.is_some()) as u32).to_string()),
        ("M4", (cfg.m / 4).to_string()),
        ("DBUF", (dbuf as u32).to_string()),
    ];
    let defines = [defines, staging, flags, shuffle_rs_defines(cfg.r, cfg.m, cfg.bk, rs)].concat();
    KernelSpec::new("flash_subgroup", defines, layout_for(ctx, sparse), sources::FLASH_SUBGROUP, false).build(ctx)
}

/// Template substitutions of `flash_portable.wgsl` for `dtype`, head_dim `d` and tiles
/// `cfg` (rows, keys, invocations per row), dense; the pipeline adds SPARSE.
pub fn portable_defines(dtype: Dtype, d: usize, cfg: &TileConfig) -> Vec<(&'static str, String)> {
    vec![
        ("BK", cfg.bk.to_string()),
        ("BQ", cfg.bq.to_string()),
        ("ENABLE", enable_line(&[dtype])),
        ("HEAD_DIM", d.to_string()),
        ("IN", dtype.wgsl().to_string()),
        ("OUT", dtype.wgsl().to_string()),
        ("R", cfg.r.to_string()),
        ("RSPLIT", ((cfg.r > 1) as u32).to_string()),
    ]
}

fn portable_pipeline(ctx: &GpuContext, dtype: Dtype, d: usize, cfg: TileConfig, sparse: bool) -> Result<Kernel> {
    let mut defines = portable_defines(dtype, d, &cfg);
    defines.push(("SPARSE", sparse_flag(sparse)));
    KernelSpec::new("flash_portable", defines, layout_for(ctx, sparse), sources::FLASH_PORTABLE, false).build(ctx)
}

/// How a flash pipeline is built (its template, defines and layout), so a launch can
/// take its twin with the grid transposed (`GRID_T` in `flash_common.wgsl`: the
/// workgroups run (head, query tile), each tile's heads together; see
/// [`FlashParams::rev_tiles`]). A specialization, not a parameter: on an H200 a kernel
/// that picked its head from `workgroup_id` by a uniform flag ran dense launches of the
/// register kernel 3-5 % slower (BENCHMARKS.md, twenty-eighth session).
#[derive(Clone)]
pub(crate) struct KernelSpec {
    key: PipelineKey,
    layout: crate::kernels::LayoutPair,
    source: &'static str,
    /// The rendered source takes `RINGATTN_MATRIX_PATCH` (the matrix kernels).
    patched: bool,
}

/// A built flash pipeline and how it was built.
pub(crate) struct Kernel {
    pipeline: std::sync::Arc<wgpu::ComputePipeline>,
    spec: KernelSpec,
}

impl KernelSpec {
    /// `kernel` from `source` with `defines` (plus `GRID_T=0`) and `layout`.
    fn new(
        kernel: &'static str,
        mut defines: Vec<(&'static str, String)>,
        layout: crate::kernels::LayoutPair,
        source: &'static str,
        patched: bool,
    ) -> KernelSpec {
        defines.push(("GRID_T", "0".to_string()));
        KernelSpec { key: PipelineKey { kernel, defines }, layout, source, patched }
    }

    fn build(self, ctx: &GpuContext) -> Result<Kernel> {
        let pipeline = self.pipeline(ctx)?;
        Ok(Kernel { pipeline, spec: self })
    }

    fn pipeline(&self, ctx: &GpuContext) -> Result<std::sync::Arc<wgpu::ComputePipeline>> {
        ctx.pipeline(&self.key, &self.layout.1, || {
            let src = render(self.source, &self.key.defines);
            if self.patched {
                env_patched(src)
            } else {
                src
            }
        })
    }

    /// The pipeline with the grid transposed (`GRID_T=1`; built on first use, then
    /// cached by the context).
    fn transposed(&self, ctx: &GpuContext) -> Result<std::sync::Arc<wgpu::ComputePipeline>> {
        let mut spec = self.clone();
        for (name, value) in spec.key.defines.iter_mut() {
            if *name == "GRID_T" {
                *value = "1".to_string();
            }
        }
        spec.pipeline(ctx)
    }
}

/// Builds the pipelines a launch of `prep` runs besides its own, so that a first call
/// finds every pipeline it runs built ([`crate::Attention::tiles`],
/// [`crate::Attention::prepare`]): the grid-transposed twin where calls take one (see
/// `encode`: causal launches, and launches over a block mask, when the heads run
/// together; under a mask whether or not the call's frame lets its rows run in order),
/// the split kernel's K/V scan (f32 on the matrix tier), and the f16 matrix kernels'
/// build for a scale that is not positive (`scale`: the calls' softmax scale).
pub fn prepare_launch(ctx: &GpuContext, prep: &Prepared, head_dim: usize, causal: bool, masked: bool, scale: f32) -> Result<()> {
    launch_pipeline(ctx, prep, head_dim, scale > 0.0, transposed_grid(causal || masked))?;
    if prep.split() {
        kv_absmax_pipeline(ctx)?;
    }
    Ok(())
}

/// Whether a launch runs its grid transposed (`rev_tiles` 2: each query tile's or mask
/// row's heads together) where it runs its longest tiles first: causal launches,
/// launches over a mask whose work rises, or over a whole mask in its rows' order
/// (`longest`).
fn transposed_grid(longest: bool) -> bool {
    longest && longest_first() && heads_together()
}

/// The pipeline a launch of `prep` runs: its own or, for a scale that is not
/// `positive`, the f16 matrix kernels' other build; the grid-transposed twin of either
/// where `transposed` (built on first use, then cached by the context).
fn launch_pipeline(
    ctx: &GpuContext,
    prep: &Prepared,
    head_dim: usize,
    positive: bool,
    transposed: bool,
) -> Result<std::sync::Arc<wgpu::ComputePipeline>> {
    let negative = match prep.tier == Tier::Matrix && prep.dtype == Dtype::F16 && !positive {
        true => Some(matrix_pipeline(ctx, prep.dtype, head_dim, prep.cfg, prep.sparse, false)?),
        false => None,
    };
    let (pipeline, spec) = match &negative {
        Some(k) => (&k.pipeline, &k.spec),
        None => (&prep.pipeline, &prep.spec),
    };
    match transposed {
        true => spec.transposed(ctx),
        false => Ok(pipeline.clone()),
    }
}

/// The flash layout (`uniform, q, k, v, o, lse`), plus `mask_meta, mask_bits` for
/// block-sparse pipelines, plus the K/V maxima for the matrix tier's split kernel.
pub(crate) fn layout_for(ctx: &GpuContext, sparse: bool) -> crate::kernels::LayoutPair {
    layout_with(ctx, sparse, false)
}

fn layout_with(ctx: &GpuContext, sparse: bool, split: bool) -> crate::kernels::LayoutPair {
    use Slot::*;
    match (sparse, split) {
        (true, false) => ctx.layout("flash_sparse", &[Uniform, Read, Read, Read, ReadWrite, ReadWrite, Read, Read]),
        (false, false) => ctx.layout("flash", &[Uniform, Read, Read, Read, ReadWrite, ReadWrite]),
        (true, true) => ctx.layout("flash_sparse_split", &[Uniform, Read, Read, Read, ReadWrite, ReadWrite, Read, Read, Read]),
        (false, true) => ctx.layout("flash_split", &[Uniform, Read, Read, Read, ReadWrite, ReadWrite, Read]),
    }
}

/// Parameters of `kv_absmax.wgsl` (field order = the WGSL struct).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AbsmaxParams {
    seq_k: u32,
    kv_heads: u32,
    head_dim: u32,
    k_off: u32,
    v_off: u32,
    k_begin: u32,
    k_end: u32,
    groups: u32,
}

/// The split kernel's K/V scan (its layout and pipeline; built, or fetched from the
/// context's cache).
fn kv_absmax_pipeline(ctx: &GpuContext) -> Result<(crate::kernels::LayoutPair, std::sync::Arc<wgpu::ComputePipeline>)> {
    let key = PipelineKey { kernel: "kv_absmax", defines: Vec::new() };
    let layout = ctx.layout("kv_absmax", &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite]);
    let pipeline = ctx.pipeline(&key, &layout.1, || render(sources::KV_ABSMAX, &key.defines))?;
    Ok((layout, pipeline))
}

/// Records the split kernel's K/V scan for keys [k_begin, k_end) of `nb` batch elements
/// (windows `wk`, `wv`) and returns the buffer of maxima the flash launch binds.
fn encode_kv_absmax(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass<'_>,
    s: &Shape,
    nb: usize,
    kv: (&super::Window<'_>, &super::Window<'_>),
    keys: (u32, u32),
) -> Result<wgpu::Buffer> {
    let ((wk, wv), (k_begin, k_end)) = (kv, keys);
    use wgpu::util::DeviceExt;
    let (layout, pipeline) = kv_absmax_pipeline(ctx)?;
    let max_wg = ctx.capabilities().limits.max_compute_workgroups_per_dimension;
    let groups = (k_end - k_begin).div_ceil(64).clamp(1, max_wg.min(4096));
    let params = AbsmaxParams {
        seq_k: s.seq_k as u32,
        kv_heads: s.kv_heads as u32,
        head_dim: s.head_dim as u32,
        k_off: wk.elem_off,
        v_off: wv.elem_off,
        k_begin,
        k_end,
        groups,
    };
    let ub = ctx.uniform("kv_absmax params", bytemuck::bytes_of(&params));
    // Zeroed at creation: the scan only raises the words.
    let out = ctx.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("kv_absmax"),
        contents: &vec![0u8; nb * s.kv_heads * 8],
        usage: wgpu::BufferUsages::STORAGE,
    });
    let bg = bind_in_order(ctx, "kv_absmax", &layout.0, &[ub.as_entire_binding(), wk.binding(), wv.binding(), out.as_entire_binding()]);
    pass.set_pipeline(&pipeline);
    pass.set_bind_group(0, &bg, &[]);
    pass.dispatch_workgroups(groups, s.kv_heads as u32, nb as u32);
    Ok(out)
}

fn sparse_flag(sparse: bool) -> String {
    (sparse as u32).to_string()
}

/// A pipeline ready to dispatch and the tile it was built for.
#[derive(Clone)]
pub struct Prepared {
    pub pipeline: std::sync::Arc<wgpu::ComputePipeline>,
    /// How `pipeline` was built (for its twin with the grid transposed).
    pub(crate) spec: KernelSpec,
    pub cfg: TileConfig,
    pub tier: Tier,
    /// Built for block masks (binds the mask buffers; `FlashArgs::mask` required).
    pub sparse: bool,
    /// Block-sparse builds: the query tokens per mask row the launches read, where the
    /// mask's merged rows ([`prepare_masked`]); 0: rows of one mask block.
    pub mask_rows: u32,
    /// The tensors' dtype it was built for.
    pub dtype: Dtype,
}

impl Prepared {
    fn new(k: Kernel, cfg: TileConfig, tier: Tier, sparse: bool, dtype: Dtype) -> Prepared {
        Prepared { pipeline: k.pipeline, spec: k.spec, cfg, tier, sparse, mask_rows: 0, dtype }
    }

    /// The matrix tier's f32 kernel (operands split into two f16 parts): its launches
    /// take the K/V maxima from a scan dispatched just before them.
    pub fn split(&self) -> bool {
        self.tier == Tier::Matrix && self.dtype == Dtype::F32
    }
}

/// Builds (or fetches) the pipeline for `tier`. The caller has already checked that
/// the tier supports the dtype and head_dim.
pub fn prepare(ctx: &GpuContext, tier: Tier, dtype: Dtype, head_dim: usize) -> Result<Prepared> {
    prepare_with(ctx, tier, dtype, head_dim, None, None)
}

/// [`prepare`] for launches of a known problem shape, causal or not: the matrix tier
/// takes its tiles from [`matrix_config_for_grid`] (shorter query tiles for small
/// grids; its register kernel also for small causal grids); the subgroup tier keeps the
/// shuffle kernel's small-grid tiles for small grids.
pub fn prepare_for(ctx: &GpuContext, tier: Tier, dtype: Dtype, shape: &Shape, causal: bool) -> Result<Prepared> {
    prepare_with(ctx, tier, dtype, shape.head_dim, None, Some(Grid { shape, causal }))
}

/// A dense launch's problem shape and whether it is causal (the tiles may depend on it).
#[derive(Clone, Copy, Debug)]
struct Grid<'a> {
    shape: &'a Shape,
    causal: bool,
}

/// The block-sparse pipeline for `tier` and a mask of `block`-token blocks: the same
/// kernel walking the mask's active blocks, with query tiles no taller than a block
/// (so a workgroup's rows share one mask row). See [`prepare_masked`] for taller tiles
/// over a mask's merged rows.
pub fn prepare_sparse(ctx: &GpuContext, tier: Tier, dtype: Dtype, head_dim: usize, block: usize) -> Result<Prepared> {
    if !crate::mask::BLOCK_SIZES.contains(&block) {
        return Err(Error::InvalidArgument(format!("mask block size must be one of {:?}, got {block}", crate::mask::BLOCK_SIZES)));
    }
    prepare_with(ctx, tier, dtype, head_dim, Some(block as u32), None)
}

/// The block-sparse pipeline for `tier` under `mask`: over the mask's merged rows
/// (`GpuBlockMask::tall_rows`, several query blocks each) where the tier's query
/// tiles grow taller than a block with them and every launch's first query (`q_align`: they are all
/// multiples of it; 0 for launches at query 0 only) starts a tile, else over rows of one
/// block ([`prepare_sparse`]). Taller tiles read each K/V tile for more queries; merged
/// rows cost a little more work where the rows' blocks differ (`BlockMask::tall_factor`
/// keeps it under `mask::TALL_SLACK`).
pub fn prepare_masked(ctx: &GpuContext, tier: Tier, dtype: Dtype, head_dim: usize, mask: &GpuBlockMask, q_align: usize) -> Result<Prepared> {
    let block = mask.shape().block;
    if let Some(rows) = mask.tall_rows().filter(|_| tall_rows_on()) {
        let mut tall = prepare_with(ctx, tier, dtype, head_dim, Some(rows as u32), None)?;
        // A tile no taller than a block runs on the block's own rows (no merged work).
        let bq = tall.cfg.bq as usize;
        if bq > block && rows.is_multiple_of(bq) && q_align.is_multiple_of(bq) {
            tall.mask_rows = rows as u32;
            return Ok(tall);
        }
    }
    prepare_sparse(ctx, tier, dtype, head_dim, block)
}

/// Whether [`prepare_masked`] may use a mask's merged rows (`RINGATTN_TALL_ROWS=0|off|false`
/// turns them off, for comparisons).
fn tall_rows_on() -> bool {
    switch(std::env::var("RINGATTN_TALL_ROWS").ok().as_deref()) != Some(false)
}

fn prepare_with(ctx: &GpuContext, tier: Tier, dtype: Dtype, head_dim: usize, block: Option<u32>, grid: Option<Grid>) -> Result<Prepared> {
    let prep = prepare_tiles(ctx, tier, dtype, head_dim, block, grid)?;
    // The sparse kernels read a tile's visibility bits as two words.
    if prep.sparse && prep.cfg.bk > 64 {
        return Err(Error::InvalidArgument(format!("block-sparse kernels need key tiles of at most 64 keys; the {tier} tier uses {}", prep.cfg.bk)));
    }
    Ok(prep)
}

/// `grid`: the launches' problem shape, when known (dense pipelines only: the sparse
/// ones keep their query tiles inside mask blocks).
fn prepare_tiles(ctx: &GpuContext, tier: Tier, dtype: Dtype, head_dim: usize, block: Option<u32>, grid: Option<Grid>) -> Result<Prepared> {
    let sparse = block.is_some();
    let cap = block.unwrap_or(u32::MAX);
    match tier {
        Tier::Portable => {
            let mut cfg = portable_config(ctx, head_dim);
            cfg.bq = cfg.bq.min(cap);
            Ok(Prepared::new(portable_pipeline(ctx, dtype, head_dim, cfg, sparse)?, cfg, tier, sparse, dtype))
        }
        Tier::Subgroup => {
            let dense = grid.filter(|_| block.is_none()).map(|g| g.shape);
            // Dense launches of a known shape: decode launches stream K/V
            // (flash_decode.wgsl) or take the shuffle kernel's decode tiles, other small
            // grids fewer rows per group (not when RINGATTN_SUBGROUP_CFG forces a shape or
            // RINGATTN_SMALL_GRID=0).
            if let Some(cfg) = dense.and_then(|shape| decode_stream_for(ctx, dtype, shape)) {
                return prepare_decode_stream(ctx, dtype, head_dim, cfg);
            }
            let mut cfg = subgroup_config_tuned(ctx, dtype, head_dim, dense);
            if let Some(shape) = dense.filter(|_| std::env::var("RINGATTN_SUBGROUP_CFG").is_err() && small_grid_on()) {
                let rows = (shape.seq_q * gqa_fold(shape)) as u32;
                let decode = (is_decode(shape) && cfg.variant == SgVariant::Shuffle).then(|| shuffle_decode_config(ctx, head_dim)).flatten();
                let decode = decode.filter(|d| rows <= d.bq);
                cfg = decode.unwrap_or_else(|| small_grid_subgroup_config(cfg, shape, small_grid_workgroups(ctx, dtype, head_dim)));
            }
            if cfg.bq > cap && matches!(cfg.variant, SgVariant::Tiled { .. }) {
                cfg = tiled_config(ctx, head_dim, cap).unwrap_or_else(|| shuffle_config(ctx, dtype, head_dim));
            }
            if cfg.bq > cap {
                if cfg.variant == SgVariant::Broadcast && !cap.is_multiple_of(cfg.bk) {
                    // The broadcast variant needs whole subgroups of rows.
                    cfg = shuffle_config(ctx, dtype, head_dim);
                }
                cfg.bq = cfg.bq.min(cap);
            }
            Ok(Prepared::new(subgroup_pipeline(ctx, dtype, head_dim, cfg, sparse)?, cfg, tier, sparse, dtype))
        }
        Tier::Matrix => {
            let regs = match block {
                Some(b) => regs_config_sparse(ctx, dtype, head_dim, b as usize),
                None => regs_config_grid(ctx, dtype, head_dim, grid),
            };
            if let Some(cfg) = regs {
                let k = matrix_pipeline(ctx, dtype, head_dim, cfg, sparse, true)?;
                return Ok(Prepared::new(k, settled(ctx, dtype, cfg), tier, sparse, dtype));
            }
            let no_fit = || Error::InvalidArgument(format!("the matrix tier does not fit head_dim {head_dim} on this adapter"));
            let cfg = match grid {
                Some(Grid { shape, .. }) if block.is_none() => matrix_config_for_grid(ctx, dtype, shape),
                _ => matrix_config(ctx, dtype, head_dim),
            };
            let mut cfg = cfg.ok_or_else(no_fit)?;
            if cfg.bq > cap {
                // The best candidate whose query tile fits in a mask row (sparse_rank).
                let caps = ctx.capabilities();
                let lim = &caps.limits;
                cfg = matrix_candidates(dtype)
                    .iter()
                    .chain([(1, 2, 32), (1, 1, 32)].iter())
                    .filter_map(|&sh| {
                        matrix_config_for(
                            dtype,
                            head_dim,
                            sh,
                            caps.subgroup_min_size,
                            lim.max_compute_workgroup_storage_size,
                            lim.max_compute_invocations_per_workgroup,
                        )
                    })
                    .filter(|c| c.bq <= cap)
                    .max_by_key(|c| sparse_rank(c, (cfg.mq, cfg.w, cfg.bk)))
                    .ok_or_else(no_fit)?;
            }
            Ok(Prepared::new(matrix_pipeline(ctx, dtype, head_dim, cfg, sparse, true)?, cfg, tier, sparse, dtype))
        }
    }
}

/// Checks that a mask covers a launch: its extent holds the chunk at the frame's
/// positions, its heads match, and every workgroup's query rows lie in one mask row.
/// Returns the layout the pipeline reads.
fn check_mask<'m>(m: &'m GpuBlockMask, f: &CausalFrame, s: &Shape, prep: &Prepared) -> Result<&'m crate::mask::MaskLayout> {
    let (q_end, k_end) = (f.q_pos0 as usize + s.seq_q, f.k_pos0 as usize + s.seq_k);
    if q_end > m.shape().seq_q || k_end > m.shape().seq_k {
        return Err(Error::ShapeMismatch {
            what: "block mask",
            expected: format!("a mask covering {q_end} queries x {k_end} keys"),
            got: format!("{} x {}", m.shape().seq_q, m.shape().seq_k),
        });
    }
    if m.shape().heads != 1 && m.shape().heads != s.heads {
        return Err(Error::ShapeMismatch { what: "block mask heads", expected: format!("1 or {}", s.heads), got: m.shape().heads.to_string() });
    }
    let Some(layout) = m.layout(prep.mask_rows) else {
        return Err(Error::InvalidArgument(format!(
            "the pipeline reads mask rows of {} queries; this mask has {}-token blocks{}; build the pipeline with prepare_sparse or prepare_masked for this mask",
            prep.mask_rows,
            m.shape().block,
            m.tall_rows().map_or(String::new(), |r| format!(" and merged rows of {r}"))
        )));
    };
    if !layout.rows.is_multiple_of(prep.cfg.bq) || !f.q_pos0.is_multiple_of(prep.cfg.bq) {
        return Err(Error::InvalidArgument(format!(
            "query tiles of {} rows must lie inside {}-query mask rows (chunk starts at query {}); build the pipeline with prepare_sparse for this block size",
            prep.cfg.bq, layout.rows, f.q_pos0
        )));
    }
    Ok(layout)
}

/// Records the launches of one attention call into `pass`.
///
/// Inputs whose bindings would exceed `max_storage_buffer_binding_size` are split
/// over the batch; a single batch element over the limit is refused.
pub fn encode(ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>, prep: &Prepared, args: &FlashArgs<'_>) -> Result<()> {
    encode_keys(ctx, pass, prep, args, 0, args.k.dims()[1])
}

/// [`encode`] for keys [k0, k1) of K/V only (a split over keys: each part gives an
/// (O, LSE) that [`crate::kernels::merge`] folds together).
pub fn encode_keys(ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>, prep: &Prepared, args: &FlashArgs<'_>, k0: usize, k1: usize) -> Result<()> {
    let s = check_shapes(args.q, args.k, args.v, args.o, args.lse)?;
    if k0 >= k1 || k1 > s.seq_k {
        return Err(Error::InvalidArgument(format!("key range {k0}..{k1} is empty or outside 0..{}", s.seq_k)));
    }
    encode_range(ctx, pass, prep, args, s, k0, k1, 1)
}

/// Records `parts` parts of a split over keys in one launch (flash-decoding): part i
/// runs keys [i * `part_keys`, (i + 1) * `part_keys`) of K/V, dense and without the
/// causal mask, and writes its O and LSE to slot i of `args.o` and `args.lse`, which hold
/// `parts` slots of the problem's (O, LSE) (dims [parts * batch, seq_q, heads, head_dim]
/// and [parts * batch, heads, seq_q]: slot i is batch elements [i * batch, (i + 1) *
/// batch)). [`crate::kernels::merge::encode_merge_slots_in_pass`] folds the slots into
/// an (O, LSE). The caller makes sure every key of the parts is visible to every query
/// row under its causal mask, if any ([`parts_fit`]). One launch instead of one per part
/// took the same GPU time on an H200, and 1.7-5.4x less wall time per call where the
/// host's encoding was the bottleneck (3 dispatches and bind groups instead of 17-33:
/// recording a call took 16-23 us against 121-247 on that machine's host; BENCHMARKS.md,
/// thirty-first session).
pub fn encode_key_parts(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass<'_>,
    prep: &Prepared,
    args: &FlashArgs<'_>,
    parts: usize,
    part_keys: usize,
) -> Result<()> {
    let s = check_qkv(args.q, args.k, args.v)?;
    let [b, n, h, d] = s.q_dims();
    let (o_dims, l_dims) = ([parts * b, n, h, d], [parts * b, h, n]);
    if args.o.dims() != o_dims {
        return Err(Error::ShapeMismatch { what: "key-part O slots", expected: format!("{o_dims:?}"), got: format!("{:?}", args.o.dims()) });
    }
    if args.o.dtype() != args.q.dtype() {
        return Err(Error::DtypeMismatch { what: "key-part O slots", expected: args.q.dtype(), got: args.o.dtype() });
    }
    if args.lse.dims() != l_dims {
        return Err(Error::ShapeMismatch { what: "key-part LSE slots", expected: format!("{l_dims:?}"), got: format!("{:?}", args.lse.dims()) });
    }
    if parts == 0 || part_keys == 0 || parts * part_keys > s.seq_k || args.mask.is_some() {
        return Err(Error::InvalidArgument(format!("{parts} dense key parts of {part_keys} keys do not fit 0..{}", s.seq_k)));
    }
    encode_range(ctx, pass, prep, args, s, 0, part_keys, parts)
}

/// Whether [`encode_key_parts`] can run `parts` parts of `part_keys` keys for a dense
/// launch of `s` in `dtype` on this adapter: every batch element in one binding of each
/// tensor (K/V, Q, and the O slots), the grid's z within the adapter's limit, and every
/// key of the parts visible to every query row under `causal` (the frame: key j is
/// visible to row 0 iff k_pos0 + j <= q_pos0 + diag).
pub fn parts_fit(ctx: &GpuContext, s: &Shape, dtype: Dtype, parts: usize, part_keys: usize, causal: Option<CausalFrame>) -> bool {
    let lim = &ctx.capabilities().limits;
    let es = dtype.size();
    let biggest =
        ((s.seq_q * s.heads * s.head_dim * parts).max(s.seq_k * s.kv_heads * s.head_dim) as u64 * es).max((s.heads * s.seq_q * parts) as u64 * 4);
    let visible = causal.is_none_or(|f| (f.k_pos0 as i64 + (parts * part_keys) as i64 - 1) <= f.q_pos0 as i64 + f.diag as i64);
    visible
        && biggest * s.batch as u64 <= lim.max_storage_buffer_binding_size
        && (s.batch * parts) as u64 <= lim.max_compute_workgroups_per_dimension as u64
        && parts * part_keys <= s.seq_k
}

/// The launch behind [`encode_keys`] (`parts` = 1, keys [k0, k1)) and
/// [`encode_key_parts`] (`parts` > 1, keys [0, k1) of each part, into the O/LSE slots).
#[allow(clippy::too_many_arguments)]
fn encode_range(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass<'_>,
    prep: &Prepared,
    args: &FlashArgs<'_>,
    s: Shape,
    k0: usize,
    k1: usize,
    parts: usize,
) -> Result<()> {
    // A launch of key parts runs without the causal mask (parts_fit: its keys are all
    // visible), each part's keys counted from its first.
    let causal = if parts > 1 { None } else { args.causal };
    if args.q.dtype() != prep.dtype {
        return Err(Error::InvalidArgument(format!("the pipeline was built for {} tensors, got {}", prep.dtype.name(), args.q.dtype().name())));
    }
    let lim = &ctx.capabilities().limits;
    let align = lim.min_storage_buffer_offset_alignment as u64;
    let es = args.q.dtype().size();
    let per_b_q = (s.seq_q * s.heads * s.head_dim) as u64 * es;
    let per_b_k = (s.seq_k * s.kv_heads * s.head_dim) as u64 * es;
    let per_b_l = (s.heads * s.seq_q) as u64 * 4;
    let biggest = per_b_q.max(per_b_k).max(per_b_l);
    let nb_max = super::batches_per_binding(ctx, "attention (its largest Q, K, V or O slice)", biggest)?;
    // GQA packing (gqa_fold): dense launches only, a mask's rows being tokens.
    let fold = if args.mask.is_some() { 1 } else { gqa_fold(&s) };
    let (gx, gh) = grid_folded(&s, prep.cfg.bq, fold);
    let max_wg = lim.max_compute_workgroups_per_dimension;
    if gx > max_wg || gh > max_wg {
        return Err(Error::LimitExceeded {
            what: format!("a grid of {gx} x {gh} workgroups"),
            limit: "max_compute_workgroups_per_dimension",
            needed: gx.max(gh) as u64,
            allowed: max_wg as u64,
        });
    }
    let mut frame = causal.unwrap_or(CausalFrame { q_pos0: 0, k_pos0: 0, diag: 0 });
    let mask = match (args.mask, prep.sparse) {
        (None, false) => None,
        (Some(_), false) => return Err(Error::InvalidArgument("a block mask needs a pipeline built with prepare_sparse".into())),
        (None, true) => return Err(Error::InvalidArgument("a block-sparse pipeline needs a block mask".into())),
        (Some((m, mf)), true) => {
            let layout = check_mask(m, &mf, &s, prep)?;
            if causal.is_some() && (mf.q_pos0, mf.k_pos0) != (frame.q_pos0, frame.k_pos0) {
                return Err(Error::InvalidArgument("the causal frame and the mask frame must place the chunk at the same positions".into()));
            }
            frame.q_pos0 = mf.q_pos0;
            frame.k_pos0 = mf.k_pos0;
            Some((m, layout))
        }
    };
    // Split the keys into chunks when the driver caps loop iterations per invocation
    // (Mesa llvmpipe); each later chunk continues from the (O, LSE) of the previous one.
    let chunk = match ctx.capabilities().max_loop_iterations {
        Some(cap) => {
            let (per_key, fixed) = prep.cfg.loop_cost(prep.tier, s.head_dim);
            let keys = cap.saturating_sub(fixed + 1024) / per_key;
            ((keys / prep.cfg.bk as u64).max(1) * prep.cfg.bk as u64) as usize
        }
        None => s.seq_k,
    };
    let layout = layout_with(ctx, prep.sparse, prep.split());
    let reversed = (causal.is_some() || mask.is_some_and(|(m, _)| m.work_rises)) && longest_first();
    let ordered = heads_together()
        && mask.is_some_and(|(m, l)| {
            mask_order_fits(m.shape().seq_q, l.rows as usize, s.seq_q, frame.q_pos0 as usize, prep.cfg.bq as usize, causal.is_some())
        });
    let transposed = transposed_grid(reversed || ordered);
    let rev_tiles = if transposed { 2 } else { reversed as u32 };
    // The f16 matrix pipelines in `Prepared` assume a positive scale; rev_tiles 2 runs
    // the pipeline's twin with the grid transposed.
    let pipeline = launch_pipeline(ctx, prep, s.head_dim, args.scale > 0.0, transposed)?;
    if !prep.split() {
        pass.set_pipeline(&pipeline);
    }
    let mut b0 = 0;
    while b0 < s.batch {
        let nb = nb_max.min(s.batch - b0).min(max_wg as usize);
        if parts > 1 && (nb < s.batch || nb * parts > max_wg as usize) {
            return Err(Error::InvalidArgument(format!("{parts} key parts of a batch of {} do not fit one launch (flash::parts_fit)", s.batch)));
        }
        let wq = window(args.q.buffer(), b0 as u64 * per_b_q, nb as u64 * per_b_q, es, align);
        let wk = window(args.k.buffer(), b0 as u64 * per_b_k, nb as u64 * per_b_k, es, align);
        let wv = window(args.v.buffer(), b0 as u64 * per_b_k, nb as u64 * per_b_k, es, align);
        debug_assert!(
            prep.tier != Tier::Matrix || (wk.elem_off.is_multiple_of(4) && wv.elem_off.is_multiple_of(4)),
            "K/V windows must start at multiples of 4 elements (matrix_wide)"
        );
        // (A launch of key parts binds every slot: parts x the whole batch.)
        let wo = window(args.o.buffer(), b0 as u64 * per_b_q, (nb * parts) as u64 * per_b_q, es, align);
        let wl = window(args.lse.buffer(), b0 as u64 * per_b_l, (nb * parts) as u64 * per_b_l, 4, align);
        let mut kb = k0;
        while kb < k1 {
            let ke = (kb + chunk).min(k1);
            let maxima = match prep.split() {
                true => {
                    // (Over every key of the parts: one scale serves them all.)
                    let range = if parts > 1 { (0, (parts * k1) as u32) } else { (kb as u32, ke as u32) };
                    let m = encode_kv_absmax(ctx, pass, &s, nb, (&wk, &wv), range)?;
                    pass.set_pipeline(&pipeline);
                    Some(m)
                }
                false => None,
            };
            let params = FlashParams {
                seq_q: (s.seq_q * fold) as u32,
                seq_k: s.seq_k as u32,
                heads: gh,
                kv_heads: s.kv_heads as u32,
                q_off: wq.elem_off,
                k_off: wk.elem_off,
                v_off: wv.elem_off,
                o_off: wo.elem_off,
                lse_off: wl.elem_off,
                causal: causal.is_some() as u32,
                diag: frame.diag,
                scale_log2: args.scale * std::f32::consts::LOG2_E,
                q_pos0: frame.q_pos0,
                k_pos0: frame.k_pos0,
                neg_inf: f32::NEG_INFINITY,
                ln2: std::f32::consts::LN_2,
                k_begin: kb as u32,
                k_end: ke as u32,
                accumulate: (kb > k0) as u32,
                mask_log2b: mask.map_or(0, |(m, _)| m.shape().block.trailing_zeros()),
                mask_nqb: mask.map_or(0, |(m, l)| m.shape().seq_q.div_ceil(l.rows as usize) as u32),
                mask_heads: mask.map_or(0, |(m, _)| m.shape().heads as u32),
                mask_cols: mask.map_or(0, |(_, l)| l.cols_off),
                mask_words: mask.map_or(0, |(m, l)| (l.rows as usize * m.shape().block / 32) as u32),
                rev_tiles,
                mask_log2q: mask.map_or(0, |(_, l)| l.rows.trailing_zeros()),
                mask_order: if ordered { mask.map_or(0, |(_, l)| l.order_off) } else { 0 },
                fold: fold as u32,
                parts: parts as u32,
                part_keys: if parts > 1 { k1 as u32 } else { 0 },
                zb: nb as u32,
                _pad: 0,
            };
            let ub = ctx.uniform("flash params", bytemuck::bytes_of(&params));
            // The layout's order: params, q, k, v, o, lse, [mask meta, mask bits], [K/V maxima].
            let mut res = vec![ub.as_entire_binding(), wq.binding(), wk.binding(), wv.binding(), wo.binding(), wl.binding()];
            if let Some((_, l)) = mask {
                res.extend([l.meta.as_entire_binding(), l.bits.as_entire_binding()]);
            }
            if let Some(m) = &maxima {
                res.push(m.as_entire_binding());
            }
            let bg = bind_in_order(ctx, "flash", &layout.0, &res);
            pass.set_bind_group(0, &bg, &[]);
            // rev_tiles 2 transposes the grid: (head, tile), each tile's heads together.
            match rev_tiles == 2 {
                true => pass.dispatch_workgroups(gh, gx, (nb * parts) as u32),
                false => pass.dispatch_workgroups(gx, gh, (nb * parts) as u32),
            }
            kb = ke;
        }
        b0 += nb;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An NVIDIA-like adapter: subgroups of 32, 48 KiB of workgroup memory, 1024 invocations.
    const SG: u32 = 32;
    const WG_BYTES: u32 = 49152;
    const INVOCATIONS: u32 = 1024;

    fn cfg(d: usize, shape: MatrixShape) -> TileConfig {
        matrix_config_for(Dtype::F16, d, shape, SG, WG_BYTES, INVOCATIONS).expect("shape fits")
    }

    fn pick(d: usize, normal: MatrixShape, shape: &Shape) -> TileConfig {
        small_grid_matrix_config(Dtype::F16, cfg(d, normal), shape, SG, WG_BYTES, INVOCATIONS)
    }

    /// The register kernel under a block mask: the dense shape where its query tile fits
    /// in a block, else the measured order (tallest tile, at least 4 subgroups, the dense
    /// key tile and rows per subgroup); key tiles never above 64 keys.
    #[test]
    fn sparse_register_tiles_fit_their_blocks() {
        let pick = |d, block, pref| regs_sparse_pick(d, block, WG_BYTES, INVOCATIONS, || pref).map(|c| (c.mq, c.w, c.bk));
        // Never taller than REGS_SPARSE_ROWS.
        assert_eq!(pick(64, 256, (2, 8, 32)), Some((2, 4, 32)));
        assert_eq!(pick(64, 1024, (2, 8, 32)), Some((2, 4, 32)));
        assert_eq!(pick(64, 1024, (2, 4, 32)), Some((2, 4, 32)));
        assert_eq!(pick(64, 128, (2, 8, 32)), Some((2, 4, 32)));
        assert_eq!(pick(64, 64, (2, 8, 32)), Some((1, 4, 32)));
        assert_eq!(pick(64, 32, (2, 8, 32)), Some((1, 2, 32)));
        assert_eq!(pick(64, 16, (2, 8, 32)), Some((1, 1, 32)));
        assert_eq!(pick(32, 64, (2, 8, 32)), Some((1, 4, 32)));
        // A preferred shape with 128-key tiles never runs under a mask.
        assert_eq!(pick(64, 1024, (1, 8, 128)).map(|s| s.2 <= 64), Some(true));
        for &block in crate::mask::BLOCK_SIZES {
            let c = regs_sparse_pick(128, block, WG_BYTES, INVOCATIONS, || default_regs_shape(128)).expect("a shape fits");
            assert!(c.bq as usize <= block.min(REGS_SPARSE_ROWS) && c.bk <= 64 && c.variant == SgVariant::Regs, "block {block}: {c:?}");
        }
    }

    #[test]
    fn grid_counts_query_tiles_heads_and_batch() {
        assert_eq!(grid_workgroups(&Shape::new(1, 1024, 8, 64), 128), 64);
        assert_eq!(grid_workgroups(&Shape::new(3, 1000, 2, 64), 64), 16 * 2 * 3);
        assert_eq!(grid_workgroups(&Shape::new(1, 16, 1, 64), 128), 1);
    }

    #[test]
    fn small_grid_takes_64_row_tiles() {
        // N=1024, H=8: 64 workgroups of 128 rows (32 of 256), 128 of 64 rows (the H100
        // measurement).
        let defaults = [(64, default_matrix_shape(Dtype::F16, 64)), (128, default_matrix_shape(Dtype::F16, 128))];
        for (d, normal) in defaults.into_iter().chain([(128, (1, 8, 32)), (96, (2, 4, 32))]) {
            let normal_cfg = cfg(d, normal);
            assert!(normal_cfg.bq >= 128, "d={d}");
            let got = pick(d, normal, &Shape::new(1, 1024, 8, d));
            assert_eq!((got.mq, got.w, got.bk, got.bq), (1, 4, 32, 64), "d={d}");
        }
        // N=4096, H=2: 64 -> 128 workgroups.
        let got = pick(64, (2, 4, 32), &Shape::new(1, 4096, 2, 64));
        assert_eq!((got.mq, got.w, got.bk), (1, 4, 32));
        // N=4096, H=1: no allowed tile reaches 128 workgroups; the most (64) win, and
        // tiles stay at least SMALL_GRID_MIN_ROWS tall.
        let got = pick(128, (1, 8, 32), &Shape::new(1, 4096, 1, 128));
        assert_eq!((got.mq, got.w, got.bk), (1, 4, 32));
        assert_eq!(got.bq, SMALL_GRID_MIN_ROWS);
    }

    /// Every built-in choice fits an adapter with 48 KiB of workgroup memory at subgroup
    /// sizes 16, 32 and 64; where the default needs larger subgroups (two 16-row blocks
    /// per subgroup at 16 invocations), the fallback runs.
    #[test]
    fn builtin_tiles_fit_or_fall_back() {
        for dtype in [Dtype::F16, Dtype::F32] {
            for &d in MATRIX_HEAD_DIMS {
                for sg in [16, 32, 64] {
                    let got = builtin_matrix_config(dtype, d, sg, WG_BYTES, INVOCATIONS).unwrap_or_else(|| panic!("{dtype:?} d={d} sg={sg}"));
                    assert!([default_matrix_shape(dtype, d), MATRIX_FALLBACK_SHAPE].contains(&(got.mq, got.w, got.bk)), "{dtype:?} d={d} sg={sg}");
                }
            }
        }
        // The f16 default at head_dim 128 takes 32-row subgroup blocks: at 16 invocations
        // it gives way.
        assert!(matrix_config_for(Dtype::F16, 128, default_matrix_shape(Dtype::F16, 128), 16, WG_BYTES, INVOCATIONS).is_none());
        let fallback = builtin_matrix_config(Dtype::F16, 128, 16, WG_BYTES, INVOCATIONS).expect("fallback fits");
        assert_eq!((fallback.mq, fallback.w, fallback.bk), MATRIX_FALLBACK_SHAPE);
        assert_eq!(builtin_matrix_config(Dtype::F16, 128, 32, WG_BYTES, INVOCATIONS), Some(cfg(128, (2, 8, 16))));
    }

    /// The portable kernel takes its keys eight at a time: at every supported head_dim
    /// its key tile is a multiple of 8 and its K and V tiles (with the split rows'
    /// partial scores) fit 16 KiB, and 24 KiB where the adapter has more.
    #[test]
    fn portable_tiles_take_keys_by_eight_within_16_kib() {
        for &d in crate::SUPPORTED_HEAD_DIMS {
            let c = portable_config_for(d, 16384, 256);
            let bytes = |c: &TileConfig| 2 * 4 * c.bk * d as u32 + portable_split_bytes(c.bq, c.r);
            assert!(c.bk.is_multiple_of(8) && bytes(&c) <= 16384 && c.bq == 64, "d={d}: {c:?}");
            let big = portable_config_for(d, 49152, 1024);
            assert!(big.bk >= c.bk && bytes(&big) <= PORTABLE_WG_BYTES && (big.bq, big.r) == (c.bq, c.r), "d={d}: {big:?}");
            // Each invocation holds at most 64 of q's and O's scalars apart from d 256.
            assert!(d == 256 || d as u32 / c.r <= 64, "d={d}: {c:?}");
        }
        assert_eq!((portable_config_for(64, 16384, 256).bk, portable_config_for(64, 16384, 256).r), (16, 2));
        assert_eq!((portable_config_for(32, 16384, 256).bk, portable_config_for(32, 16384, 256).r), (32, 1));
        assert_eq!(portable_config_for(128, 16384, 256), TileConfig { bq: 64, bk: 8, r: 2, variant: SgVariant::Shuffle, mq: 0, w: 0, m: 1 });
        assert_eq!(portable_config_for(128, 49152, 1024).bk, 16, "24 KiB where the adapter has them");
        assert_eq!(portable_config_for(64, 49152, 1024).bk, 16, "at most 16 keys with rows split");
        assert_eq!(portable_config_for(256, 16384, 256).bk, 8);
        assert_eq!(portable_config_for(256, 49152, 1024).bk, 8);
        assert_eq!((portable_config_for(64, 16384, 32).bq, portable_config_for(32, 16384, 32).bq), (16, 32), "32 invocations");
        assert_eq!((portable_config_for(96, 16384, 64).bq, portable_config_for(96, 16384, 64).r), (32, 2));
        let four = portable_config_split(128, 16384, 256, Some(4));
        assert_eq!((four.bq, four.bk, four.r), (32, 8, 4));
        assert_eq!(portable_config_split(96, 16384, 256, Some(4)).r, 4);
        assert_eq!(portable_config_split(40, 16384, 256, Some(4)).r, 1, "10 vec4 columns do not split in four");
        assert_eq!(portable_config_split(256, 16384, 256, Some(2)).r, 1);
    }

    #[test]
    fn large_grid_keeps_the_normal_tiles() {
        for shape in [Shape::new(1, 4096, 8, 64), Shape::new(2, 1024, 8, 64), Shape::new(8, 16384, 32, 64)] {
            assert_eq!(pick(64, (2, 4, 32), &shape), cfg(64, (2, 4, 32)), "{shape:?}");
        }
    }

    #[test]
    fn no_gain_keeps_the_normal_tiles() {
        // One query tile whatever its height: nothing to win.
        assert_eq!(pick(64, (2, 4, 32), &Shape::new(1, 16, 1, 64)), cfg(64, (2, 4, 32)));
        assert_eq!(pick(64, (2, 4, 32), &Shape::new(1, 64, 1, 64)), cfg(64, (2, 4, 32)));
        // Already at the shortest allowed tile.
        assert_eq!(pick(64, (1, 4, 32), &Shape::new(1, 1024, 1, 64)), cfg(64, (1, 4, 32)));
    }

    #[test]
    fn ties_prefer_the_normal_key_tile() {
        // With room for 64-key tiles everywhere, a 64-key normal shape keeps 64-key tiles.
        let big = 100_000;
        let normal = matrix_config_for(Dtype::F16, 64, (2, 4, 64), SG, big, INVOCATIONS).expect("fits in 100 KB");
        let got = small_grid_matrix_config(Dtype::F16, normal, &Shape::new(1, 1024, 8, 64), SG, big, INVOCATIONS);
        assert_eq!((got.mq, got.w, got.bk), (1, 4, 64));
    }

    #[test]
    fn never_a_taller_tile_or_fewer_workgroups() {
        let shapes: Vec<Shape> = [(1, 128, 1), (1, 1024, 1), (1, 1024, 8), (2, 2048, 4), (1, 4096, 1), (1, 4096, 2), (4, 333, 3), (1, 65536, 32)]
            .iter()
            .flat_map(|&(b, n, h)| MATRIX_HEAD_DIMS.iter().map(move |&d| Shape::new(b, n, h, d)))
            .collect();
        for dtype in [Dtype::F16, Dtype::F32] {
            for &sg in &[32, 64] {
                for s in &shapes {
                    for &normal in matrix_candidates(dtype) {
                        let Some(n) = matrix_config_for(dtype, s.head_dim, normal, sg, WG_BYTES, INVOCATIONS) else { continue };
                        let got = small_grid_matrix_config(dtype, n, s, sg, WG_BYTES, INVOCATIONS);
                        assert!(got.bq <= n.bq, "{s:?} {normal:?}: {got:?}");
                        assert!(grid_workgroups(s, got.bq) >= grid_workgroups(s, n.bq), "{s:?} {normal:?}: {got:?}");
                        assert!(got == n || got.bq >= SMALL_GRID_MIN_ROWS, "{s:?} {normal:?}: {got:?}");
                        assert_eq!(matrix_config_for(dtype, s.head_dim, (got.mq, got.w, got.bk), sg, WG_BYTES, INVOCATIONS), Some(got));
                    }
                }
            }
        }
    }

    #[test]
    fn split_defaults_fit_48_kib() {
        // Every head_dim's f32 default fits an NVIDIA-like adapter (48 KiB, subgroups of 32).
        for &d in MATRIX_HEAD_DIMS {
            let c = matrix_config_for(Dtype::F32, d, default_matrix_shape(Dtype::F32, d), SG, WG_BYTES, INVOCATIONS);
            assert!(c.is_some(), "d={d}");
        }
        // The split kernel's areas are larger: (1,8,32) fits f16 but not f32 at 64.
        assert!(matrix_config_for(Dtype::F16, 64, (1, 8, 32), SG, WG_BYTES, INVOCATIONS).is_some());
        assert!(matrix_config_for(Dtype::F32, 64, (1, 8, 32), SG, WG_BYTES, INVOCATIONS).is_none());
    }

    #[test]
    fn eight_subgroup_tiles_fit_f16_with_wide_staging() {
        // (2,8,16): 256-row tiles; it fits 48 KiB in f16 only (the split kernel's second
        // K/V/P areas do not). Staged as fragments it needs one K and one V fragment per
        // subgroup (head_dim/16 a multiple of 8: 128 yes, 64 and 96 no); the wide staging
        // (the default) has no such condition.
        for d in [64, 96, 128] {
            let c = matrix_config_for(Dtype::F16, d, (2, 8, 16), SG, WG_BYTES, INVOCATIONS).expect("fits");
            assert_eq!((c.bq, c.bk), (256, 16));
            assert_eq!(fragment_staging_fits(d, &c), d == 128, "d={d}");
        }
        assert!(matrix_config_for(Dtype::F32, 128, (2, 8, 16), SG, WG_BYTES, INVOCATIONS).is_none());
        assert!(MATRIX_CANDIDATES.contains(&(2, 8, 16)));
    }

    #[test]
    fn pipelined_loop_where_the_registers_allow() {
        // f16 only, unrolled only; with the lazy rescale, off at 16+ Q fragments per
        // subgroup ((2,8,16) at 128).
        assert!(matrix_pipelined(Dtype::F16, &cfg(64, (2, 4, 16)), 64, false, false, None));
        assert!(matrix_pipelined(Dtype::F16, &cfg(128, (1, 8, 32)), 128, false, false, None));
        assert!(!matrix_pipelined(Dtype::F16, &cfg(128, (2, 8, 16)), 128, false, false, None));
        assert!(!matrix_pipelined(Dtype::F16, &cfg(64, (2, 4, 16)), 64, true, true, None));
        // Without the lazy rescale (MREF) the registers allow it at (2,8,16) too.
        assert!(matrix_pipelined(Dtype::F16, &cfg(128, (2, 8, 16)), 128, false, true, None));
        assert!(matrix_mref(Dtype::F16, None) && !matrix_mref(Dtype::F16, Some("0")) && !matrix_mref(Dtype::F32, None));
        // Partial max/sum chains: pipelined, and not where 16+ Q fragments fill the registers.
        assert!(matrix_tree(&cfg(64, (2, 4, 16)), 64, true) && !matrix_tree(&cfg(64, (2, 4, 16)), 64, false));
        assert!(!matrix_tree(&cfg(128, (2, 8, 16)), 128, true) && matrix_tree(&cfg(128, (1, 8, 32)), 128, true));
        let split = matrix_config_for(Dtype::F32, 64, (2, 4, 16), SG, WG_BYTES, INVOCATIONS).expect("fits");
        assert!(!matrix_pipelined(Dtype::F32, &split, 64, false, false, Some("1")));
        // RINGATTN_MATRIX_PIPE overrides the register rule both ways.
        assert!(matrix_pipelined(Dtype::F16, &cfg(128, (2, 8, 16)), 128, false, false, Some(" on")));
        assert!(!matrix_pipelined(Dtype::F16, &cfg(64, (2, 4, 16)), 64, false, true, Some("0")));
        // Wide K/V loads: on unless turned off.
        let c = cfg(64, (2, 4, 16));
        assert!(
            matrix_wide(Dtype::F16, 64, &c, None) && matrix_wide(Dtype::F16, 64, &c, Some("1")) && !matrix_wide(Dtype::F16, 64, &c, Some(" off"))
        );
        assert!(!matrix_wide(Dtype::F32, 64, &split, None));
        // Turning it off is ignored where fragment staging does not fit ((2,8,16) at 64).
        assert!(matrix_wide(Dtype::F16, 64, &cfg(64, (2, 8, 16)), Some("0")));
    }

    #[test]
    fn shuffle_search_candidates_per_head_dim() {
        // (r, m, bk, invocations): the general rule's RS shape, head_dim 64's, 32's and
        // 128's shapes in columns per lane, and twice the lanes per row.
        assert_eq!(shuffle_candidate_shapes(64), vec![(4, 4, 16, 128), (4, 4, 32, 128), (4, 2, 16, 128), (4, 4, 16, 256), (8, 4, 16, 128)]);
        assert_eq!(shuffle_candidate_shapes(128), vec![(8, 4, 16, 128), (8, 4, 32, 128), (8, 2, 16, 128), (8, 4, 16, 256), (16, 4, 16, 128)]);
        // At 32 two lanes per row cannot reduce-scatter four rows.
        assert_eq!(shuffle_candidate_shapes(32), vec![(2, 2, 16, 128), (4, 4, 16, 128)]);
        // Every measured default at 32, 64 and 128 is among them, with its workgroup (at
        // 80, 96 and 256 they are the general rule's shapes; the search times the
        // built-in shape first in any case).
        for &(d, r, m, bk) in SHUFFLE_MEASURED.iter().filter(|k| [32, 64, 128].contains(&k.0)) {
            let wg = shuffle_wg_default(Some((d, r, m, bk)), Dtype::F32);
            assert!(shuffle_candidate_shapes(d).contains(&(r, m, bk, wg)), "{d}: ({r},{m},{bk},{wg})");
        }
        assert!(shuffle_candidate_shapes(20).iter().all(|&(r, m, bk, _)| 5 % r == 0 && shuffle_rs_fits(r, m, bk)));
    }

    #[test]
    fn subgroup_small_grids_split_their_keys() {
        let shape = |n: usize, h: usize, d: usize| Shape { batch: 1, seq_q: n, seq_k: n, heads: h, kv_heads: h, head_dim: d };
        // The built-in shapes: (8,4,16) at 128 and (4,4,16) at 64, 256 invocations.
        let d128 = TileConfig { bq: 128, bk: 16, r: 8, variant: SgVariant::Shuffle, mq: 0, w: 0, m: 4 };
        let d64 = TileConfig { bq: 256, bk: 16, r: 4, variant: SgVariant::Shuffle, mq: 0, w: 0, m: 4 };
        let parts = |normal: TileConfig, n: usize, h: usize| {
            let s = shape(n, h, normal.r as usize * 16);
            auto_key_splits(
                &small_grid_subgroup_config(normal, &s, SMALL_GRID_WORKGROUPS),
                Tier::Subgroup,
                Dtype::F32,
                &s,
                false,
                true,
                SMALL_GRID_INVOCATIONS,
            )
        };
        // H=8 at head_dim 128: N=512 and 1024 (128 workgroups of 128 invocations) split
        // in two, N=2048 (128 workgroups of 256) and longer stay whole.
        assert_eq!([512, 1024, 2048, 4096, 16384].map(|n| parts(d128, n, 8)), [2, 2, 1, 1, 1]);
        // H=8 at head_dim 64: 64 workgroups at N=512 split in four 128-key parts.
        assert_eq!([512, 1024, 2048, 4096].map(|n| parts(d64, n, 8)), [4, 2, 2, 1]);
        // H=1: more parts, as long as each keeps 128 keys at 64 (64 at 128).
        assert_eq!([1024, 2048, 4096, 8192, 65536].map(|n| parts(d64, n, 1)), [8, 8, 4, 2, 1]);
        assert_eq!([1024, 2048, 4096, 8192].map(|n| parts(d128, n, 1)), [8, 4, 2, 2]);
        // Past one wave, where the last wave would run mostly empty (H=4: N=6000 at 64
        // and 3000 at 128 are 188 workgroups of 128 invocations, 1.47 waves; N=6000 at
        // 128 188 of 256, 2.9 half waves): 4, 4 and 2 parts.
        assert_eq!([(d64, 6000), (d128, 3000), (d128, 6000)].map(|(c, n)| parts(c, n, 4)), [4, 4, 2]);
        // Whole waves stay whole (1024 workgroups of 256 are 8), and so do 5.9 waves
        // (N=12000, H=8 at 128: 752 of 256), where 8 parts would model 0.3 % faster.
        assert_eq!(key_splits_to_fill(1024, 256, 16384, 128, false, SMALL_GRID_INVOCATIONS), 1);
        assert_eq!(key_splits_to_fill(752, 256, 12000, 128, false, SMALL_GRID_INVOCATIONS), 1);
        // Causal launches split on to 1024 workgroups of 256, parts of 256 keys at 64 and
        // 128 at 128: at 64 N=512 4 (128-key parts from the fill), 1024 4, 2048 and 4096
        // 8, 8192 4, 16384 2; at 128 N=512 4, 1024 and 2048 8, 4096 4, 8192 2, 16384
        // (1024 workgroups) whole.
        let causal = |normal: TileConfig, n: usize| {
            let s = shape(n, 8, normal.r as usize * 16);
            auto_key_splits(
                &small_grid_subgroup_config(normal, &s, SMALL_GRID_WORKGROUPS),
                Tier::Subgroup,
                Dtype::F32,
                &s,
                true,
                true,
                SMALL_GRID_INVOCATIONS,
            )
        };
        assert_eq!([512, 1024, 2048, 4096, 8192, 16384].map(|n| causal(d64, n)), [4, 4, 8, 8, 4, 2]);
        assert_eq!([512, 1024, 2048, 4096, 8192, 16384].map(|n| causal(d128, n)), [4, 8, 8, 4, 2, 1]);
        // At most SPLIT_MAX_PARTS, and never parts under SPLIT_MIN_KEY_DIMS of work.
        assert_eq!(key_splits_to_fill(1, 32, 1 << 20, 64, false, SMALL_GRID_INVOCATIONS), SPLIT_MAX_PARTS);
        assert_eq!(key_splits_to_fill(1, 32, 255, 64, false, SMALL_GRID_INVOCATIONS), 1);
        assert_eq!(key_splits_to_fill(1, 32, 256, 64, false, SMALL_GRID_INVOCATIONS), 2);
        assert_eq!(key_splits_to_fill(1, 32, 256, 128, false, SMALL_GRID_INVOCATIONS), 4);
        assert_eq!(key_splits_to_fill(SMALL_GRID_WORKGROUPS, 256, 1 << 20, 64, false, SMALL_GRID_INVOCATIONS), 1);
        // Other GPUs' waves (as `tuning::measure_wave` finds them). 28 SMs of one
        // 256-invocation workgroup (7168 invocations): the tiny grids split as on the
        // H100 (they fill neither), H=8 head_dim 128 N=2048 (2.3 waves) stays whole, and
        // N=4096 (9.1 waves) takes 4 parts, which cut its last, mostly idle wave (37
        // waves of 1056 keys against 10 of 4128: 5.3 % in the model). 1000 workgroups:
        // grids the H100 runs whole are short of one wave, or just past one, and split.
        // Causal launches split to fewer parts, their 8 waves being fewer invocations.
        let with_wave = |normal: TileConfig, n: usize, h: usize, causal: bool, wave: u64| {
            let s = shape(n, h, normal.r as usize * 16);
            auto_key_splits(&small_grid_subgroup_config(normal, &s, SMALL_GRID_WORKGROUPS), Tier::Subgroup, Dtype::F32, &s, causal, true, wave)
        };
        let small_gpu = |c, n, h| with_wave(c, n, h, false, 28 * 256);
        let big_gpu = |c, n, h| with_wave(c, n, h, false, 1000 * 256);
        assert_eq!([1024, 2048, 4096, 8192].map(|n| small_gpu(d64, n, 1)), [8, 8, 4, 2]);
        assert_eq!([512, 1024, 2048, 4096].map(|n| small_gpu(d128, n, 8)), [2, 2, 1, 4]);
        assert_eq!([2048, 4096, 8192, 16384].map(|n| big_gpu(d128, n, 8)), [4, 8, 8, 8]);
        assert_eq!([512, 2048, 8192].map(|n| with_wave(d64, n, 8, true, 28 * 256)), [4, 4, 4]);
        // Only the subgroup tier's shuffle kernel on a GPU splits.
        let s = shape(1024, 8, 128);
        let small = small_grid_subgroup_config(d128, &s, SMALL_GRID_WORKGROUPS);
        assert_eq!(auto_key_splits(&small, Tier::Subgroup, Dtype::F32, &s, false, false, SMALL_GRID_INVOCATIONS), 1);
        assert_eq!(auto_key_splits(&small, Tier::Matrix, Dtype::F16, &s, true, true, SMALL_GRID_INVOCATIONS), 1);
        let tiled = TileConfig { variant: SgVariant::Tiled { palias: false }, ..small };
        assert_eq!(auto_key_splits(&tiled, Tier::Subgroup, Dtype::F32, &s, true, true, SMALL_GRID_INVOCATIONS), 1);
    }

    /// Decode launches (a few query rows against a long K/V cache) pack the query heads
    /// of a K/V head into one grid head's rows, take one 16-row block per workgroup on
    /// the matrix tier (f16) and split their keys: up to 256 workgroups in all, parts of
    /// at least 256 keys, at most 32 (what ran fastest on an H200).
    #[test]
    fn decode_launches_take_short_tiles_and_split_their_keys() {
        let decode = |b: usize, q: usize, k: usize, h: usize| Shape::new(b, q, h, 128).with_seq_k(k).with_kv_heads(8);
        assert!(is_decode(&decode(1, 1, 4096, 32)) && is_decode(&decode(4, 16, 1024, 32)));
        assert!(!is_decode(&decode(1, 17, 4096, 32)) && !is_decode(&decode(1, 1, 1023, 32)) && !is_decode(&Shape::new(1, 4096, 32, 128)));
        // GQA packing: 4 query heads per K/V head, so one token is 4 rows of 8 grid
        // heads, five tokens 20 rows (two 16-row tiles); none without groups or outside
        // decode shapes.
        assert_eq!(gqa_fold(&decode(1, 1, 4096, 32)), 4);
        assert_eq!((launch_grid(&decode(1, 1, 4096, 32), 16), launch_grid(&decode(1, 5, 4096, 32), 16)), ((1, 8), (2, 8)));
        assert_eq!(grid_workgroups(&decode(3, 5, 4096, 32), 16), 2 * 8 * 3);
        assert_eq!(gqa_fold(&decode(1, 1, 4096, 8)), 1);
        assert_eq!((gqa_fold(&decode(1, 17, 4096, 32)), launch_grid(&decode(1, 17, 4096, 32), 16)), (1, (2, 32)));
        let cfg = matrix_config_for(Dtype::F16, 128, DECODE_SHAPE, 32, 49152, 1024).unwrap();
        assert_eq!((cfg.bq, cfg.w, cfg.bk), (16, 1, 16));
        let parts = |c: &TileConfig, tier, dtype, s: &Shape| auto_key_splits(c, tier, dtype, s, false, true, SMALL_GRID_INVOCATIONS);
        let m16 = |s: &Shape| parts(&cfg, Tier::Matrix, Dtype::F16, s);
        // One token, 8 workgroups, on the 16-key tiles: 32 parts (of 128 keys at 4096).
        assert_eq!([4096, 16384, 65536].map(|k| m16(&decode(1, 1, k, 32))), [32, 32, 32]);
        // Five tokens (16 workgroups), MHA (32), a batch of 8 (64): within 512 workgroups.
        assert_eq!(m16(&decode(1, 5, 65536, 32)), 32);
        assert_eq!(m16(&Shape::new(1, 1, 32, 128).with_seq_k(65536)), 16);
        assert_eq!(m16(&decode(8, 1, 16384, 32)), 8);
        assert_eq!(m16(&decode(64, 1, 16384, 32)), 1, "512 workgroups fill the GPU whole");
        // The register kernel's decode tiles (head_dim 64): one subgroup of 32 lanes, 32
        // keys per tile, parts within 256 workgroups and of 256 keys.
        let regs = regs_config_for(64, DECODE_SHAPE_REGS, 49152, 1024).unwrap();
        assert_eq!((regs.invocations(), cfg.invocations(), regs.bk), (32, 32, 32));
        let regs_parts = |k: usize| parts(&regs, Tier::Matrix, Dtype::F16, &Shape::new(1, 1, 32, 64).with_seq_k(k).with_kv_heads(8));
        assert_eq!([4096, 16384, 65536].map(regs_parts), [16, 32, 32]);
        // flash_matrix's 32-key tiles (a forced shape) keep those limits too.
        let long = matrix_config_for(Dtype::F16, 128, DECODE_SHAPE_REGS, 32, 49152, 1024).unwrap();
        assert_eq!(parts(&long, Tier::Matrix, Dtype::F16, &decode(1, 1, 65536, 32)), 32);
        // The shuffle kernel's decode lanes: one vec4 column per lane where the subgroup
        // allows (head_dim 128 on 32 lanes), at most 32.
        assert_eq!(
            [(128, 32), (64, 32), (128, 64), (128, 16), (256, 64), (32, 8)].map(|(d, sg)| shuffle_decode_lanes(d, sg)),
            [32, 16, 32, 16, 32, 8]
        );
        // The subgroup and portable tiers: parts of 128 keys within 256 workgroups; the
        // shuffle kernel's decode tiles (two row groups of 4 rows, 8 rows a workgroup)
        // within 512: five tokens' 20 rows are 3 workgroups per K/V head, 24 a part.
        let sub = TileConfig { bq: 32, bk: 16, r: 8, variant: SgVariant::Shuffle, mq: 0, w: 0, m: 2 };
        assert_eq!(parts(&sub, Tier::Subgroup, Dtype::F32, &decode(1, 1, 65536, 32)), 32);
        assert_eq!(parts(&sub, Tier::Subgroup, Dtype::F32, &decode(1, 5, 65536, 32)), 32);
        let sub_decode = TileConfig { bq: 8, bk: 16, r: 32, variant: SgVariant::Shuffle, mq: 0, w: 0, m: 4 };
        assert_eq!(sub_decode.invocations(), 64);
        assert_eq!(parts(&sub_decode, Tier::Subgroup, Dtype::F32, &decode(1, 5, 65536, 32)), 16);
        assert_eq!(parts(&sub_decode, Tier::Subgroup, Dtype::F32, &decode(1, 1, 65536, 32)), 32);
        let port = portable_config_for(128, 24576, 1024);
        assert_eq!(parts(&port, Tier::Portable, Dtype::F32, &decode(1, 1, 4096, 32)), 32);
        assert_eq!(parts(&port, Tier::Portable, Dtype::F32, &decode(1, 1, 2048, 32)), 16);
        assert_eq!(parts(&sub, Tier::Subgroup, Dtype::F32, &decode(1, 1, 2048, 32)), 16);
        assert_eq!(m16(&decode(1, 1, 2048, 32)), 16);
        // Not for f32 on the matrix tier (the split kernel), short caches, many queries,
        // or on CPU adapters.
        assert_eq!(parts(&cfg, Tier::Matrix, Dtype::F32, &decode(1, 1, 16384, 32)), 1);
        assert_eq!(m16(&decode(1, 1, 512, 32)), 1);
        let normal = matrix_config_for(Dtype::F16, 128, (2, 8, 16), 32, 49152, 1024).unwrap();
        assert_eq!(parts(&normal, Tier::Matrix, Dtype::F16, &decode(1, 64, 16384, 32)), 1);
        assert_eq!(auto_key_splits(&cfg, Tier::Matrix, Dtype::F16, &decode(1, 1, 16384, 32), false, false, SMALL_GRID_INVOCATIONS), 1);
        let wide = DecodeSplit { workgroups: DECODE_SPLIT_WORKGROUPS, part_keys: DECODE_PART_KEYS };
        assert_eq!(
            [(1, 4096), (1, 1024), (256, 1 << 20), (4, 1 << 20), (1, 1 << 20)].map(|(w, k)| decode_key_splits(w, k, wide)),
            [16, 4, 1, 32, 32]
        );
        assert_eq!(decode_key_splits(8, 4096, DecodeSplit { part_keys: DECODE_PART_KEYS_WIDE, ..wide }), 32);
    }

    #[test]
    fn subgroup_small_grids_take_fewer_rows_per_group() {
        // head_dim 64 on a 32-lane GPU: r = 4, m = 4, 128 rows per workgroup.
        let normal = TileConfig { bq: 128, bk: 8, r: 4, variant: SgVariant::Shuffle, mq: 0, w: 0, m: 4 };
        let shape = |n: usize, h: usize| Shape { batch: 1, seq_q: n, seq_k: n, heads: h, kv_heads: h, head_dim: 64 };
        // N=1024, H=8: 64 workgroups -> m = 2 gives 128.
        let c = small_grid_subgroup_config(normal, &shape(1024, 8), SMALL_GRID_WORKGROUPS);
        assert_eq!((c.m, c.bq, c.r, c.bk), (2, 64, 4, 8));
        // N=4096, H=8: 256 workgroups keep m = 4.
        assert_eq!(small_grid_subgroup_config(normal, &shape(4096, 8), SMALL_GRID_WORKGROUPS), normal);
        // Tiny grids stop at m = 2.
        assert_eq!(small_grid_subgroup_config(normal, &shape(100, 1), SMALL_GRID_WORKGROUPS).m, 2);
        // Two lanes per row (head_dim 64's (2,2,32), 128 rows): down to one row per
        // group, the 32-key tiles halved with it.
        let two = TileConfig { bq: 128, bk: 32, r: 2, variant: SgVariant::Shuffle, mq: 0, w: 0, m: 2 };
        let c = small_grid_subgroup_config(two, &shape(1024, 8), SMALL_GRID_WORKGROUPS);
        assert_eq!((c.m, c.bq, c.r, c.bk), (1, 64, 2, 16));
        assert_eq!(small_grid_subgroup_config(two, &shape(4096, 8), SMALL_GRID_WORKGROUPS), two);
        // 256 invocations ((8,4,16) with 128 rows, as the search may pick): back to 128
        // invocations (64 rows, 128 workgroups at N=1024), then m as above on smaller grids.
        let wide = TileConfig { bq: 128, bk: 16, r: 8, variant: SgVariant::Shuffle, mq: 0, w: 0, m: 4 };
        let c = small_grid_subgroup_config(wide, &shape(1024, 8), SMALL_GRID_WORKGROUPS);
        assert_eq!((c.m, c.bq, c.r, c.bk), (4, 64, 8, 16));
        let c = small_grid_subgroup_config(wide, &shape(512, 8), SMALL_GRID_WORKGROUPS);
        assert_eq!((c.m, c.bq), (2, 32));
        assert_eq!(small_grid_subgroup_config(wide, &shape(2048, 8), SMALL_GRID_WORKGROUPS), wide);
        assert_eq!(shuffle_wg_default(Some((128, 8, 4, 16)), Dtype::F32), 256);
        assert_eq!(shuffle_wg_default(Some((128, 8, 4, 16)), Dtype::F16), 256);
        assert_eq!(shuffle_wg_default(Some((64, 4, 4, 32)), Dtype::F16), 128);
        assert_eq!(shuffle_wg_default(None, Dtype::F32), 128);
        // Other variants are left alone.
        let b = TileConfig { variant: SgVariant::Broadcast, ..normal };
        assert_eq!(small_grid_subgroup_config(b, &shape(100, 1), SMALL_GRID_WORKGROUPS), b);
    }

    #[test]
    fn small_grid_threshold_follows_the_measured_cores() {
        assert_eq!(small_grid_threshold(None), SMALL_GRID_WORKGROUPS);
        assert_eq!(small_grid_threshold(Some(0)), SMALL_GRID_WORKGROUPS);
        assert_eq!([132, 28, 264, 1].map(|c| small_grid_threshold(Some(c))), [126, 27, 251, 1]);
        let shape = |n: usize, h: usize| Shape { batch: 1, seq_q: n, seq_k: n, heads: h, kv_heads: h, head_dim: 128 };
        // (8,4,16) with 256 invocations (head_dim 128's default): an H100's 132 cores
        // give the picks of SMALL_GRID_WORKGROUPS on power-of-two grids.
        let wide = TileConfig { bq: 128, bk: 16, r: 8, variant: SgVariant::Shuffle, mq: 0, w: 0, m: 4 };
        for n in [256, 512, 1024, 2048, 4096, 8192] {
            for h in [1, 2, 4, 8, 16] {
                let s = shape(n, h);
                let built_in = small_grid_subgroup_config(wide, &s, SMALL_GRID_WORKGROUPS);
                assert_eq!(small_grid_subgroup_config(wide, &s, small_grid_threshold(Some(132))), built_in, "N={n} H={h}");
            }
        }
        // A 28-core GPU is full with 64 workgroups (N=8192, H=1), which an H100's rule
        // would halve; a 264-core one halves the 128 (N=2048, H=8) that an H100 keeps.
        assert_eq!(small_grid_subgroup_config(wide, &shape(8192, 1), small_grid_threshold(Some(28))), wide);
        assert_eq!(small_grid_subgroup_config(wide, &shape(8192, 1), SMALL_GRID_WORKGROUPS).bq, 64);
        assert_eq!(small_grid_subgroup_config(wide, &shape(2048, 8), SMALL_GRID_WORKGROUPS), wide);
        let c = small_grid_subgroup_config(wide, &shape(2048, 8), small_grid_threshold(Some(264)));
        assert_eq!((c.bq, c.m), (64, 4));
    }

    #[test]
    fn small_grid_switch() {
        assert!(small_grid_enabled(None));
        assert!(small_grid_enabled(Some("1")));
        assert!(small_grid_enabled(Some("")));
        for off in ["0", "off", "false", " 0 "] {
            assert!(!small_grid_enabled(Some(off)), "{off:?}");
        }
    }

    #[test]
    fn shuffle_rs_rule_and_rounds() {
        // Default wherever it fits (r >= m); the switch both ways where the shape allows
        // it, never where it does not.
        assert!(shuffle_rs(8, 4, 16, None) && shuffle_rs(4, 4, 16, None) && shuffle_rs(4, 2, 8, None));
        assert!(shuffle_rs(4, 4, 8, Some("1")) && !shuffle_rs(8, 4, 16, Some("off")));
        assert!(!shuffle_rs(2, 4, 8, Some("1")) && !shuffle_rs(1, 1, 8, Some("on")));
        assert!(shuffle_rs_fits(4, 4, 8) && !shuffle_rs_fits(2, 4, 8) && !shuffle_rs_fits(64, 4, 16));
        // 16-key tiles where RS runs, 8 otherwise (head_dim 32's r = 2, or RS off).
        assert_eq!((shuffle_bk_max(4, 4, None), shuffle_bk_max(2, 4, None), shuffle_bk_max(8, 4, Some("0"))), (16, 8, 8));
        let get = |d: &[(&str, String)], n: &str| d.iter().find(|(k, _)| *k == n).unwrap().1.clone();
        // r = 8, 4 rows x 8 keys: three rounds (pairs 16, 8, 4 apart), 4 scores per
        // lane, 2 lanes per row.
        let d = shuffle_rs_defines(8, 4, 8, true);
        let v: Vec<String> =
            ["Q", "LPR", "LOG2LPR", "RS1", "HALF1", "RS2", "HALF2", "RS3", "HALF3", "RS4", "HALF4"].iter().map(|n| get(&d, n)).collect();
        assert_eq!(v, ["4", "2", "1", "1", "16", "1", "8", "1", "4", "0", "0"]);
        // Off: every name still defined (the template replaces them all).
        let off = shuffle_rs_defines(8, 4, 8, false);
        assert_eq!(off.len(), d.len());
        assert_eq!((get(&off, "RS"), get(&off, "RS1")), ("0".to_string(), "0".to_string()));
    }

    #[test]
    fn shuffle_staging_rule_and_measured_shapes() {
        // 16 KiB of f32 K and V per barrier: 64 keys at head_dim 32, 32 at 64, 16 at 128.
        assert_eq!(shuffle_stage_tiles(32, 16, 49152), 4);
        assert_eq!(shuffle_stage_tiles(64, 32, 49152), 1);
        assert_eq!(shuffle_stage_tiles(64, 16, 49152), 2);
        assert_eq!(shuffle_stage_tiles(128, 16, 49152), 1);
        assert_eq!(shuffle_stage_tiles(64, 4, 49152), 8);
        // A smaller adapter limit caps it; a tile that alone exceeds 16 KiB stays one.
        assert_eq!(shuffle_stage_tiles(32, 16, 8192), 2);
        assert_eq!(shuffle_stage_tiles(256, 16, 49152), 1);
        // Non-power-of-two quotients round down: 16384 / (8 * 96 * 8) = 2.67.
        assert_eq!(shuffle_stage_tiles(96, 8, 49152), 2);
        // One staging round of every unit, at most 4: 16 KiB over 128 invocations is 4.
        assert_eq!(shuffle_stage_round(64, 32, 1, 128), 4);
        assert_eq!(shuffle_stage_round(64, 8, 1, 128), 1);
        assert_eq!(shuffle_stage_round(64, 32, 2, 128), 4);
        assert!(shuffle_staged_fits(64, 32, 1, 16384) && !shuffle_staged_fits(64, 32, 2, 16384) && !shuffle_staged_fits(4, 4, 17, 49152));
        // The measured shapes reduce-scatter (that is what was measured) and fit 16 KiB
        // (shuffle_config takes them wherever the adapter's limit holds them).
        for &(d, r, m, bk) in SHUFFLE_MEASURED {
            assert!(shuffle_rs(r, m, bk, None) && shuffle_staged_fits(d, bk, 1, SHUFFLE_STAGE_BYTES), "{d}");
            assert!((d as u32 / 4).is_multiple_of(r));
        }
        // UNM: on for the listed measured shapes (with RS; also (4,4,32) at 64, the
        // default there before the twenty-first session and still a search candidate),
        // off elsewhere, forced either way by the variable, never without RS.
        let cfg = |r, m, bk| TileConfig { bq: 128 / r * m, bk, r, variant: SgVariant::Shuffle, mq: 0, w: 0, m };
        let known = |key: ShapeKey| SHUFFLE_MEASURED.contains(&key) || key == (64, 4, 4, 32);
        assert!(shuffle_candidate_shapes(64).contains(&(4, 4, 32, 128)));
        for &(d, r, m, bk) in SHUFFLE_UNM {
            assert!(known((d, r, m, bk)) && shuffle_unm(d, &cfg(r, m, bk), true, None));
        }
        assert!(!shuffle_unm(64, &cfg(2, 2, 32), true, None) && !shuffle_unm(32, &cfg(2, 2, 16), true, None));
        assert!(shuffle_unm(64, &cfg(2, 2, 32), true, Some("1")) && !shuffle_unm(64, &cfg(4, 4, 32), true, Some("off")));
        assert!(!shuffle_unm(64, &cfg(4, 4, 32), false, None) && !shuffle_unm(64, &cfg(4, 4, 32), false, Some("1")));
        // RSP: the same.
        for &(d, r, m, bk) in SHUFFLE_RSP {
            assert!(known((d, r, m, bk)) && shuffle_rsp(d, &cfg(r, m, bk), true, None));
        }
        assert!(!shuffle_rsp(64, &cfg(2, 2, 32), true, None) && shuffle_rsp(64, &cfg(2, 2, 32), true, Some("1")));
        assert!(shuffle_rsp(128, &cfg(8, 4, 16), true, Some("1")) && !shuffle_rsp(64, &cfg(4, 4, 32), false, Some("1")));
        // The options' fit: UNM and RSP need RS, RS its own rule.
        let opts = |rs, unm, rsp| ShuffleOpts { rs, unm, rsp, ..Default::default() };
        assert!(opts(true, true, true).fits(&cfg(4, 4, 32)) && opts(false, false, false).fits(&cfg(2, 4, 8)));
        assert!(!opts(false, true, false).fits(&cfg(4, 4, 32)) && !opts(false, false, true).fits(&cfg(4, 4, 32)));
        assert!(opts(true, false, true).fits(&cfg(8, 4, 16)) && !opts(true, false, false).fits(&cfg(2, 4, 8)));
        // PIPE: RS only, and one tile per staged tile where that is forced.
        let pipe = |rs, nsub| ShuffleOpts { rs, nsub, pipe: true, ..Default::default() };
        assert!(pipe(true, None).fits(&cfg(8, 4, 16)) && pipe(true, Some(1)).fits(&cfg(4, 4, 32)));
        assert!(!pipe(false, None).fits(&cfg(8, 4, 16)) && !pipe(true, Some(2)).fits(&cfg(8, 4, 16)));
        let f32 = Dtype::F32;
        assert!(shuffle_pipe(64, &cfg(4, 4, 32), f32, true, Some("1")) && !shuffle_pipe(64, &cfg(4, 4, 32), f32, false, Some("1")));
        for &((d, r, m, bk), dtype) in SHUFFLE_PIPE {
            assert!(known((d, r, m, bk)) && shuffle_pipe(d, &cfg(r, m, bk), dtype, true, None));
            assert!(!shuffle_pipe(d, &cfg(r, m, bk), dtype, true, Some("0")) && !shuffle_pipe(d, &cfg(r, m, bk), dtype, false, None));
        }
        // f32 at 64 and 32 without it, f16 at 64 with it.
        assert!(!shuffle_pipe(64, &cfg(4, 4, 32), f32, true, None) && !shuffle_pipe(32, &cfg(2, 2, 16), f32, true, None));
        assert!(shuffle_pipe(64, &cfg(4, 4, 32), Dtype::F16, true, None) && shuffle_pipe(128, &cfg(8, 4, 16), f32, true, None));
        // PSM: PIPE with a multiple of 4 rows per group only; TAIL with any options.
        let psm = |pipe, m| ShuffleOpts { rs: true, pipe, psm: true, ..Default::default() }.fits(&cfg(8, m, 16));
        assert!(psm(true, 4) && !psm(false, 4) && !psm(true, 2));
        assert!(!ShuffleOpts { psm: true, ..Default::default() }.fits(&cfg(2, 4, 8)));
        assert!(ShuffleOpts { tail: true, ..Default::default() }.fits(&cfg(2, 4, 8)));
        for &((d, r, m, bk), dtype) in SHUFFLE_PSM {
            let c = cfg(r, m, bk);
            assert!(
                SHUFFLE_PIPE.contains(&((d, r, m, bk), dtype)) && shuffle_psm(d, &c, dtype, true, None) && !shuffle_psm(d, &c, dtype, false, None)
            );
            // The P area fits beside the staged tile in 48 KiB, and in 24 KiB with 128 invocations.
            assert!(shuffle_psm_fits(d, &c, 49152) && shuffle_psm_fits(d, &c, 24576) && !shuffle_psm(d, &c, dtype, true, Some("0")));
        }
        for &((d, r, m, bk), dtype) in SHUFFLE_TAIL {
            assert!(shuffle_tail(d, &cfg(r, m, bk), dtype, None) && !shuffle_tail(d, &cfg(r, m, bk), dtype, Some("off")));
        }
        assert!(!shuffle_tail(64, &cfg(4, 4, 32), f32, None) && shuffle_tail(64, &cfg(4, 4, 32), f32, Some("1")));
        // EARLY: PIPE with TAIL only; the listed entries run it by default.
        let early = |pipe, tail| ShuffleOpts { rs: true, pipe, tail, early: true, ..Default::default() }.fits(&cfg(8, 4, 16));
        assert!(early(true, true) && !early(true, false) && !early(false, true));
        for &((d, r, m, bk), dtype) in SHUFFLE_EARLY {
            let c = cfg(r, m, bk);
            assert!(SHUFFLE_TAIL.contains(&((d, r, m, bk), dtype)) && SHUFFLE_PIPE.contains(&((d, r, m, bk), dtype)));
            assert!(
                shuffle_early(d, &c, dtype, true, None)
                    && !shuffle_early(d, &c, dtype, false, Some("1"))
                    && !shuffle_early(d, &c, dtype, true, Some("0"))
            );
        }
        assert!(!shuffle_psm(128, &cfg(8, 2, 16), f32, true, Some("1")) && !shuffle_psm(64, &cfg(4, 4, 32), f32, true, None));
        // (8,4,16) at 128, 128 invocations: 64 rows, 16 groups of 16 keys x 4 rows + 1
        // vec4 = 16 x 17 x 16 bytes beside 16 KiB of K/V.
        assert_eq!(shuffle_psm_bytes(&cfg(8, 4, 16)), 16 * 17 * 16);
        // TAIL's one round: 16 KiB of K and V over 128 invocations is 4 units each; over
        // 32 it would be 16, more than TAIL holds.
        assert_eq!((shuffle_tail_round(128, 16, 1, 128), shuffle_tail_round(128, 16, 1, 32)), (Some(4), None));
        // DBUF: PIPE only; two 16-key tiles of K and V at 128 (32 KiB) with PSM's area
        // fit 48 KiB but not the 16 KiB WebGPU default, and at 256 invocations (8.5 KiB
        // of P) still 48 KiB.
        let dbuf = |pipe| ShuffleOpts { rs: true, pipe, dbuf: true, ..Default::default() }.fits(&cfg(8, 4, 16));
        assert!(dbuf(true) && !dbuf(false) && !ShuffleOpts { dbuf: true, ..Default::default() }.fits(&cfg(8, 4, 16)));
        assert!(shuffle_dbuf_fits(128, &cfg(8, 4, 16), true, 49152) && !shuffle_dbuf_fits(128, &cfg(8, 4, 16), false, 16384));
        let wide = TileConfig { bq: 128, ..cfg(8, 4, 16) };
        assert!(shuffle_dbuf_fits(128, &wide, true, 49152) && !shuffle_dbuf_fits(128, &wide, true, 40960));
        assert!(!shuffle_dbuf(128, &cfg(8, 4, 16), Dtype::F32, false, Some("1")) && shuffle_dbuf(128, &cfg(8, 4, 16), Dtype::F32, true, Some("1")));
        // The listed entries run it by default with 256 invocations (their SHUFFLE_WG),
        // not with 128 (small grids), and with every other option; both areas and P fit
        // 48 KiB.
        for &((d, r, m, bk), dtype) in SHUFFLE_DBUF {
            let (c, w) = (cfg(r, m, bk), TileConfig { bq: 256 / r * m, ..cfg(r, m, bk) });
            assert!(
                shuffle_dbuf(d, &w, dtype, true, None) && !shuffle_dbuf(d, &c, dtype, true, None) && !shuffle_dbuf(d, &w, dtype, true, Some("0"))
            );
            assert_eq!(shuffle_wg_default(Some((d, r, m, bk)), dtype), 256);
            for table in [SHUFFLE_PIPE, SHUFFLE_TAIL, SHUFFLE_PSM, SHUFFLE_EARLY] {
                assert!(table.contains(&((d, r, m, bk), dtype)));
            }
            assert!(shuffle_dbuf_fits(d, &w, true, 49152));
        }
        // SHUFFLE_FULL: measured shapes that run every option by default with 256
        // invocations (DBUF only there), in the listed dtypes only.
        for &((d, r, m, bk), dtype) in SHUFFLE_FULL {
            let (c, w) = (cfg(r, m, bk), TileConfig { bq: 256 / r * m, ..cfg(r, m, bk) });
            assert!(SHUFFLE_MEASURED.contains(&(d, r, m, bk)) && shuffle_wg_default(Some((d, r, m, bk)), dtype) == 256);
            assert!(shuffle_unm(d, &w, true, None) && shuffle_rsp(d, &w, true, None) && shuffle_pipe(d, &w, dtype, true, None));
            assert!(shuffle_tail(d, &w, dtype, None) && shuffle_psm(d, &w, dtype, true, None) && shuffle_early(d, &w, dtype, true, None));
            assert!(
                shuffle_dbuf(d, &w, dtype, true, None) && !shuffle_dbuf(d, &c, dtype, true, None) && !shuffle_pipe(d, &w, dtype, true, Some("0"))
            );
            assert!(shuffle_dbuf_fits(d, &w, true, 49152) && shuffle_tail_round(d, bk, 1, 256).is_some());
        }
        assert!(!shuffle_pipe(80, &cfg(4, 4, 32), Dtype::F16, true, None) && shuffle_wg_default(Some((80, 4, 4, 32)), Dtype::F16) == 128);
    }

    #[test]
    fn tiled_psh_switch_and_k_area() {
        assert!(tiled_psh(64, None) && tiled_psh(32, None) && !tiled_psh(128, None));
        assert!(tiled_psh(128, Some("on")) && !tiled_psh(64, Some("0")) && tiled_psh(64, Some("junk")));
        // (64,64,4,2) at head_dim 32 in 32 KiB needs P^T (64 x 64) in the K area (32 x 64)
        // unless PSH hands P over by shuffles: then there is no P^T, the shape needs no
        // aliasing and the K area holds K alone.
        let shape = |psh: bool| tiled_shapes_with(32, 32, 32768, 1024, u32::MAX, psh).find(|c| (c.bq, c.bk, c.m) == (64, 64, 4)).unwrap();
        let kreg = |psh: bool| {
            let cfg = shape(psh);
            let opts = TiledOpts { psh, ..TiledOpts::for_tiles(32, &cfg) };
            tiled_defines_with(32, Dtype::F32, &cfg, false, opts).into_iter().find(|(n, _)| *n == "KREG").unwrap().1
        };
        assert_eq!((shape(false).variant, shape(true).variant), (SgVariant::Tiled { palias: true }, SgVariant::Tiled { palias: false }));
        assert_eq!((kreg(false).as_str(), kreg(true).as_str()), ("1024", "512"));
        // In 16 KiB (WebGPU's default) at head_dim 32, 64-row tiles fit only without P^T.
        let first = |psh: bool| tiled_shapes_with(32, 32, 16384, 256, u32::MAX, psh).next().map(|c| (c.bq, c.bk, c.m));
        assert_eq!((first(false), first(true)), (Some((32, 32, 4)), Some((64, 32, 4))));
    }

    #[test]
    fn register_kernel_tiles_and_switch() {
        // Default on up to head_dim 64, the switch both ways.
        assert!(regs_wanted(64, None) && regs_wanted(32, None) && !regs_wanted(128, None));
        assert!(regs_wanted(128, Some("1")) && !regs_wanted(64, Some("off")) && regs_wanted(64, Some("junk")));
        assert!(regs_wanted_sparse(None) && regs_wanted_sparse(Some("1")) && !regs_wanted_sparse(Some("0")));
        let causal = |h, n, d, v| regs_wanted_causal(&Shape::new(1, n, h, d), v);
        assert!(causal(8, 16384, 128, None) && causal(32, 16384, 128, None) && causal(8, 32768, 128, None));
        assert!(!causal(8, 65536, 128, None) && !causal(64, 16384, 128, None) && causal(8, 65536, 64, None));
        assert!(causal(8, 65536, 128, Some("1")) && !causal(8, 1024, 64, Some("0")));
        // Workgroup memory holds only K and V (two buffers of each with DBUF): 64-key
        // tiles fit 48 KiB at head_dim 64, not at 128.
        let c = regs_config_for(64, (2, 4, 32), WG_BYTES, INVOCATIONS).unwrap();
        assert_eq!((c.bq, c.bk, c.mq, c.w, c.variant), (128, 32, 2, 4, SgVariant::Regs));
        assert!(c.describe(Tier::Matrix).ends_with("regs"));
        assert!(regs_config_for(128, (1, 8, 32), WG_BYTES, INVOCATIONS).is_some());
        assert!(regs_config_for(128, (1, 8, 64), WG_BYTES, INVOCATIONS).is_none());
        assert!(regs_config_for(64, (2, 4, 24), WG_BYTES, INVOCATIONS).is_none());
        assert!(regs_config_for(64, (2, 64, 32), WG_BYTES, INVOCATIONS).is_none());
        assert!(regs_config_for(72, (2, 4, 32), WG_BYTES, INVOCATIONS).is_none());
        for &d in MATRIX_HEAD_DIMS {
            assert!(regs_config_for(d, default_regs_shape(d), WG_BYTES, INVOCATIONS).is_some(), "{d}");
        }
    }

    #[test]
    fn small_causal_grids_halve_the_register_kernels_subgroups() {
        let fit = |s| regs_config_for(64, s, WG_BYTES, INVOCATIONS);
        let tall = fit((2, 8, 32)).unwrap();
        let shape = |n| Shape::new(1, n, 8, 64);
        // N=4096, H=8: 128 workgroups of 256 rows, fewer than 256: (2,4,32), 256 of them.
        let c = regs_causal_tiles(tall, &shape(4096), fit);
        assert_eq!((c.mq, c.w, c.bk, c.bq), (2, 4, 32, 128));
        // N=16384: 512 workgroups, unchanged; one subgroup cannot be halved.
        assert_eq!(regs_causal_tiles(tall, &shape(16384), fit), tall);
        let one = fit((1, 1, 32)).unwrap();
        assert_eq!(regs_causal_tiles(one, &shape(1024), fit), one);
    }

    #[test]
    fn describe_names_the_tier_parameters() {
        assert_eq!(cfg(64, (1, 4, 32)).describe(Tier::Matrix), "bq=64 bk=32 mq=1 w=4");
        let p = TileConfig { bq: 64, bk: 32, r: 1, variant: SgVariant::Shuffle, mq: 0, w: 0, m: 1 };
        assert_eq!(p.describe(Tier::Portable), "bq=64 bk=32");
        assert_eq!(TileConfig { r: 4, m: 4, ..p }.describe(Tier::Subgroup), "bq=64 bk=32 r=4 m=4");
        assert_eq!(TileConfig { variant: SgVariant::Broadcast, ..p }.describe(Tier::Subgroup), "bq=64 bk=32 bcast");
    }

    /// flash_decode.wgsl's tiles: 16-byte units over at most 32 lanes (and the subgroup),
    /// rows in tiles of at most 4, at most 8 rows, power-of-two head_dims, the vec4 and
    /// workgroup-memory limits; and its parts within 262144 / rows invocations.
    #[test]
    fn decode_stream_tiles_and_parts() {
        let no = DecodeStreamOpts::default();
        let pick = |dtype, d, rows, sg| decode_stream_config_for(dtype, d, rows, sg, WG_BYTES, INVOCATIONS, no);
        let c = pick(Dtype::F16, 128, 4, SG).unwrap();
        assert_eq!((c.bq, c.r, c.m, c.w, c.bk, c.variant), (4, 16, 4, 256, 64, SgVariant::Decode));
        assert_eq!(c.describe(Tier::Subgroup), "bq=4 bk=64 decode g=16 kb=4 wg=256");
        let c = pick(Dtype::F32, 128, 4, SG).unwrap();
        assert_eq!((c.bq, c.r, c.bk), (4, 32, 32));
        // Head_dim 256: 16 lanes of two units in f16, 32 of two in f32.
        assert_eq!(pick(Dtype::F16, 256, 1, SG).map(|c| c.r), Some(16));
        assert_eq!(pick(Dtype::F32, 256, 4, SG).map(|c| (c.r, c.bk)), Some((32, 32)));
        let wide = DecodeStreamOpts { lanes: Some(32), ..no };
        assert_eq!(decode_stream_config_for(Dtype::F16, 256, 4, SG, WG_BYTES, INVOCATIONS, wide).map(|c| c.r), Some(32));
        assert_eq!(pick(Dtype::F16, 32, 1, SG).map(|c| c.r), Some(4));
        // Rows over tiles of at most 4, as even as they come; more than 8 take none.
        let tile = |rows| pick(Dtype::F16, 128, rows, SG).map(|c| c.bq);
        assert_eq!([1, 2, 3, 4, 5, 6, 7, 8].map(tile), [1, 2, 3, 4, 3, 3, 4, 4].map(Some));
        assert_eq!(tile(9), None);
        assert_eq!(pick(Dtype::F16, 80, 4, SG), None);
        assert_eq!(pick(Dtype::F16, 128, 0, SG), None);
        // Subgroups of 8 (lavapipe): 8 lanes of two units each, 64 invocations.
        let c = pick(Dtype::F16, 128, 4, 8).unwrap();
        assert_eq!((c.r, c.w), (8, 64));
        // Four rows of 4 f32 units per lane at head_dim 256 on 8 lanes: 32 vec4 of q.
        assert_eq!(pick(Dtype::F32, 256, 4, 8), None);
        assert_eq!(pick(Dtype::F32, 256, 2, 8).map(|c| c.bq), Some(2));
        // The subgroup states over the workgroup memory.
        // (8 subgroups x 4 rows x 1 KiB of O.)
        assert!(decode_stream_config_for(Dtype::F16, 256, 4, SG, 49152, INVOCATIONS, no).is_some());
        assert_eq!(decode_stream_config_for(Dtype::F16, 256, 4, SG, 16384, INVOCATIONS, no), None);
        // The overrides; 8 lanes of two units hold 32 vec4 of q for one 8-row tile.
        let opts = DecodeStreamOpts { kb: Some(2), wg: Some(128), lanes: Some(8), tile_rows: Some(4), pref: Some(true) };
        let c = decode_stream_config_for(Dtype::F16, 128, 8, SG, WG_BYTES, INVOCATIONS, opts).unwrap();
        assert_eq!((c.bq, c.r, c.m, c.w, c.mq, c.bk), (4, 8, 2, 128, 1, 32));
        assert_eq!(decode_stream_config_for(Dtype::F16, 128, 8, SG, WG_BYTES, INVOCATIONS, DecodeStreamOpts { tile_rows: Some(8), ..opts }), None);
        let one = decode_stream_config_for(Dtype::F16, 128, 8, SG, WG_BYTES, INVOCATIONS, DecodeStreamOpts { tile_rows: Some(8), ..no });
        assert_eq!(one.map(|c| c.bq), Some(8));
        // Parts: one token with 8 K/V heads (8 workgroups a part) in 32; MHA (32
        // one-row workgroups) in 16; a batch of 4 (32 four-row workgroups) in 8.
        let split_d = |d, rows, workgroups, seq_k| {
            decode_key_splits(workgroups, seq_k, decode_split(Tier::Subgroup, &pick(Dtype::F16, d, rows, SG).unwrap(), d))
        };
        let split = |rows, workgroups, seq_k| split_d(128, rows, workgroups, seq_k);
        assert_eq!((split(4, 8, 65536), split(1, 32, 65536), split(4, 32, 65536)), (32, 16, 8));
        // Head_dim 256 in half the parts of 128; 64 as 128.
        assert_eq!((split_d(256, 4, 8, 65536), split_d(64, 4, 8, 65536), split_d(256, 1, 32, 65536)), (16, 32, 8));
        // Parts keep at least 128 keys.
        assert_eq!(split(4, 8, 2048), 16);
    }
}
