//! Block-sparse attention masks whose skipped blocks cost nothing.
//!
//! A [`BlockMask`] cuts the (query, key) plane into `block x block` tiles and lists,
//! for every query block (and head, for per-head masks), the key blocks to visit. Each
//! listed block is *full* (every query of the block sees every key: no element mask)
//! or *partial* (a bit per (query, key) pair says which are allowed). The kernels of
//! every tier walk only the listed blocks, so the work is proportional to the active
//! blocks; full blocks run at dense speed.
//!
//! Masks are built from [`Pattern`]s, which compose by union and intersection:
//!
//! ```
//! use ringattn::mask::{BlockMask, Pattern};
//! # fn main() -> ringattn::Result<()> {
//! // Causal sliding window of 256 tokens plus 16 global tokens, 64-token blocks.
//! let p = Pattern::Causal.and(Pattern::Window { left: 256, right: 0 }).or(Pattern::Global(16));
//! let mask = BlockMask::new(&p, 4096, 4096, 64)?;
//! println!("density {:.3}", mask.density());
//! assert!(mask.allows(0, 300, 299) && !mask.allows(0, 300, 20) && mask.allows(0, 300, 3));
//! # Ok(()) }
//! ```
//!
//! Coordinates: query i and key j of the problem (0-based). Like the built-in causal
//! mask, [`Pattern::Causal`] and [`Pattern::Window`] are bottom-right aligned when
//! seq_q != seq_k: query i sits at key position i + (seq_k - seq_q).
//!
//! A query row that no key is allowed for gets O = 0 and LSE = -inf (never NaN), as
//! in every other path of the library.

use std::fmt;
use std::sync::Arc;

use crate::context::GpuContext;
use crate::error::{Error, Result};

/// How a pattern covers one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// No (query, key) pair of the block is allowed: the block is skipped.
    Empty,
    /// Some pairs are allowed: the element predicate decides.
    Partial,
    /// Every pair is allowed.
    Full,
}

/// Block-level classifier of a custom pattern: `(q_block, k_block) -> kind`.
pub type BlockFn = dyn Fn(usize, usize) -> BlockKind + Send + Sync;
/// Element-level predicate of a custom pattern: `(query, key) -> allowed`.
pub type TokenFn = dyn Fn(usize, usize) -> bool + Send + Sync;

/// A mask pattern. Combine with [`Pattern::or`] (union) and [`Pattern::and`]
/// (intersection).
#[derive(Clone)]
pub enum Pattern {
    /// Every pair (dense attention).
    All,
    /// Key j is visible to query i iff j <= i + (seq_k - seq_q).
    Causal,
    /// Query i sees keys i' - left ..= i' + right, where i' = i + (seq_k - seq_q).
    Window { left: usize, right: usize },
    /// The first G queries see every key and the first G keys are seen by every query.
    Global(usize),
    /// LongNet dilation: inside each segment [s*segment, (s+1)*segment) the positions
    /// s*segment + offset + t*rate attend only among themselves (queries and keys in
    /// the same coordinates; other positions see nothing).
    Dilated { segment: usize, rate: usize, offset: usize },
    /// Each block is kept with probability `density`, independently, decided by a hash
    /// of (seed, q_block, k_block): the same seed gives the same mask everywhere.
    Random { density: f64, seed: u64 },
    /// An explicit boolean block matrix (row-major, `rows x cols` = query blocks x key
    /// blocks at the mask's block size): kept blocks are full.
    Blocks { rows: usize, cols: usize, keep: Arc<Vec<bool>> },
    /// A user classifier over blocks, with an element predicate for the blocks it calls
    /// partial (required if it ever returns [`BlockKind::Partial`]).
    Custom { block: Arc<BlockFn>, token: Option<Arc<TokenFn>> },
    /// Allowed where any member allows.
    Union(Vec<Pattern>),
    /// Allowed where every member allows.
    Intersect(Vec<Pattern>),
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::All => write!(f, "All"),
            Pattern::Causal => write!(f, "Causal"),
            Pattern::Window { left, right } => write!(f, "Window({left}, {right})"),
            Pattern::Global(g) => write!(f, "Global({g})"),
            Pattern::Dilated { segment, rate, offset } => write!(f, "Dilated(w={segment}, r={rate}, o={offset})"),
            Pattern::Random { density, seed } => write!(f, "Random(density={density}, seed={seed})"),
            Pattern::Blocks { rows, cols, .. } => write!(f, "Blocks({rows}x{cols})"),
            Pattern::Custom { .. } => write!(f, "Custom"),
            Pattern::Union(v) => f.debug_tuple("Union").field(v).finish(),
            Pattern::Intersect(v) => f.debug_tuple("Intersect").field(v).finish(),
        }
    }
}

/// Problem geometry a pattern is evaluated in.
#[derive(Clone, Copy, Debug)]
struct Geom {
    seq_q: usize,
    seq_k: usize,
    block: usize,
    diag: i64,
}

impl Geom {
    /// Query range [q0, q1) and key range [k0, k1) of block (qb, kb), clipped to the sequence.
    fn ranges(&self, qb: usize, kb: usize) -> (i64, i64, i64, i64) {
        let b = self.block;
        let q0 = qb * b;
        let k0 = kb * b;
        (q0 as i64, ((qb + 1) * b).min(self.seq_q) as i64, k0 as i64, ((kb + 1) * b).min(self.seq_k) as i64)
    }
}

/// splitmix64: a fixed, documented hash, so random masks do not depend on any crate's RNG.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn random_keep(density: f64, seed: u64, qb: usize, kb: usize) -> bool {
    let h = mix(seed ^ mix((qb as u64) << 32 ^ kb as u64));
    ((h >> 11) as f64 / (1u64 << 53) as f64) < density
}

fn dilated_selected(pos: i64, segment: usize, rate: usize, offset: usize) -> bool {
    let r = (pos as usize) % segment;
    r >= offset && (r - offset).is_multiple_of(rate)
}

impl Pattern {
    /// Union: allowed where either allows.
    pub fn or(self, other: Pattern) -> Pattern {
        match self {
            Pattern::Union(mut v) => {
                v.push(other);
                Pattern::Union(v)
            }
            s => Pattern::Union(vec![s, other]),
        }
    }

    /// Intersection: allowed where both allow.
    pub fn and(self, other: Pattern) -> Pattern {
        match self {
            Pattern::Intersect(mut v) => {
                v.push(other);
                Pattern::Intersect(v)
            }
            s => Pattern::Intersect(vec![s, other]),
        }
    }

    /// A custom pattern from a block classifier and an element predicate.
    pub fn custom(
        block: impl Fn(usize, usize) -> BlockKind + Send + Sync + 'static,
        token: impl Fn(usize, usize) -> bool + Send + Sync + 'static,
    ) -> Pattern {
        Pattern::Custom { block: Arc::new(block), token: Some(Arc::new(token)) }
    }

    /// A custom pattern from an element predicate alone: every block is examined
    /// element by element when the mask is built (O(seq_q * seq_k) host work).
    pub fn from_fn(token: impl Fn(usize, usize) -> bool + Send + Sync + 'static) -> Pattern {
        Pattern::Custom { block: Arc::new(|_, _| BlockKind::Partial), token: Some(Arc::new(token)) }
    }

    /// A boolean block matrix (`keep[qb * cols + kb]`).
    pub fn blocks(rows: usize, cols: usize, keep: Vec<bool>) -> Pattern {
        Pattern::Blocks { rows, cols, keep: Arc::new(keep) }
    }

    fn validate(&self, g: &Geom) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        match self {
            Pattern::Dilated { segment, rate, offset } if (*segment == 0 || *rate == 0 || offset >= rate || rate > segment) => {
                return bad(format!("dilated pattern needs segment >= rate >= 1 and offset < rate (got w={segment}, r={rate}, o={offset})"));
            }
            Pattern::Random { density, .. } if !(0.0..=1.0).contains(density) => {
                return bad(format!("random pattern density must be in [0, 1], got {density}"));
            }
            Pattern::Blocks { rows, cols, keep } => {
                let (nq, nk) = (g.seq_q.div_ceil(g.block), g.seq_k.div_ceil(g.block));
                if *rows != nq || *cols != nk || keep.len() != rows * cols {
                    return bad(format!(
                        "block matrix is {rows}x{cols} ({} entries) but the problem has {nq}x{nk} blocks of {} tokens",
                        keep.len(),
                        g.block
                    ));
                }
            }
            Pattern::Union(v) | Pattern::Intersect(v) => {
                if v.is_empty() {
                    return bad("an empty union or intersection of patterns".into());
                }
                for p in v {
                    p.validate(g)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Block classification (may say Partial where the exact answer is Empty or Full;
    /// the builder then looks at the elements).
    fn classify(&self, g: &Geom, qb: usize, kb: usize) -> BlockKind {
        use BlockKind::*;
        let (q0, q1, k0, k1) = g.ranges(qb, kb);
        match self {
            Pattern::All => Full,
            Pattern::Causal => {
                if k1 - 1 <= q0 + g.diag {
                    Full
                } else if k0 > q1 - 1 + g.diag {
                    Empty
                } else {
                    Partial
                }
            }
            Pattern::Window { left, right } => {
                let (l, r) = (*left as i64, *right as i64);
                if k0 > q1 - 1 + g.diag + r || k1 - 1 < q0 + g.diag - l {
                    Empty
                } else if k1 - 1 <= q0 + g.diag + r && k0 >= q1 - 1 + g.diag - l {
                    Full
                } else {
                    Partial
                }
            }
            Pattern::Global(gl) => {
                let gl = *gl as i64;
                if q1 <= gl || k1 <= gl {
                    Full
                } else if q0 >= gl && k0 >= gl {
                    Empty
                } else {
                    Partial
                }
            }
            Pattern::Dilated { segment, rate, offset } => {
                let w = *segment as i64;
                let (qs0, qs1, ks0, ks1) = (q0 / w, (q1 - 1) / w, k0 / w, (k1 - 1) / w);
                if qs1 < ks0 || ks1 < qs0 {
                    Empty
                } else if *rate == 1 && *offset == 0 && qs0 == qs1 && ks0 == ks1 && qs0 == ks0 {
                    Full
                } else {
                    Partial
                }
            }
            Pattern::Random { density, seed } => {
                if random_keep(*density, *seed, qb, kb) {
                    Full
                } else {
                    Empty
                }
            }
            Pattern::Blocks { cols, keep, .. } => {
                if keep[qb * cols + kb] {
                    Full
                } else {
                    Empty
                }
            }
            Pattern::Custom { block, .. } => block(qb, kb),
            Pattern::Union(v) => {
                let mut any_partial = false;
                for p in v {
                    match p.classify(g, qb, kb) {
                        Full => return Full,
                        Partial => any_partial = true,
                        Empty => {}
                    }
                }
                if any_partial {
                    Partial
                } else {
                    Empty
                }
            }
            Pattern::Intersect(v) => {
                let mut all_full = true;
                for p in v {
                    match p.classify(g, qb, kb) {
                        Empty => return Empty,
                        Partial => all_full = false,
                        Full => {}
                    }
                }
                if all_full {
                    Full
                } else {
                    Partial
                }
            }
        }
    }

    /// Element predicate. Only asked for pairs inside blocks `classify` did not call
    /// Empty or Full, and for tests.
    fn allows(&self, g: &Geom, i: usize, j: usize) -> Result<bool> {
        let (qi, kj) = (i as i64, j as i64);
        Ok(match self {
            Pattern::All => true,
            Pattern::Causal => kj <= qi + g.diag,
            Pattern::Window { left, right } => kj >= qi + g.diag - *left as i64 && kj <= qi + g.diag + *right as i64,
            Pattern::Global(gl) => i < *gl || j < *gl,
            Pattern::Dilated { segment, rate, offset } => {
                i / segment == j / segment && dilated_selected(qi, *segment, *rate, *offset) && dilated_selected(kj, *segment, *rate, *offset)
            }
            Pattern::Random { .. } | Pattern::Blocks { .. } => self.classify(g, i / g.block, j / g.block) == BlockKind::Full,
            Pattern::Custom { block, token } => match block(i / g.block, j / g.block) {
                BlockKind::Full => true,
                BlockKind::Empty => false,
                BlockKind::Partial => match token {
                    Some(t) => t(i, j),
                    None => return Err(Error::InvalidArgument("a custom pattern called a block partial but has no element predicate".into())),
                },
            },
            Pattern::Union(v) => {
                for p in v {
                    if p.allows(g, i, j)? {
                        return Ok(true);
                    }
                }
                false
            }
            Pattern::Intersect(v) => {
                for p in v {
                    if !p.allows(g, i, j)? {
                        return Ok(false);
                    }
                }
                true
            }
        })
    }
}

/// Block sizes a mask may use (powers of two; tiles of every tier divide them).
pub const BLOCK_SIZES: &[usize] = &[16, 32, 64, 128, 256, 512, 1024];

/// A built block mask: CSR lists of active key blocks per (head, query block), with an
/// element bitmap for each partial block. Immutable; upload once per context with
/// [`BlockMask::upload`] and reuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockMask {
    seq_q: usize,
    seq_k: usize,
    block: usize,
    heads: usize,
    /// heads * nqb + 1 offsets into `cols`.
    row_ptr: Vec<u32>,
    /// (key block, partial index or FULL) per active block.
    cols: Vec<[u32; 2]>,
    /// block*block bits per partial block, bit qi*block + ki.
    bits: Vec<u32>,
}

/// Marks a full block in [`BlockMask`] column entries (mirrors `FULL` in the shaders).
pub const FULL: u32 = u32::MAX;

impl BlockMask {
    /// Builds the mask of `pattern` for a seq_q x seq_k problem, shared by all heads.
    pub fn new(pattern: &Pattern, seq_q: usize, seq_k: usize, block: usize) -> Result<BlockMask> {
        Self::per_head(std::slice::from_ref(pattern), seq_q, seq_k, block)
    }

    /// One pattern per head (`patterns.len()` must equal the number of heads of the
    /// problem it is used with), or a single pattern for all heads.
    pub fn per_head(patterns: &[Pattern], seq_q: usize, seq_k: usize, block: usize) -> Result<BlockMask> {
        if !BLOCK_SIZES.contains(&block) {
            return Err(Error::InvalidArgument(format!("mask block size must be one of {BLOCK_SIZES:?}, got {block}")));
        }
        if seq_q == 0 || seq_k == 0 {
            return Err(Error::InvalidArgument(format!("mask of an empty problem ({seq_q} x {seq_k})")));
        }
        if patterns.is_empty() {
            return Err(Error::InvalidArgument("a block mask needs at least one pattern".into()));
        }
        let g = Geom { seq_q, seq_k, block, diag: seq_k as i64 - seq_q as i64 };
        for p in patterns {
            p.validate(&g)?;
        }
        let (nq, nk) = (seq_q.div_ceil(block), seq_k.div_ceil(block));
        if patterns.len() as u64 * nq as u64 * nk as u64 > u32::MAX as u64 {
            return Err(Error::InvalidArgument(format!("mask of {nq}x{nk} blocks per head is too large; use a larger block size")));
        }
        let words = block * block / 32;
        let mut row_ptr = Vec::with_capacity(patterns.len() * nq + 1);
        let mut cols = Vec::new();
        let mut bits: Vec<u32> = Vec::new();
        let mut scratch = vec![0u32; words];
        row_ptr.push(0u32);
        for p in patterns {
            for qb in 0..nq {
                for kb in 0..nk {
                    match p.classify(&g, qb, kb) {
                        BlockKind::Empty => {}
                        BlockKind::Full => cols.push([kb as u32, FULL]),
                        BlockKind::Partial => {
                            let (q0, q1, k0, k1) = g.ranges(qb, kb);
                            scratch.iter_mut().for_each(|w| *w = 0);
                            let (mut any, mut all) = (false, true);
                            for i in q0..q1 {
                                for j in k0..k1 {
                                    let ok = p.allows(&g, i as usize, j as usize)?;
                                    if ok {
                                        let bit = (i - q0) as usize * block + (j - k0) as usize;
                                        scratch[bit >> 5] |= 1 << (bit & 31);
                                    }
                                    any |= ok;
                                    all &= ok;
                                }
                            }
                            if all {
                                cols.push([kb as u32, FULL]);
                            } else if any {
                                let pi = (bits.len() / words) as u32;
                                if pi == FULL {
                                    return Err(Error::InvalidArgument("too many partial blocks in a mask".into()));
                                }
                                cols.push([kb as u32, pi]);
                                bits.extend_from_slice(&scratch);
                            }
                        }
                    }
                }
                if cols.len() > u32::MAX as usize / 4 {
                    return Err(Error::InvalidArgument("a block mask with more than 2^30 active blocks; use a larger block size".into()));
                }
                row_ptr.push(cols.len() as u32);
            }
        }
        Ok(BlockMask { seq_q, seq_k, block, heads: patterns.len(), row_ptr, cols, bits })
    }

    pub fn seq_q(&self) -> usize {
        self.seq_q
    }
    pub fn seq_k(&self) -> usize {
        self.seq_k
    }
    /// Tokens per block side.
    pub fn block(&self) -> usize {
        self.block
    }
    /// Number of per-head masks (1: shared by all heads).
    pub fn heads(&self) -> usize {
        self.heads
    }
    pub fn q_blocks(&self) -> usize {
        self.seq_q.div_ceil(self.block)
    }
    pub fn k_blocks(&self) -> usize {
        self.seq_k.div_ceil(self.block)
    }
    /// Active (visited) blocks over all heads.
    pub fn active_blocks(&self) -> usize {
        self.cols.len()
    }
    /// Partial blocks (those with an element mask) over all heads.
    pub fn partial_blocks(&self) -> usize {
        self.bits.len() / (self.block * self.block / 32)
    }
    /// Fraction of blocks kept: active blocks / (heads * q_blocks * k_blocks).
    pub fn density(&self) -> f64 {
        self.cols.len() as f64 / (self.heads * self.q_blocks() * self.k_blocks()) as f64
    }
    /// Whether the query blocks of each mask's later half hold more active blocks than
    /// those of its earlier half, over all heads (a causal mask, a causal window): the
    /// kernels then run the query tiles in reverse order, the longest first, as for
    /// built-in causal launches (`kernels::flash::longest_first`).
    pub fn work_rises(&self) -> bool {
        let nqb = self.q_blocks();
        let (mut early, mut late) = (0u64, 0u64);
        for h in 0..self.heads {
            for qb in 0..nqb {
                let r = h * nqb + qb;
                let n = (self.row_ptr[r + 1] - self.row_ptr[r]) as u64;
                if 2 * qb + 1 < nqb {
                    early += n;
                } else if 2 * qb + 1 > nqb {
                    late += n;
                }
            }
        }
        late > early
    }
    /// Fraction of (query, key) pairs allowed (counts elements; O(active blocks * block^2)).
    pub fn element_density(&self) -> f64 {
        let mut n = 0u64;
        for h in 0..self.heads {
            for qb in 0..self.q_blocks() {
                let r = h * self.q_blocks() + qb;
                for &[kb, pi] in &self.cols[self.row_ptr[r] as usize..self.row_ptr[r + 1] as usize] {
                    let rows = (self.seq_q - qb * self.block).min(self.block) as u64;
                    let keys = (self.seq_k - kb as usize * self.block).min(self.block) as u64;
                    n += if pi == FULL {
                        rows * keys
                    } else {
                        let w = self.block * self.block / 32;
                        self.bits[pi as usize * w..(pi as usize + 1) * w].iter().map(|x| x.count_ones() as u64).sum()
                    };
                }
            }
        }
        n as f64 / (self.heads * self.seq_q * self.seq_k) as f64
    }

    /// The active key blocks of query block `qb` for `head`: (key block, full?).
    pub fn row(&self, head: usize, qb: usize) -> impl Iterator<Item = (usize, bool)> + '_ {
        let r = (head % self.heads) * self.q_blocks() + qb;
        self.cols[self.row_ptr[r] as usize..self.row_ptr[r + 1] as usize].iter().map(|&[kb, pi]| (kb as usize, pi == FULL))
    }

    /// Whether query i sees key j under this mask for `head` (a single-pattern mask
    /// answers for every head). The ground truth the tests compare kernels with.
    pub fn allows(&self, head: usize, i: usize, j: usize) -> bool {
        if i >= self.seq_q || j >= self.seq_k {
            return false;
        }
        let b = self.block;
        let r = (head % self.heads) * self.q_blocks() + i / b;
        let entries = &self.cols[self.row_ptr[r] as usize..self.row_ptr[r + 1] as usize];
        match entries.binary_search_by_key(&((j / b) as u32), |e| e[0]) {
            Err(_) => false,
            Ok(x) => {
                let pi = entries[x][1];
                if pi == FULL {
                    return true;
                }
                let bit = (i % b) * b + j % b;
                (self.bits[pi as usize * (b * b / 32) + (bit >> 5)] >> (bit & 31)) & 1 == 1
            }
        }
    }

    /// The kind of block (`qb`, `kb`) for `head`: empty (not stored), full, or partial.
    pub fn block_kind(&self, head: usize, qb: usize, kb: usize) -> BlockKind {
        if qb >= self.q_blocks() || kb >= self.k_blocks() {
            return BlockKind::Empty;
        }
        let r = (head % self.heads) * self.q_blocks() + qb;
        let entries = &self.cols[self.row_ptr[r] as usize..self.row_ptr[r + 1] as usize];
        match entries.binary_search_by_key(&(kb as u32), |e| e[0]) {
            Err(_) => BlockKind::Empty,
            Ok(x) if entries[x][1] == FULL => BlockKind::Full,
            Ok(_) => BlockKind::Partial,
        }
    }

    /// Whether any pair of query range [q0, q1) and key range [k0, k1) is visible (for
    /// schedulers that skip whole chunks, e.g. ring steps).
    pub fn any_in(&self, head: usize, q0: usize, q1: usize, k0: usize, k1: usize) -> bool {
        if q0 >= q1 || k0 >= k1 {
            return false;
        }
        let b = self.block;
        let heads: Vec<usize> = if self.heads == 1 { vec![0] } else { vec![head % self.heads] };
        heads.iter().any(|&h| (q0 / b..q1.min(self.seq_q).div_ceil(b)).any(|qb| self.row(h, qb).any(|(kb, _)| kb * b < k1 && (kb + 1) * b > k0)))
    }

    /// Query blocks per mask row of the tall layout [`BlockMask::upload`] adds, or 1
    /// for none: the most blocks `g` (a power of two, `g * block` <= [`TALL_ROWS`]) whose
    /// merged rows (each the union of the active key blocks of `g` query blocks) cost at
    /// most [`TALL_SLACK`] more work than the rows themselves. Query tiles taller than a
    /// block need such rows; a causal mask, a window or a global band pays a few blocks
    /// more per merged row, a random mask nearly `g` times more.
    pub fn tall_factor(&self) -> usize {
        let base = self.row_work(1) as f64;
        let mut best = 1;
        let mut g = 2;
        while g * self.block <= TALL_ROWS {
            if self.row_work(g) as f64 <= base * (1.0 + TALL_SLACK) {
                best = g;
            }
            g *= 2;
        }
        best
    }

    /// Work of the kernels' walk with mask rows of `g` query blocks: query rows x active
    /// key blocks of their (merged) row, over all heads.
    fn row_work(&self, g: usize) -> u64 {
        let nqb = self.q_blocks();
        let mut work = 0u64;
        let mut keys: Vec<u32> = Vec::new();
        for h in 0..self.heads {
            for r0 in (0..nqb).step_by(g) {
                keys.clear();
                for qb in r0..(r0 + g).min(nqb) {
                    let r = h * nqb + qb;
                    keys.extend(self.cols[self.row_ptr[r] as usize..self.row_ptr[r + 1] as usize].iter().map(|e| e[0]));
                }
                keys.sort_unstable();
                keys.dedup();
                let rows = (self.seq_q.min((r0 + g) * self.block) - r0 * self.block) as u64;
                work += rows * keys.len() as u64;
            }
        }
        work
    }

    /// The GPU layout with mask rows of `g` query blocks: row pointers over spans, then
    /// (first key block, block count, partial index) per span, then the rows in the
    /// order launches over the whole mask run them (longest first: see
    /// `kernels::flash::FlashParams::mask_order`); runs of adjacent full blocks become
    /// one span so the kernels stream them like dense keys. A merged row's
    /// block is full where it is full in each of its query blocks, else partial with a
    /// `g * block` x `block` bitmap (bit qi * block + ki; a query block's bitmap is the
    /// block's own bits, all ones where full, zeros where empty).
    fn layout(&self, g: usize) -> (Vec<u32>, Vec<u32>, u32, usize) {
        let nqb = self.q_blocks();
        let words = self.block * self.block / 32;
        let mut spans: Vec<[u32; 3]> = Vec::with_capacity(self.cols.len());
        let mut ptr: Vec<u32> = Vec::with_capacity(self.heads * nqb.div_ceil(g) + 1);
        let mut bits: Vec<u32> = Vec::new();
        ptr.push(0);
        // (key block, query block within the merged row, partial index or FULL), sorted.
        let mut entries: Vec<(u32, usize, u32)> = Vec::new();
        let mut kinds: Vec<Option<u32>> = Vec::with_capacity(g);
        for h in 0..self.heads {
            for r0 in (0..nqb).step_by(g) {
                let rows = (r0 + g).min(nqb) - r0;
                entries.clear();
                for j in 0..rows {
                    let r = h * nqb + r0 + j;
                    entries.extend(self.cols[self.row_ptr[r] as usize..self.row_ptr[r + 1] as usize].iter().map(|&[kb, pi]| (kb, j, pi)));
                }
                entries.sort_unstable();
                let row_start = spans.len();
                for group in entries.chunk_by(|a, b| a.0 == b.0) {
                    let kb = group[0].0;
                    kinds.clear();
                    kinds.resize(rows, None);
                    for &(_, j, pi) in group {
                        kinds[j] = Some(pi);
                    }
                    let pi = if kinds.iter().all(|k| *k == Some(FULL)) {
                        FULL
                    } else if g == 1 {
                        kinds[0].expect("a listed block")
                    } else {
                        let pi = (bits.len() / (g * words)) as u32;
                        let at = bits.len();
                        bits.resize(at + g * words, 0);
                        for (j, kind) in kinds.iter().enumerate() {
                            let dst = &mut bits[at + j * words..at + (j + 1) * words];
                            match kind {
                                None => {}
                                Some(FULL) => dst.fill(u32::MAX),
                                Some(p) => dst.copy_from_slice(&self.bits[*p as usize * words..(*p as usize + 1) * words]),
                            }
                        }
                        pi
                    };
                    let in_row = spans.len() > row_start;
                    match spans.last_mut() {
                        Some(last) if in_row && pi == FULL && last[2] == FULL && last[0] + last[1] == kb => last[1] += 1,
                        _ => spans.push([kb, 1, pi]),
                    }
                }
                ptr.push(spans.len() as u32);
            }
        }
        if g == 1 {
            bits = self.bits.clone();
        }
        let rows = nqb.div_ceil(g);
        let mut meta: Vec<u32> = Vec::with_capacity(ptr.len() + 3 * spans.len() + self.heads * rows);
        meta.extend_from_slice(&ptr);
        for sp in &spans {
            meta.extend_from_slice(sp);
        }
        // The rows longest first: (head, row) as head * rows + row, by key blocks, the
        // later row first among equals (a causal mask's rows in reverse).
        let blocks = |i: usize| spans[ptr[i] as usize..ptr[i + 1] as usize].iter().map(|sp| sp[1]).sum::<u32>();
        let mut order: Vec<(u32, usize, usize)> =
            (0..self.heads).flat_map(|h| (0..rows).map(move |r| (h, r))).map(|(h, r)| (blocks(h * rows + r), r, h)).collect();
        order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        meta.extend(order.iter().map(|&(_, r, h)| (h * rows + r) as u32));
        (meta, bits, ptr.len() as u32, spans.len())
    }

    /// Uploads the mask to `ctx` (checks the binding size limit): its rows of one query
    /// block each, and where [`BlockMask::tall_factor`] finds merged rows cheap enough,
    /// those too (kernels whose query tiles grow with them use them:
    /// `kernels::flash::prepare_masked`).
    pub fn upload(&self, ctx: &GpuContext) -> Result<GpuBlockMask> {
        let tall = self.tall_factor();
        let mut layouts = vec![self.upload_layout(ctx, 1)?];
        if tall > 1 {
            layouts.push(self.upload_layout(ctx, tall)?);
        }
        Ok(GpuBlockMask {
            layouts,
            shape: MaskShape { seq_q: self.seq_q, seq_k: self.seq_k, block: self.block, heads: self.heads },
            density: self.density(),
            work_rises: self.work_rises(),
        })
    }

    fn upload_layout(&self, ctx: &GpuContext, g: usize) -> Result<MaskLayout> {
        let (meta, bits, cols_off, spans) = self.layout(g);
        let bits: &[u32] = if bits.is_empty() { &[0] } else { &bits };
        let max = ctx.capabilities().limits.max_storage_buffer_binding_size;
        for (what, len) in [("mask block lists", meta.len()), ("mask bitmaps", bits.len())] {
            let bytes = len as u64 * 4;
            if bytes > max {
                return Err(Error::LimitExceeded {
                    what: format!("{what} of a {}x{} block mask", self.q_blocks(), self.k_blocks()),
                    limit: "max_storage_buffer_binding_size",
                    needed: bytes,
                    allowed: max,
                });
            }
        }
        let upload = |label: &str, words: &[u32]| -> Result<Arc<wgpu::Buffer>> {
            let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
            let buf = ctx.create_buffer(label, words.len() as u64 * 4, usage)?;
            ctx.write_bytes(&buf, 0, bytemuck::cast_slice(words))?;
            Ok(Arc::new(buf))
        };
        Ok(MaskLayout {
            rows: (g * self.block) as u32,
            meta: upload("ringattn mask meta", &meta)?,
            bits: upload("ringattn mask bits", bits)?,
            cols_off,
            order_off: cols_off + 3 * spans as u32,
            spans,
        })
    }

    /// The GPU layout's words (row pointers, spans; bitmaps) with mask rows of `g` query
    /// blocks, for tests of the layout against [`BlockMask::allows`].
    #[doc(hidden)]
    pub fn layout_words(&self, g: usize) -> (Vec<u32>, Vec<u32>) {
        let (meta, bits, _, _) = self.layout(g);
        (meta, bits)
    }
}

/// The tallest mask rows (query tokens) [`BlockMask::tall_factor`] merges blocks into:
/// the register kernel's tallest query tile.
pub const TALL_ROWS: usize = 256;

/// The extra work merged mask rows may cost over rows of one query block
/// ([`BlockMask::tall_factor`]): on an H200 (twenty-sixth session) the register kernel's
/// 128-row tiles ran masks 1.2x faster than its 64-row tiles.
pub const TALL_SLACK: f64 = 0.125;

/// The extent of an uploaded mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskShape {
    pub seq_q: usize,
    pub seq_k: usize,
    /// Tokens per block side.
    pub block: usize,
    /// Number of per-head masks (1: shared by all heads).
    pub heads: usize,
}

impl MaskShape {
    pub fn q_blocks(&self) -> usize {
        self.seq_q.div_ceil(self.block)
    }
}

/// One GPU layout of a mask: rows of `rows` query tokens (one block, or several merged).
#[derive(Clone, Debug)]
pub(crate) struct MaskLayout {
    /// Query tokens per mask row.
    pub(crate) rows: u32,
    pub(crate) meta: Arc<wgpu::Buffer>,
    pub(crate) bits: Arc<wgpu::Buffer>,
    /// Offset of the span entries in `meta` (after the row pointers).
    pub(crate) cols_off: u32,
    /// Offset of the rows longest first in `meta` (after the spans).
    pub(crate) order_off: u32,
    spans: usize,
}

/// A [`BlockMask`] on one GPU context.
#[derive(Clone, Debug)]
pub struct GpuBlockMask {
    /// Rows of one block first, then the merged rows ([`BlockMask::tall_factor`]) if any.
    pub(crate) layouts: Vec<MaskLayout>,
    shape: MaskShape,
    density: f64,
    /// [`BlockMask::work_rises`]: launches under this mask run their query tiles in
    /// reverse order.
    pub(crate) work_rises: bool,
}

impl GpuBlockMask {
    pub fn shape(&self) -> MaskShape {
        self.shape
    }
    pub fn density(&self) -> f64 {
        self.density
    }
    /// Spans the kernels walk (adjacent full blocks of a row merged), over all heads,
    /// with rows of one block.
    pub fn spans(&self) -> usize {
        self.layouts[0].spans
    }
    /// Query tokens per row of the merged layout ([`BlockMask::tall_factor`] blocks),
    /// `None` where the mask has none.
    pub fn tall_rows(&self) -> Option<usize> {
        self.layouts.get(1).map(|l| l.rows as usize)
    }
    /// The layout whose mask rows hold `rows` query tokens (0: rows of one block, as
    /// `Prepared::mask_rows` says).
    pub(crate) fn layout(&self, rows: u32) -> Option<&MaskLayout> {
        match rows {
            0 => self.layouts.first(),
            _ => self.layouts.iter().find(|l| l.rows == rows),
        }
    }
    /// Bytes of GPU memory held by the mask (every layout).
    pub fn bytes(&self) -> u64 {
        self.layouts.iter().map(|l| l.meta.size() + l.bits.size()).sum()
    }
}
