//! Which device owns which part of the sequence, and which (query chunk, key chunk)
//! pairs have anything to compute.
//!
//! The sequence is cut into chunks of near-equal length (lengths differ by at most
//! one; a chunk may be empty when the sequence is shorter than the chunk count).
//! A device owns a *block* of chunks: the same chunk ids for its queries and for the
//! K/V block it starts with. K/V blocks then travel around the ring, so at step `s`
//! device `i` holds the block that device `i - s (mod N)` started with.
//!
//! * **Contiguous**: N chunks, device i owns chunk i. Causal work is unbalanced: the
//!   last device attends to every key, the first only to its own chunk.
//! * **Zigzag**: 2N chunks, device i owns chunks i and 2N-1-i. Under a causal mask
//!   every device then has the same number of unmasked (query, key) pairs, so no
//!   device waits for the others at every step.

use std::ops::Range;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::mask::BlockMask;

/// How the sequence is split over the devices of a ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Device i owns the i-th of N contiguous chunks.
    #[default]
    Contiguous,
    /// Device i owns chunks i and 2N-1-i of 2N chunks (balances causal work).
    Zigzag,
}

impl Placement {
    pub fn name(self) -> &'static str {
        match self {
            Placement::Contiguous => "contiguous",
            Placement::Zigzag => "zigzag",
        }
    }
    /// Chunks the sequence is cut into for `n` devices.
    pub fn num_chunks(self, n: usize) -> usize {
        match self {
            Placement::Contiguous => n,
            Placement::Zigzag => 2 * n,
        }
    }
    /// Chunk ids device `device` owns (queries, and its starting K/V block), in
    /// sequence order.
    pub fn chunks_of(self, device: usize, n: usize) -> Vec<usize> {
        match self {
            Placement::Contiguous => vec![device],
            Placement::Zigzag => vec![device, 2 * n - 1 - device],
        }
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Placement {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "contiguous" | "contig" => Ok(Placement::Contiguous),
            "zigzag" | "zig-zag" => Ok(Placement::Zigzag),
            o => Err(Error::InvalidArgument(format!("unknown placement `{o}` (contiguous, zigzag)"))),
        }
    }
}

/// Cuts `0..len` into `parts` ranges whose lengths differ by at most one (chunk c is
/// `c*len/parts .. (c+1)*len/parts`); some are empty when `len < parts`.
pub fn split(len: usize, parts: usize) -> Vec<Range<usize>> {
    split_aligned(len, parts, 1)
}

/// Like [`split`], but every boundary is a multiple of `align` (whole `align`-token
/// blocks per chunk, their counts differing by at most one; the last chunk holding
/// a block ends at `len`).
pub fn split_aligned(len: usize, parts: usize, align: usize) -> Vec<Range<usize>> {
    let align = align.max(1);
    let blocks = len.div_ceil(align);
    (0..parts).map(|c| (c * blocks / parts * align).min(len)..((c + 1) * blocks / parts * align).min(len)).collect()
}

/// The chunking of one sequence (queries or keys) over a ring of `n` devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub placement: Placement,
    pub devices: usize,
    pub len: usize,
    chunks: Vec<Range<usize>>,
}

impl Layout {
    pub fn new(len: usize, devices: usize, placement: Placement) -> Self {
        Self::aligned(len, devices, placement, 1)
    }
    /// Chunks whose boundaries are multiples of `align` (block masks need chunks of
    /// whole mask blocks).
    pub fn aligned(len: usize, devices: usize, placement: Placement, align: usize) -> Self {
        Layout { placement, devices, len, chunks: split_aligned(len, placement.num_chunks(devices), align) }
    }
    /// Global positions of chunk `c`.
    pub fn chunk(&self, c: usize) -> Range<usize> {
        self.chunks[c].clone()
    }
    /// Positions of every chunk of block `b` (the block device `b` starts with).
    pub fn block(&self, b: usize) -> Vec<Range<usize>> {
        self.placement.chunks_of(b, self.devices).into_iter().map(|c| self.chunk(c)).collect()
    }
    /// Chunks per block (1 contiguous, 2 zigzag).
    pub fn chunks_per_block(&self) -> usize {
        self.placement.num_chunks(self.devices) / self.devices
    }
    /// Length of the longest chunk.
    pub fn max_chunk(&self) -> usize {
        self.chunks.iter().map(|r| r.len()).max().unwrap_or(0)
    }
}

/// The mask of a ring problem at chunk granularity: which (query range, key range)
/// pairs have at least one visible (query, key) element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visibility {
    pub causal: bool,
    /// `seq_k - seq_q`: bottom-right alignment of the causal diagonal.
    pub diag: i64,
    /// Block mask in global coordinates, if any (applied on top of `causal`).
    pub mask: Option<Arc<BlockMask>>,
}

impl Visibility {
    /// Whether any query of `q` may see any key of `k` (false for empty ranges).
    /// Causal: query at global row i sees key j iff `j <= i + diag`; the pair is live
    /// iff its first key is visible to its last query.
    pub fn live(&self, q: &Range<usize>, k: &Range<usize>) -> bool {
        if q.is_empty() || k.is_empty() {
            return false;
        }
        if self.causal && (k.start as i64) > (q.end as i64 - 1) + self.diag {
            return false;
        }
        match &self.mask {
            None => true,
            Some(m) => (0..m.heads()).any(|h| m.any_in(h, q.start, q.end, k.start, k.end)),
        }
    }
}

/// The step-by-step plan of a ring: who holds which K/V block when, which pairs are
/// computed and which transfers are needed. Every device derives the same plan, so
/// sender and receiver agree on which transfers to skip without talking.
#[derive(Clone, Debug)]
pub struct Plan {
    pub q: Layout,
    pub kv: Layout,
    pub vis: Visibility,
}

impl Plan {
    pub fn new(seq_q: usize, seq_k: usize, devices: usize, placement: Placement, causal: bool) -> Self {
        Self::masked(seq_q, seq_k, devices, placement, causal, None)
    }
    /// A plan with a block mask: chunks are cut at multiples of the mask's block size,
    /// and pairs (and transfers) the mask leaves empty are skipped.
    pub fn masked(seq_q: usize, seq_k: usize, devices: usize, placement: Placement, causal: bool, mask: Option<Arc<BlockMask>>) -> Self {
        let align = mask.as_ref().map_or(1, |m| m.block());
        Plan {
            q: Layout::aligned(seq_q, devices, placement, align),
            kv: Layout::aligned(seq_k, devices, placement, align),
            vis: Visibility { causal, diag: seq_k as i64 - seq_q as i64, mask },
        }
    }
    pub fn devices(&self) -> usize {
        self.q.devices
    }
    /// Steps of the ring (one per device: every K/V block visits every device once).
    pub fn steps(&self) -> usize {
        self.devices()
    }
    /// The K/V block device `device` holds at step `step`.
    pub fn held(&self, device: usize, step: usize) -> usize {
        let n = self.devices();
        (device + n - step % n) % n
    }
    /// The device that holds block `block` at step `step`.
    pub fn holder(&self, block: usize, step: usize) -> usize {
        (block + step) % self.devices()
    }
    /// The (query range, key range) pairs device `device` computes against K/V block
    /// `block`, as (query chunk slot, key chunk slot) indexes into the blocks.
    pub fn live_pairs(&self, device: usize, block: usize) -> Vec<(usize, usize)> {
        let qs = self.q.block(device);
        let ks = self.kv.block(block);
        let mut out = Vec::new();
        for (qi, q) in qs.iter().enumerate() {
            for (ki, k) in ks.iter().enumerate() {
                if self.vis.live(q, k) {
                    out.push((qi, ki));
                }
            }
        }
        out
    }
    /// Whether device `device` has anything to compute against block `block`.
    pub fn needs(&self, device: usize, block: usize) -> bool {
        !self.live_pairs(device, block).is_empty()
    }
    /// Whether the block sent at the end of `step` (by its holder at `step`) is used by
    /// any device at a later step. When it is not, the transfer is skipped, and so are
    /// all its later hops (a block nobody needs later is never needed again).
    pub fn transfer_needed(&self, block: usize, step: usize) -> bool {
        (step + 1..self.steps()).any(|t| self.needs(self.holder(block, t), block))
    }
    /// Pairs computed and pairs skipped (fully masked or empty) over the whole ring.
    pub fn pair_counts(&self) -> (usize, usize) {
        let n = self.devices();
        let per = self.q.chunks_per_block() * self.kv.chunks_per_block();
        let live: usize = (0..n).flat_map(|d| (0..n).map(move |b| (d, b))).map(|(d, b)| self.live_pairs(d, b).len()).sum();
        (live, n * n * per - live)
    }
    /// Transfers made and skipped over the whole ring.
    pub fn transfer_counts(&self) -> (usize, usize) {
        let n = self.devices();
        let mut made = 0;
        let mut skipped = 0;
        for s in 0..n.saturating_sub(1) {
            for b in 0..n {
                if self.transfer_needed(b, s) {
                    made += 1;
                } else {
                    skipped += 1;
                }
            }
        }
        (made, skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_a_partition() {
        for len in 0..40 {
            for parts in 1..10 {
                let r = split(len, parts);
                assert_eq!(r.len(), parts);
                assert_eq!(r[0].start, 0);
                assert_eq!(r[parts - 1].end, len);
                for w in r.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let (mn, mx) = (r.iter().map(|x| x.len()).min().unwrap(), r.iter().map(|x| x.len()).max().unwrap());
                assert!(mx - mn <= 1);
            }
        }
    }

    #[test]
    fn aligned_split_is_a_partition_of_whole_blocks() {
        for len in 0..100 {
            for parts in 1..7 {
                for align in [1, 4, 16] {
                    let r = split_aligned(len, parts, align);
                    assert_eq!((r[0].start, r[parts - 1].end), (0, len));
                    for w in r.windows(2) {
                        assert_eq!(w[0].end, w[1].start);
                        assert!(w[0].end % align == 0 || w[0].end == len);
                    }
                }
            }
        }
    }

    #[test]
    fn zigzag_owns_every_chunk_once() {
        for n in 1..6 {
            let mut seen = vec![0; 2 * n];
            for d in 0..n {
                for c in Placement::Zigzag.chunks_of(d, n) {
                    seen[c] += 1;
                }
            }
            assert!(seen.iter().all(|&x| x == 1));
        }
    }

    #[test]
    fn every_block_visits_every_device_once() {
        let p = Plan::new(10, 10, 4, Placement::Contiguous, false);
        for d in 0..4 {
            let mut blocks: Vec<usize> = (0..4).map(|s| p.held(d, s)).collect();
            blocks.sort();
            assert_eq!(blocks, vec![0, 1, 2, 3]);
            for s in 0..4 {
                assert_eq!(p.holder(p.held(d, s), s), d);
            }
        }
    }

    #[test]
    fn zigzag_balances_causal_work() {
        let n = 4;
        let p = Plan::new(64, 64, n, Placement::Zigzag, true);
        let work = |d: usize| -> usize {
            (0..n)
                .map(|b| {
                    let qs = p.q.block(d);
                    let ks = p.kv.block(b);
                    qs.iter()
                        .flat_map(|q| ks.iter().map(move |k| (q.clone(), k.clone())))
                        .map(|(q, k)| q.map(|i| k.clone().filter(|&j| j <= i).count()).sum::<usize>())
                        .sum::<usize>()
                })
                .sum()
        };
        let w: Vec<usize> = (0..n).map(work).collect();
        assert!(w.iter().all(|&x| x == w[0]), "{w:?}");
    }

    #[test]
    fn causal_contiguous_skips_pairs_and_transfers() {
        let p = Plan::new(16, 16, 4, Placement::Contiguous, true);
        let (live, skipped) = p.pair_counts();
        assert_eq!((live, skipped), (10, 6));
        // Block 3 is needed only by device 3: it never travels.
        assert!(!p.transfer_needed(3, 0));
        // Block 0 is needed by every device: it travels 0 -> 1 -> 2 -> 3.
        assert!((0..3).all(|s| p.transfer_needed(0, s)));
        let dense = Plan::new(16, 16, 4, Placement::Contiguous, false);
        assert_eq!(dense.transfer_counts(), (12, 0));
    }
}
