//! A validated token permutation and its GPU form.

use std::sync::Arc;

use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::kernels::gather::{self, Gather, Layout, Operand, RowMap};
use crate::mask::{BlockKind, BlockMask, Pattern, BLOCK_SIZES};
use crate::tensor::{Dtype, GpuTensor, LseBuffer, TENSOR_USAGE};

/// A bijection of `0..len`, stored both ways.
///
/// `order()[i]` is the caller's position of the token placed at index `i` of the
/// permuted sequence (a gather list: `permuted[i] = x[order[i]]`); `inverse()[p]` is
/// where the caller's token `p` went (`x[p] = permuted[inverse[p]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permutation {
    order: Vec<u32>,
    inverse: Vec<u32>,
}

impl Permutation {
    /// Builds a permutation from its gather list; fails unless every index in
    /// `0..order.len()` appears exactly once.
    pub fn new(order: Vec<u32>) -> Result<Self> {
        let n = order.len();
        if n == 0 {
            return Err(Error::InvalidArgument("a permutation needs at least one element".into()));
        }
        if n > u32::MAX as usize {
            return Err(Error::InvalidArgument(format!("a permutation of {n} elements (at most 2^32 - 1)")));
        }
        let mut inverse = vec![u32::MAX; n];
        for (i, &p) in order.iter().enumerate() {
            let slot = inverse.get_mut(p as usize).ok_or_else(|| Error::InvalidArgument(format!("permutation entry {i} is {p}, outside 0..{n}")))?;
            if *slot != u32::MAX {
                return Err(Error::InvalidArgument(format!("permutation lists {p} twice (entries {} and {i})", *slot)));
            }
            *slot = i as u32;
        }
        Ok(Permutation { order, inverse })
    }

    /// The identity on `0..len`.
    pub fn identity(len: usize) -> Result<Self> {
        if len > u32::MAX as usize {
            return Err(Error::InvalidArgument(format!("a permutation of {len} elements (at most 2^32 - 1)")));
        }
        Self::new((0..len as u32).collect())
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
    /// The gather list: permuted index -> caller's position.
    pub fn order(&self) -> &[u32] {
        &self.order
    }
    /// The inverse: caller's position -> permuted index.
    pub fn inverse(&self) -> &[u32] {
        &self.inverse
    }
    pub fn is_identity(&self) -> bool {
        self.order.iter().enumerate().all(|(i, &p)| i as u32 == p)
    }

    /// Applies the permutation to host rows: `x` holds `len()` rows of `row` values
    /// per batch element (`x.len() = batch * len() * row`).
    pub fn apply<T: Copy>(&self, x: &[T], row: usize) -> Result<Vec<T>> {
        permute_rows(x, row, &self.order)
    }
    /// The inverse of [`Permutation::apply`].
    pub fn unapply<T: Copy>(&self, x: &[T], row: usize) -> Result<Vec<T>> {
        permute_rows(x, row, &self.inverse)
    }

    /// The caller's causal mask in this permutation's coordinates, as a block-mask
    /// pattern for blocks of `block` tokens: permuted query i' sees permuted key j' iff
    /// `order[j'] <= order[i']`. A block is full when its keys' largest original
    /// position is at most its queries' smallest, empty when the keys' smallest is past
    /// the queries' largest, partial (element bits) otherwise.
    pub fn causal_pattern(&self, block: usize) -> Result<Pattern> {
        if !BLOCK_SIZES.contains(&block) {
            return Err(Error::InvalidArgument(format!("mask block size must be one of {BLOCK_SIZES:?}, got {block}")));
        }
        let ranges: Vec<(u32, u32)> =
            self.order.chunks(block).map(|c| (c.iter().copied().min().unwrap_or(0), c.iter().copied().max().unwrap_or(0))).collect();
        let ranges = Arc::new(ranges);
        let order = Arc::new(self.order.clone());
        Ok(Pattern::custom(
            move |qb, kb| {
                let ((qmin, qmax), (kmin, kmax)) = (ranges[qb], ranges[kb]);
                if kmax <= qmin {
                    BlockKind::Full
                } else if kmin > qmax {
                    BlockKind::Empty
                } else {
                    BlockKind::Partial
                }
            },
            move |i, j| order[j] <= order[i],
        ))
    }

    /// A block mask `mask` given in the caller's order, carried into this permutation's
    /// coordinates as one pattern per mask head for blocks of `block` tokens: permuted
    /// query i' sees permuted key j' iff `mask.allows(head, order[i'], order[j'])`. A
    /// block's kind comes from the kinds of the mask's blocks its tokens fall into
    /// (empty if all are empty, full if all are full, else partial with element bits);
    /// the cost is one lookup per pair of those blocks, so it stays low for orders that
    /// keep blocks compact (Hilbert, Z-order).
    pub fn mask_patterns(&self, mask: &Arc<BlockMask>, block: usize) -> Result<Vec<Pattern>> {
        if !BLOCK_SIZES.contains(&block) {
            return Err(Error::InvalidArgument(format!("mask block size must be one of {BLOCK_SIZES:?}, got {block}")));
        }
        let n = self.len();
        if mask.seq_q() != n || mask.seq_k() != n {
            return Err(Error::ShapeMismatch {
                what: "block mask under a token order",
                expected: format!("{n} x {n} (the permutation's length)"),
                got: format!("{} x {}", mask.seq_q(), mask.seq_k()),
            });
        }
        let mb = mask.block();
        // Per permuted block: the mask blocks (caller's order) its tokens fall into.
        let sets: Arc<Vec<Vec<u32>>> = Arc::new(
            self.order
                .chunks(block)
                .map(|c| {
                    let mut v: Vec<u32> = c.iter().map(|&t| t / mb as u32).collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                })
                .collect(),
        );
        let order = Arc::new(self.order.clone());
        Ok((0..mask.heads())
            .map(|h| {
                let (m1, m2, sets, order) = (mask.clone(), mask.clone(), sets.clone(), order.clone());
                Pattern::custom(
                    move |qb, kb| {
                        let (mut any_full, mut any_empty, mut any_partial) = (false, false, false);
                        for &a in &sets[qb] {
                            for &c in &sets[kb] {
                                match m1.block_kind(h, a as usize, c as usize) {
                                    BlockKind::Full => any_full = true,
                                    BlockKind::Empty => any_empty = true,
                                    BlockKind::Partial => any_partial = true,
                                }
                                if any_partial || (any_full && any_empty) {
                                    return BlockKind::Partial;
                                }
                            }
                        }
                        if any_full {
                            BlockKind::Full
                        } else {
                            BlockKind::Empty
                        }
                    },
                    move |i, j| m2.allows(h, order[i] as usize, order[j] as usize),
                )
            })
            .collect())
    }

    /// Uploads both directions as u32 index buffers.
    pub fn upload(&self, ctx: &GpuContext) -> Result<GpuPermutation> {
        let up = |label: &str, v: &[u32]| -> Result<Arc<wgpu::Buffer>> {
            let b = ctx.create_buffer(label, v.len() as u64 * 4, TENSOR_USAGE)?;
            ctx.write_bytes(&b, 0, bytemuck::cast_slice(v))?;
            Ok(Arc::new(b))
        };
        Ok(GpuPermutation {
            order: up("ringattn permutation", &self.order)?,
            inverse: up("ringattn inverse permutation", &self.inverse)?,
            len: self.len(),
        })
    }
}

fn permute_rows<T: Copy>(x: &[T], row: usize, idx: &[u32]) -> Result<Vec<T>> {
    let n = idx.len();
    let per_b = n * row;
    if per_b == 0 || !x.len().is_multiple_of(per_b) {
        return Err(Error::WrongSize {
            what: "permuted host data (whole batches of seq rows)",
            expected: per_b as u64,
            got: x.len() as u64,
            unit: "elements",
        });
    }
    let mut out = Vec::with_capacity(x.len());
    for b in x.chunks_exact(per_b) {
        for &p in idx {
            out.extend_from_slice(&b[p as usize * row..(p as usize + 1) * row]);
        }
    }
    Ok(out)
}

/// Which way a permutation is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Caller's order -> permuted order.
    Forward,
    /// Permuted order -> caller's order.
    Inverse,
}

/// A permutation's index buffers on one device (both directions).
#[derive(Clone, Debug)]
pub struct GpuPermutation {
    order: Arc<wgpu::Buffer>,
    inverse: Arc<wgpu::Buffer>,
    len: usize,
}

impl GpuPermutation {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn index(&self, dir: Direction) -> &wgpu::Buffer {
        match dir {
            Direction::Forward => &self.order,
            Direction::Inverse => &self.inverse,
        }
    }

    fn check_seq(&self, what: &'static str, seq: usize) -> Result<()> {
        if seq != self.len {
            return Err(Error::ShapeMismatch { what, expected: format!("sequence length {} (the permutation's)", self.len), got: seq.to_string() });
        }
        Ok(())
    }

    /// Records `dst = permute(src)` along the sequence axis of (batch, seq, heads,
    /// head_dim) tensors of the same dims (dtypes may differ; values are converted).
    pub fn encode_tokens(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        src: &GpuTensor,
        dst: &GpuTensor,
        dir: Direction,
    ) -> Result<()> {
        if src.dims() != dst.dims() {
            return Err(Error::ShapeMismatch {
                what: "permutation destination",
                expected: format!("{:?}", src.dims()),
                got: format!("{:?}", dst.dims()),
            });
        }
        let [b, n, h, d] = src.dims();
        self.check_seq("permuted tensor", n)?;
        let layout = Layout::tensor(n, h, d, 0);
        gather::encode(
            ctx,
            encoder,
            &Gather {
                src: Operand { buffer: src.buffer(), dtype: src.dtype(), layout },
                dst: Operand { buffer: dst.buffer(), dtype: dst.dtype(), layout },
                map: RowMap::Index(self.index(dir)),
                batch: b,
                rows: n,
                heads: h,
                width: d,
                fill: 0.0,
            },
        )
    }

    /// Records `dst = permute(src)` along the sequence axis of (batch, heads, seq) LSE buffers.
    pub fn encode_lse(&self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, src: &LseBuffer, dst: &LseBuffer, dir: Direction) -> Result<()> {
        if src.dims() != dst.dims() {
            return Err(Error::ShapeMismatch {
                what: "permutation LSE destination",
                expected: format!("{:?}", src.dims()),
                got: format!("{:?}", dst.dims()),
            });
        }
        let [b, h, n] = src.dims();
        self.check_seq("permuted LSE", n)?;
        let layout = Layout::lse(n, h, 0);
        gather::encode(
            ctx,
            encoder,
            &Gather {
                src: Operand { buffer: src.buffer(), dtype: Dtype::F32, layout },
                dst: Operand { buffer: dst.buffer(), dtype: Dtype::F32, layout },
                map: RowMap::Index(self.index(dir)),
                batch: b,
                rows: n,
                heads: h,
                width: 1,
                fill: f32::NEG_INFINITY,
            },
        )
    }

    /// Returns a new tensor holding `src` permuted (`Forward`) or restored (`Inverse`);
    /// submits the work.
    pub fn apply(&self, ctx: &GpuContext, src: &GpuTensor, dir: Direction) -> Result<GpuTensor> {
        let dst = GpuTensor::empty(ctx, src.dims(), src.dtype())?;
        ctx.submit_with("ringattn permute", |enc| self.encode_tokens(ctx, enc, src, &dst, dir))?;
        Ok(dst)
    }
}
