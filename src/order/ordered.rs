//! Attention in a token order: permute Q/K/V in, attend, permute O/LSE back.

use crate::attention::{Attention, AttentionOptions, AttentionOutput};
use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::kernels::flash;
use crate::mask::{BlockKind, BlockMask, GpuBlockMask, Pattern};
use crate::order::{Direction, GpuPermutation, Permutation};
use crate::tensor::{GpuTensor, LseBuffer};

/// Block size of the masks [`OrderedAttention::new`] builds for causal attention.
pub const DEFAULT_MASK_BLOCK: usize = 64;

/// Self-attention that runs with its tokens in another order (e.g. along a Hilbert
/// curve) and takes and returns tensors in the caller's order.
///
/// Q, K and V are gathered into the permuted order on the GPU, attention runs there,
/// and O and LSE are gathered back, so the result is indexed exactly like plain
/// attention's. Dense attention does not depend on the order of the keys, so its
/// output equals [`Attention::forward`]'s up to float rounding; the order matters for
/// block-sparse patterns defined on the permuted sequence
/// ([`OrderedAttention::with_pattern`]: e.g. a window along the curve keeps 2D
/// neighbours together).
///
/// **Causal masks are defined in the caller's order**, never in the permuted one. In
/// the permuted order the causal mask is the element mask "i' sees j' iff
/// `order[j'] <= order[i']`" ([`Permutation::causal_pattern`]); with `causal` set,
/// that mask is built as a [`BlockMask`] (host work proportional to the elements of its
/// partial blocks) and the sparse kernels visit only its active blocks.
///
/// Extra memory: one permuted copy of Q, K, V, O and LSE while a call runs, plus the
/// mask.
///
/// ```no_run
/// use ringattn::order::{Order, OrderedAttention};
/// use ringattn::{AttentionOptions, Dtype, GpuContext, GpuTensor};
/// # fn main() -> ringattn::Result<()> {
/// let ctx = GpuContext::new()?;
/// let dims = [2, 8 * 8 * 8, 4, 32]; // an 8x8x8 volume of tokens, raster order
/// let x = vec![0.1f32; dims.iter().product()];
/// let q = GpuTensor::from_f32(&ctx, &x, dims, Dtype::F32)?;
/// let perm = Order::Hilbert3d { depth: 8, height: 8, width: 8 }.permutation(512)?;
/// // Causal in raster order, computed along the Hilbert curve.
/// let opts = AttentionOptions { causal: true, ..Default::default() };
/// let attn = OrderedAttention::new(&ctx, opts, &perm)?;
/// let out = attn.forward(&q, &q, &q)?; // O and LSE in raster order
/// # let _ = out; Ok(()) }
/// ```
pub struct OrderedAttention<'a> {
    attn: Attention<'a>,
    perm: GpuPermutation,
    identity: bool,
    mask: Option<GpuBlockMask>,
}

impl<'a> OrderedAttention<'a> {
    /// Uploads the permutation (and, for causal attention in a non-identity order,
    /// builds and uploads the causal mask in the permuted order with blocks of
    /// `DEFAULT_MASK_BLOCK` tokens).
    pub fn new(ctx: &'a GpuContext, opts: AttentionOptions, perm: &Permutation) -> Result<Self> {
        if !opts.causal || perm.is_identity() {
            return Ok(OrderedAttention { attn: Attention::new(ctx, opts), perm: perm.upload(ctx)?, identity: perm.is_identity(), mask: None });
        }
        Self::with_pattern(ctx, opts, perm, Pattern::All, DEFAULT_MASK_BLOCK)
    }

    /// Attention under a block-sparse `pattern` evaluated in the *permuted* order
    /// (query i' and key j' are positions along the curve), with blocks of `block`
    /// tokens. With `opts.causal`, the caller's-order causal mask is intersected with it.
    pub fn with_pattern(ctx: &'a GpuContext, opts: AttentionOptions, perm: &Permutation, pattern: Pattern, block: usize) -> Result<Self> {
        let n = perm.len();
        let pattern = if opts.causal { pattern.and(perm.causal_pattern(block)?) } else { pattern };
        let mask = BlockMask::new(&pattern, n, n, block)?.upload(ctx)?;
        // The mask carries causality; the kernels' own causal frame would apply it in
        // the permuted order.
        let inner = AttentionOptions { causal: false, ..opts };
        Ok(OrderedAttention { attn: Attention::new(ctx, inner), perm: perm.upload(ctx)?, identity: perm.is_identity(), mask: Some(mask) })
    }

    /// Attention under a prebuilt block mask in the *permuted* order (query i' and key j'
    /// are positions along the curve; one mask for all heads or one per head). With
    /// `opts.causal`, the caller's-order causal mask is intersected with it (the mask is
    /// rebuilt at its block size; host work grows with its partial blocks).
    pub fn with_mask(ctx: &'a GpuContext, opts: AttentionOptions, perm: &Permutation, mask: &BlockMask) -> Result<Self> {
        let n = perm.len();
        if mask.seq_q() != n || mask.seq_k() != n {
            return Err(Error::ShapeMismatch {
                what: "block mask of an ordered attention",
                expected: format!("{n} x {n} (the permutation's length)"),
                got: format!("{} x {}", mask.seq_q(), mask.seq_k()),
            });
        }
        let built;
        let mask = if opts.causal {
            let causal = perm.causal_pattern(mask.block())?;
            let patterns: Vec<Pattern> = (0..mask.heads()).map(|h| mask_pattern(mask, h).and(causal.clone())).collect();
            built = BlockMask::per_head(&patterns, n, n, mask.block())?;
            &built
        } else {
            mask
        };
        let inner = AttentionOptions { causal: false, ..opts };
        Ok(OrderedAttention {
            attn: Attention::new(ctx, inner),
            perm: perm.upload(ctx)?,
            identity: perm.is_identity(),
            mask: Some(mask.upload(ctx)?),
        })
    }

    /// The attention that runs in the permuted order (its `causal` is off when a mask
    /// carries the caller's causal mask).
    pub fn attention(&self) -> &Attention<'a> {
        &self.attn
    }

    /// The block mask in the permuted order, if any (for its density).
    pub fn mask(&self) -> Option<&GpuBlockMask> {
        self.mask.as_ref()
    }

    /// Runs and returns new O and LSE (caller's order). The work is submitted.
    pub fn forward(&self, q: &GpuTensor, k: &GpuTensor, v: &GpuTensor) -> Result<AttentionOutput> {
        let out = self.attn.alloc_output(q, k, v)?;
        self.forward_into(q, k, v, &out.o, &out.lse)?;
        Ok(out)
    }

    /// Runs into existing O and LSE buffers (caller's order) and submits.
    pub fn forward_into(&self, q: &GpuTensor, k: &GpuTensor, v: &GpuTensor, o: &GpuTensor, lse: &LseBuffer) -> Result<()> {
        self.attn.context().submit_with("ringattn ordered attention", |enc| self.encode(enc, q, k, v, o, lse))
    }

    /// Records the permutations and the attention into `encoder` (nothing is submitted).
    pub fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        q: &GpuTensor,
        k: &GpuTensor,
        v: &GpuTensor,
        o: &GpuTensor,
        lse: &LseBuffer,
    ) -> Result<()> {
        let s = flash::check_shapes(q, k, v, o, lse)?;
        if s.seq_q != s.seq_k {
            return Err(Error::ShapeMismatch {
                what: "k (ordered attention is self-attention)",
                expected: format!("seq_k = seq_q = {}", s.seq_q),
                got: s.seq_k.to_string(),
            });
        }
        if s.seq_q != self.perm.len() {
            return Err(Error::ShapeMismatch {
                what: "q",
                expected: format!("seq {} (the permutation's length)", self.perm.len()),
                got: s.seq_q.to_string(),
            });
        }
        if self.identity {
            return self.attn.encode_with(encoder, q, k, v, o, lse, self.mask.as_ref(), None);
        }
        let ctx = self.attn.context();
        let permuted = |t: &GpuTensor, enc: &mut wgpu::CommandEncoder| -> Result<GpuTensor> {
            let p = GpuTensor::empty(ctx, t.dims(), t.dtype())?;
            self.perm.encode_tokens(ctx, enc, t, &p, Direction::Forward)?;
            Ok(p)
        };
        let qp = permuted(q, encoder)?;
        let kp = permuted(k, encoder)?;
        let vp = permuted(v, encoder)?;
        let op = GpuTensor::empty(ctx, o.dims(), o.dtype())?;
        let lp = LseBuffer::empty(ctx, lse.dims())?;
        self.attn.encode_with(encoder, &qp, &kp, &vp, &op, &lp, self.mask.as_ref(), None)?;
        self.perm.encode_tokens(ctx, encoder, &op, o, Direction::Inverse)?;
        self.perm.encode_lse(ctx, encoder, &lp, lse, Direction::Inverse)
    }
}

/// Head `head` of a built mask as a pattern at the mask's block size (for intersecting
/// it with another pattern).
fn mask_pattern(mask: &BlockMask, head: usize) -> Pattern {
    let rows: Vec<Vec<(usize, bool)>> = (0..mask.q_blocks()).map(|qb| mask.row(head, qb).collect()).collect();
    let mask = std::sync::Arc::new(mask.clone());
    Pattern::custom(
        move |qb, kb| match rows[qb].binary_search_by_key(&kb, |e| e.0) {
            Err(_) => BlockKind::Empty,
            Ok(x) if rows[qb][x].1 => BlockKind::Full,
            Ok(_) => BlockKind::Partial,
        },
        move |i, j| mask.allows(head, i, j),
    )
}
