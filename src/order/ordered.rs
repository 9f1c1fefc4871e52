//! Attention in a token order: permute Q/K/V in, attend, permute O/LSE back.

use crate::attention::{Attention, AttentionOptions, AttentionOutput};
use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::kernels::flash;
use crate::order::{Direction, GpuPermutation, Permutation};
use crate::tensor::{GpuTensor, LseBuffer};

/// Self-attention that runs with its tokens in another order (e.g. along a Hilbert
/// curve) and takes and returns tensors in the caller's order.
///
/// Q, K and V are gathered into the permuted order on the GPU, attention runs there,
/// and O and LSE are gathered back, so the result is indexed exactly like plain
/// attention's. Dense attention does not depend on the order of the keys, so the output
/// equals [`Attention::forward`]'s up to float rounding; the order matters for masks
/// defined on the permuted sequence's blocks (block-sparse locality).
///
/// Causal masks are defined in the caller's order, never in the permuted one. In the
/// permuted space they are an element mask (`i'` sees `j'` iff
/// `order[j'] <= order[i']`) that only a block mask with token-level predicates can
/// express; until the block-sparse kernels exist, `causal` with a non-identity order is
/// refused with [`Error::InvalidArgument`].
///
/// Extra memory: one permuted copy of Q, K, V, O and LSE while a call runs.
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
/// let attn = OrderedAttention::new(&ctx, AttentionOptions::default(), &perm)?;
/// let out = attn.forward(&q, &q, &q)?; // O and LSE in raster order
/// # let _ = out; Ok(()) }
/// ```
pub struct OrderedAttention<'a> {
    attn: Attention<'a>,
    perm: GpuPermutation,
    identity: bool,
}

impl<'a> OrderedAttention<'a> {
    /// Uploads the permutation. Fails for `causal` unless the permutation is the identity.
    pub fn new(ctx: &'a GpuContext, opts: AttentionOptions, perm: &Permutation) -> Result<Self> {
        let identity = perm.is_identity();
        if opts.causal && !identity {
            return Err(Error::InvalidArgument(
                "causal attention in a token order needs an element mask in the permuted order \
                 (query i' sees key j' iff order[j'] <= order[i']), which needs block-sparse kernels \
                 that ringattn does not have yet; use the natural order for causal attention"
                    .into(),
            ));
        }
        Ok(OrderedAttention { attn: Attention::new(ctx, opts), perm: perm.upload(ctx)?, identity })
    }

    /// The attention that runs in the permuted order.
    pub fn attention(&self) -> &Attention<'a> {
        &self.attn
    }

    /// Runs and returns new O and LSE (caller's order). The work is submitted.
    pub fn forward(&self, q: &GpuTensor, k: &GpuTensor, v: &GpuTensor) -> Result<AttentionOutput> {
        let out = self.attn.alloc_output(q, k, v)?;
        self.forward_into(q, k, v, &out.o, &out.lse)?;
        Ok(out)
    }

    /// Runs into existing O and LSE buffers (caller's order) and submits.
    pub fn forward_into(&self, q: &GpuTensor, k: &GpuTensor, v: &GpuTensor, o: &GpuTensor, lse: &LseBuffer) -> Result<()> {
        let ctx = self.attn.context();
        let mut enc = ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn ordered attention") });
        self.encode(&mut enc, q, k, v, o, lse)?;
        ctx.scoped(|| ctx.queue().submit([enc.finish()]))?;
        Ok(())
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
            return self.attn.encode(encoder, q, k, v, o, lse, None);
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
        self.attn.encode(encoder, &qp, &kp, &vp, &op, &lp, None)?;
        self.perm.encode_tokens(ctx, encoder, &op, o, Direction::Inverse)?;
        self.perm.encode_lse(ctx, encoder, &lp, lse, Direction::Inverse)
    }
}
