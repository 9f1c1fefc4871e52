//! The four attention variants of the Python system this library replaces, as
//! *presets*: named combinations of mask, token order and placement over one engine
//! (the flash kernels, the LSE merge and [`RingAttention`]), not separate code paths.
//!
//! | preset | mask | order | placement | old class |
//! |---|---|---|---|---|
//! | [`PresetKind::Standard`] | dense (causal optional) | natural | ring over the given devices (default: one, the preferred adapter), contiguous chunks | `StandardRingAttention` |
//! | [`PresetKind::Distributed`] | dense (causal optional) | natural | ring over every GPU adapter, zigzag chunks (causal work balanced) | `DistributedRingAttention` |
//! | [`PresetKind::Hilbert`] | dense (causal optional, always in the caller's order) | Hilbert curve over a 2D grid of the tokens ([`HilbertConfig`]) | ring over the given devices (default: one), Hilbert-range placement: each device owns a contiguous range of the curve | `HilbertRingAttention` |
//! | [`PresetKind::BlockSparse`] | block mask: seeded random blocks at `density` plus the diagonal ([`SparseConfig`]), causal optional | natural | ring over the given devices (default: one), contiguous chunks cut at mask blocks; pairs the mask leaves empty are skipped with their transfers | `RingBlockSparseAttention` |
//!
//! Every preset runs through [`RingAttention`] (a ring of one device is plain
//! attention with the ring's bookkeeping), so they share its accounting: peak bytes
//! per device, bytes moved, transport GB/s. Hilbert computes exactly what Standard
//! computes (dense attention does not depend on the order of the keys): what it changes
//! is which tokens each device owns (a compact region of the 2D grid) and, under a
//! causal mask, the causal mask carried into the curve order as a block mask.
//!
//! # What the old classes computed, and what the presets compute instead
//!
//! * **The old ring classes computed each (query chunk, key chunk) pair as a full
//!   score matrix** (StandardRingAttention: `matmul(q, kᵀ)`, softmax, `matmul(p, v)`):
//!   memory grows with the square of the chunk (16.5 GB extra at 16K tokens, B = 2,
//!   H = 8, fp16, as measured on an H200). The presets run the tiled flash kernels
//!   (online softmax, O and LSE only): memory O(n/devices) per device, reported by
//!   [`crate::RingStats::peak_bytes`].
//! * **Causal masking in the old ring was wrong across chunks**: every step applied
//!   the same local triangle to whatever key chunk it held, so a chunk entirely in a
//!   query's past lost its upper triangle (allowed keys dropped) and a chunk entirely
//!   in its future kept its lower triangle (future keys seen). The presets mask in
//!   global positions (query i sees key j iff j <= i), skip fully masked chunk pairs,
//!   and equal single-device causal attention.
//! * The old **Distributed** class wrapped the same contiguous ring in operational
//!   extras (DeepSpeed hooks, monitoring, checkpointing); with contiguous chunks a
//!   causal ring leaves the last device the most work and the first almost none.
//!   Here Distributed means the ring over every adapter with zigzag placement
//!   (device i owns chunks i and 2N-1-i), which gives every device the same causal
//!   work.
//! * The old **block-sparse** class drew an unseeded random pattern (different on
//!   every call and every rank), used a `sparsity_ratio` whose meaning was inverted
//!   (`sparsity_ratio=0.1` kept 10% of the blocks and was reported as "90% sparse"),
//!   still computed the dense score matrix and masked it, and returned NaN rows when a row had no allowed block. The old
//!   **Hilbert** class reordered the sequence along a 2D curve and then applied the
//!   causal mask in the permuted order, which is not causal in the caller's order.
//!   Neither is reproduced: BlockSparse uses [`crate::mask`] (seeded, `density` =
//!   fraction of blocks *kept*, skipped blocks cost nothing, empty rows give O = 0 and
//!   LSE = -inf), and the causal mask is always in the caller's order.
//!
//! ```no_run
//! use ringattn::presets::Preset;
//! use ringattn::{Dtype, Shape};
//! # fn main() -> ringattn::Result<()> {
//! let preset = Preset::by_name("distributed")?;
//! let attn = preset.build(None)?; // every GPU adapter (2 logical devices on a CPU-only machine)
//! let shape = Shape::new(2, 4096, 8, 64);
//! let q = vec![0.1f32; shape.q_len()];
//! let out = attn.forward(&q, &q, &q, shape, Dtype::F32, true)?;
//! println!("{} devices, peak {:?} bytes per device", out.stats.devices, out.stats.peak_bytes);
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex};

use crate::attention::AttentionOptions;
use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::kernels::Tier;
use crate::mask::{BlockMask, Pattern};
use crate::order::{Order, Permutation};
use crate::ring::{Placement, RingAttention, RingOptions, RingOutput};
use crate::tensor::{Dtype, Shape};

/// The preset names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PresetKind {
    /// Dense ring attention with contiguous chunks (`StandardRingAttention`).
    Standard,
    /// Ring over every GPU adapter with zigzag chunks (`DistributedRingAttention`).
    Distributed,
    /// Dense attention computed in the Hilbert order of a 2D token grid (`HilbertRingAttention`).
    Hilbert,
    /// Block-sparse attention under a seeded random block mask (`RingBlockSparseAttention`).
    BlockSparse,
}

impl PresetKind {
    /// Every preset this build has, in table order.
    pub const ALL: &'static [PresetKind] = &[PresetKind::Standard, PresetKind::Distributed, PresetKind::Hilbert, PresetKind::BlockSparse];

    pub fn name(self) -> &'static str {
        match self {
            PresetKind::Standard => "Standard",
            PresetKind::Distributed => "Distributed",
            PresetKind::Hilbert => "Hilbert",
            PresetKind::BlockSparse => "BlockSparse",
        }
    }

    /// The class of the replaced Python system this preset stands for.
    pub fn old_class(self) -> &'static str {
        match self {
            PresetKind::Standard => "StandardRingAttention",
            PresetKind::Distributed => "DistributedRingAttention",
            PresetKind::Hilbert => "HilbertRingAttention",
            PresetKind::BlockSparse => "RingBlockSparseAttention",
        }
    }
}

impl std::fmt::Display for PresetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for PresetKind {
    type Err = Error;
    /// Case-insensitive; `-`, `_` and a trailing "ring" / "ringattention" are ignored,
    /// so the old class names parse too ("StandardRingAttention", "standard").
    fn from_str(s: &str) -> Result<Self> {
        let key: String = s.chars().filter(|c| !matches!(c, '-' | '_' | ' ')).collect::<String>().to_ascii_lowercase();
        // The old block-sparse class was `RingBlockSparseAttention`.
        let key = key.strip_prefix("ring").filter(|k| k.starts_with("blocksparse")).map(str::to_string).unwrap_or(key);
        let key = key.strip_suffix("ringattention").or_else(|| key.strip_suffix("attention")).or_else(|| key.strip_suffix("ring")).unwrap_or(&key);
        for k in PresetKind::ALL {
            if k.name().to_ascii_lowercase() == key {
                return Ok(*k);
            }
        }
        let valid: Vec<&str> = PresetKind::ALL.iter().map(|k| k.name()).collect();
        Err(Error::InvalidArgument(format!("unknown preset `{s}` (valid, case-insensitive: {})", valid.join(", "))))
    }
}

/// Which devices a preset runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The preferred adapter (`RINGATTN_ADAPTER`, else the best one), one device.
    Preferred,
    /// Every GPU adapter of the preferred backend (2 logical devices on a CPU-only
    /// machine, see [`RingAttention::all_adapters`]).
    AllAdapters,
    /// N logical devices on the preferred adapter.
    Logical(usize),
}

/// The block mask of the BlockSparse preset: every query block keeps each key block
/// with probability `density`, decided by a hash of (seed, query block, key block), so
/// the same seed gives the same mask on every call and device; the diagonal (each
/// query sees its own position) is always kept, so no row is empty.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SparseConfig {
    /// Target fraction of key blocks kept by the random part (the mask's actual
    /// density, diagonal included, is [`BlockMask::density`]).
    pub density: f64,
    /// Block size in tokens (one of [`crate::mask::BLOCK_SIZES`]).
    pub block: usize,
    pub seed: u64,
}

impl Default for SparseConfig {
    /// Density 0.1 (the old benchmarks' `sparsity_ratio=0.1`, which kept 10%), 64-token blocks, seed 0.
    fn default() -> Self {
        SparseConfig { density: 0.1, block: 64, seed: 0 }
    }
}

impl SparseConfig {
    pub fn pattern(&self) -> Pattern {
        Pattern::Random { density: self.density, seed: self.seed }.or(Pattern::Window { left: 0, right: 0 })
    }
    /// The mask for a seq_q x seq_k problem (errors for a density outside [0, 1] or an
    /// unsupported block size).
    pub fn mask(&self, seq_q: usize, seq_k: usize) -> Result<BlockMask> {
        BlockMask::new(&self.pattern(), seq_q, seq_k, self.block)
    }
}

/// The token order of the Hilbert preset: a Hilbert curve over a `height x width` grid
/// holding the sequence in raster order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HilbertConfig {
    /// `(height, width)`; `None`: the most square grid with `height * width = seq`
    /// ([`square_grid`]).
    pub grid: Option<(usize, usize)>,
}

/// The most square `(height, width)` with `height * width = n` and `height <= width`
/// (a prime `n` gives `1 x n`, where the curve is the identity).
pub fn square_grid(n: usize) -> (usize, usize) {
    let mut h = (n as f64).sqrt() as usize;
    while h > 1 && (h * h > n || !n.is_multiple_of(h)) {
        h -= 1;
    }
    let h = h.max(1);
    (h, n / h)
}

impl HilbertConfig {
    /// The order for a sequence of `seq` tokens (errors when a given grid does not hold exactly `seq`).
    pub fn order(&self, seq: usize) -> Result<Order> {
        let (height, width) = self.grid.unwrap_or_else(|| square_grid(seq));
        if height * width != seq {
            return Err(Error::InvalidArgument(format!("the Hilbert grid {height}x{width} holds {} tokens, the sequence has {seq}", height * width)));
        }
        Ok(Order::Hilbert2d { height, width })
    }
}

/// A named combination of mask, order and placement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preset {
    pub kind: PresetKind,
    /// How the sequence is cut over the ring's devices.
    pub placement: Placement,
    /// Devices [`Preset::build`] uses when none are given.
    pub devices: DeviceChoice,
    /// Block mask (BlockSparse); `None` = dense.
    pub sparse: Option<SparseConfig>,
    /// Token order (Hilbert); `None` = natural.
    pub hilbert: Option<HilbertConfig>,
}

impl Preset {
    /// Dense ring, contiguous chunks, on the preferred adapter unless given devices.
    pub fn standard() -> Self {
        Preset { kind: PresetKind::Standard, placement: Placement::Contiguous, devices: DeviceChoice::Preferred, sparse: None, hilbert: None }
    }

    /// Dense ring over every GPU adapter, zigzag chunks.
    pub fn distributed() -> Self {
        Preset { kind: PresetKind::Distributed, placement: Placement::Zigzag, devices: DeviceChoice::AllAdapters, sparse: None, hilbert: None }
    }

    /// Dense attention in the Hilbert order of the most square 2D grid, on the preferred adapter.
    pub fn hilbert() -> Self {
        Self::hilbert_with(HilbertConfig::default())
    }

    pub fn hilbert_with(cfg: HilbertConfig) -> Self {
        Preset { kind: PresetKind::Hilbert, placement: Placement::Contiguous, devices: DeviceChoice::Preferred, sparse: None, hilbert: Some(cfg) }
    }

    /// Block-sparse attention ([`SparseConfig::default`]) on the preferred adapter.
    pub fn block_sparse() -> Self {
        Self::block_sparse_with(SparseConfig::default())
    }

    pub fn block_sparse_with(cfg: SparseConfig) -> Self {
        Preset { kind: PresetKind::BlockSparse, placement: Placement::Contiguous, devices: DeviceChoice::Preferred, sparse: Some(cfg), hilbert: None }
    }

    pub fn of(kind: PresetKind) -> Self {
        match kind {
            PresetKind::Standard => Self::standard(),
            PresetKind::Distributed => Self::distributed(),
            PresetKind::Hilbert => Self::hilbert(),
            PresetKind::BlockSparse => Self::block_sparse(),
        }
    }

    /// The preset called `name` (case-insensitive; old class names accepted). The
    /// error lists the valid names.
    pub fn by_name(name: &str) -> Result<Self> {
        Ok(Self::of(name.parse()?))
    }

    /// Every preset of this build.
    pub fn all() -> Vec<Preset> {
        PresetKind::ALL.iter().map(|&k| Self::of(k)).collect()
    }

    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// One line: mask, order, placement.
    pub fn describe(&self) -> String {
        let devices = match self.devices {
            DeviceChoice::Preferred => "the preferred adapter".to_string(),
            DeviceChoice::AllAdapters => "every GPU adapter".to_string(),
            DeviceChoice::Logical(n) => format!("{n} logical devices"),
        };
        if let Some(h) = self.hilbert {
            let grid = h.grid.map_or_else(|| "the most square height x width = N".to_string(), |(a, b)| format!("{a}x{b}"));
            return format!(
                "{}: dense mask (causal optional, in the caller's order), Hilbert order over a 2D grid ({grid}), Hilbert-range ring placement, default devices: {devices}",
                self.name()
            );
        }
        match self.sparse {
            None => {
                format!("{}: dense mask (causal optional), natural order, {} ring placement, default devices: {devices}", self.name(), self.placement)
            }
            Some(c) => format!(
                "{}: random block mask (density {}, {}-token blocks, seed {}) plus the diagonal, causal optional, natural order, {} ring placement, default devices: {devices}",
                self.name(),
                c.density,
                c.block,
                c.seed,
                self.placement
            ),
        }
    }

    /// Opens the devices (`devices`, else the preset's default) and returns the
    /// runnable attention.
    pub fn build(&self, devices: Option<DeviceChoice>) -> Result<PresetAttention> {
        let ring = match devices.unwrap_or(self.devices) {
            DeviceChoice::Preferred => RingAttention::new(vec![GpuContext::new()?])?,
            DeviceChoice::AllAdapters => RingAttention::all_adapters()?,
            DeviceChoice::Logical(n) => RingAttention::logical(n)?,
        };
        Ok(self.with_ring(ring))
    }

    /// The preset on devices the caller opened (any number, any mix of adapters).
    pub fn on_contexts(&self, contexts: Vec<Arc<GpuContext>>) -> Result<PresetAttention> {
        Ok(self.with_ring(RingAttention::from_arcs(contexts)?))
    }

    /// The preset on an existing ring.
    pub fn with_ring(&self, ring: RingAttention) -> PresetAttention {
        PresetAttention { preset: *self, ring, tier: None, scale: None, mask_cache: Mutex::new(None), perm_cache: Mutex::new(None) }
    }
}

/// A cached mask: (seq_q, seq_k) and the mask built for them.
type MaskEntry = ((usize, usize), Arc<BlockMask>);

/// A preset bound to its devices.
#[derive(Debug)]
pub struct PresetAttention {
    preset: Preset,
    ring: RingAttention,
    /// Kernel tier per device (`None`: each device's best).
    pub tier: Option<Tier>,
    /// Softmax scale (`None`: 1/sqrt(head_dim)).
    pub scale: Option<f32>,
    /// The last mask (BlockSparse) and permutation (Hilbert), reused while the
    /// sequence lengths stay the same.
    mask_cache: Mutex<Option<MaskEntry>>,
    perm_cache: Mutex<Option<(usize, Arc<Permutation>)>>,
}

impl PresetAttention {
    pub fn preset(&self) -> &Preset {
        &self.preset
    }
    pub fn ring(&self) -> &RingAttention {
        &self.ring
    }
    /// Number of devices.
    pub fn devices(&self) -> usize {
        self.ring.len()
    }

    /// The block mask this preset applies to a seq_q x seq_k problem (`None`: dense).
    pub fn mask(&self, seq_q: usize, seq_k: usize) -> Option<Result<BlockMask>> {
        self.preset.sparse.map(|c| c.mask(seq_q, seq_k))
    }

    fn cached_mask(&self, cfg: &SparseConfig, seq_q: usize, seq_k: usize) -> Result<Arc<BlockMask>> {
        let mut c = self.mask_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((key, m)) = c.as_ref() {
            if *key == (seq_q, seq_k) {
                return Ok(m.clone());
            }
        }
        let m = Arc::new(cfg.mask(seq_q, seq_k)?);
        *c = Some(((seq_q, seq_k), m.clone()));
        Ok(m)
    }

    fn cached_perm(&self, cfg: &HilbertConfig, seq: usize) -> Result<Arc<Permutation>> {
        let mut c = self.perm_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((n, p)) = c.as_ref() {
            if *n == seq {
                return Ok(p.clone());
            }
        }
        let p = Arc::new(cfg.order(seq)?.permutation(seq)?);
        *c = Some((seq, p.clone()));
        Ok(p)
    }

    /// The ring options this preset runs a `shape` problem with: causal, scale and tier,
    /// the placement, and the preset's block mask (BlockSparse) or token order (Hilbert).
    pub fn options(&self, shape: &Shape, causal: bool) -> Result<RingOptions> {
        let mut o = RingOptions {
            attention: AttentionOptions { causal, scale: self.scale, tier: self.tier },
            placement: self.preset.placement,
            ..Default::default()
        };
        if let Some(cfg) = &self.preset.sparse {
            o.mask = Some(self.cached_mask(cfg, shape.seq_q, shape.seq_k)?);
        }
        if let Some(cfg) = &self.preset.hilbert {
            if shape.seq_q != shape.seq_k {
                return Err(Error::InvalidArgument(format!(
                    "the Hilbert preset orders the tokens of self-attention: seq_q ({}) must equal seq_k ({})",
                    shape.seq_q, shape.seq_k
                )));
            }
            o.order = Some(self.cached_perm(cfg, shape.seq_q)?);
        }
        Ok(o)
    }

    /// Attention on host data: Q (batch, seq_q, heads, head_dim), K/V (batch, seq_k,
    /// kv_heads, head_dim); O comes back in the caller's order with the ring's stats
    /// (bytes moved, peak bytes per device). Same errors as [`RingAttention::forward`].
    pub fn forward(&self, q: &[f32], k: &[f32], v: &[f32], shape: Shape, dtype: Dtype, causal: bool) -> Result<RingOutput> {
        shape.validate()?;
        let opts = self.options(&shape, causal)?;
        self.ring.forward(q, k, v, shape, dtype, &opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively() {
        for (s, k) in [
            ("standard", PresetKind::Standard),
            ("STANDARD", PresetKind::Standard),
            ("StandardRingAttention", PresetKind::Standard),
            ("standard-ring", PresetKind::Standard),
            ("Distributed", PresetKind::Distributed),
            ("distributed_ring_attention", PresetKind::Distributed),
        ] {
            assert_eq!(s.parse::<PresetKind>().unwrap(), k, "{s}");
        }
        let e = Preset::by_name("fastest").unwrap_err().to_string();
        assert!(e.contains("unknown preset `fastest`") && e.contains("Standard") && e.contains("Distributed"), "{e}");
        for s in ["BlockSparse", "blocksparse", "RingBlockSparseAttention", "block_sparse"] {
            assert_eq!(s.parse::<PresetKind>().unwrap(), PresetKind::BlockSparse, "{s}");
        }
        for s in ["hilbert", "HilbertRingAttention", "Hilbert-Ring"] {
            assert_eq!(s.parse::<PresetKind>().unwrap(), PresetKind::Hilbert, "{s}");
        }
    }

    #[test]
    fn presets_are_the_documented_combinations() {
        let s = Preset::standard();
        assert_eq!((s.placement, s.devices), (Placement::Contiguous, DeviceChoice::Preferred));
        let d = Preset::distributed();
        assert_eq!((d.placement, d.devices), (Placement::Zigzag, DeviceChoice::AllAdapters));
        assert_eq!(Preset::all().len(), PresetKind::ALL.len());
        assert!(d.describe().contains("zigzag"));
        assert_eq!(PresetKind::Distributed.old_class(), "DistributedRingAttention");
        let b = Preset::block_sparse();
        assert_eq!(b.sparse, Some(SparseConfig { density: 0.1, block: 64, seed: 0 }));
        assert!(b.describe().contains("density 0.1"));
        // Seeded: the same mask every time; the diagonal keeps every row non-empty.
        let m = b.sparse.unwrap().mask(1000, 1000).unwrap();
        assert_eq!(m, b.sparse.unwrap().mask(1000, 1000).unwrap());
        assert!((0..1000).all(|i| m.allows(0, i, i)));
        assert!(m.density() > 0.05 && m.density() < 0.25, "{}", m.density());
        assert!(SparseConfig { density: 1.5, ..Default::default() }.mask(64, 64).is_err());
        let h = Preset::hilbert();
        assert_eq!((h.hilbert, h.sparse), (Some(HilbertConfig::default()), None));
        assert!(h.describe().contains("Hilbert order"));
    }

    #[test]
    fn hilbert_grids() {
        assert_eq!(square_grid(1024), (32, 32));
        assert_eq!(square_grid(2048), (32, 64));
        assert_eq!(square_grid(100_000), (250, 400));
        assert_eq!(square_grid(1_048_576), (1024, 1024));
        assert_eq!(square_grid(97), (1, 97));
        assert_eq!(square_grid(1), (1, 1));
        for n in [1usize, 2, 12, 48, 96, 1000, 65536] {
            let (h, w) = square_grid(n);
            assert!(h * w == n && h <= w, "{n}");
        }
        assert_eq!(HilbertConfig::default().order(48).unwrap(), Order::Hilbert2d { height: 6, width: 8 });
        assert!(HilbertConfig { grid: Some((4, 4)) }.order(20).unwrap_err().to_string().contains("holds 16 tokens"));
    }
}
