//! The user-facing attention object.
//!
//! ```no_run
//! use ringattn::{Attention, AttentionOptions, Dtype, GpuContext, GpuTensor};
//! # fn main() -> ringattn::Result<()> {
//! let ctx = GpuContext::new()?;
//! let (b, n, h, d) = (1, 1024, 8, 64);
//! let data = vec![0.5f32; b * n * h * d];
//! let q = GpuTensor::from_f32(&ctx, &data, [b, n, h, d], Dtype::F32)?;
//! let k = GpuTensor::from_f32(&ctx, &data, [b, n, h, d], Dtype::F32)?;
//! let v = GpuTensor::from_f32(&ctx, &data, [b, n, h, d], Dtype::F32)?;
//! let attn = Attention::new(&ctx, AttentionOptions { causal: true, ..Default::default() });
//! let out = attn.forward(&q, &k, &v)?;
//! let o: Vec<f32> = out.o.to_f32_vec(&ctx)?;
//! # Ok(()) }
//! ```

use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::kernels::flash::{self, CausalFrame, FlashArgs, Prepared, TileConfig};
use crate::kernels::Tier;
use crate::mask::GpuBlockMask;
use crate::tensor::{Dtype, GpuTensor, LseBuffer, Shape};
use std::sync::Mutex;

/// Options of one attention call.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AttentionOptions {
    /// Causal mask, bottom-right aligned when seq_q != seq_k (query i sees keys
    /// j <= i + seq_k - seq_q), as FlashAttention-2 defines it.
    pub causal: bool,
    /// Softmax scale; `None` means 1/sqrt(head_dim).
    pub scale: Option<f32>,
    /// Kernel tier; `None` means `RINGATTN_TIER` if set, else the fastest the
    /// adapter supports for the dtype and head_dim.
    pub tier: Option<Tier>,
}

/// O (same shape and dtype as Q) and LSE (f32, (batch, heads, seq_q), natural log).
#[derive(Clone, Debug)]
pub struct AttentionOutput {
    pub o: GpuTensor,
    pub lse: LseBuffer,
}

/// Exact attention on one GPU context.
///
/// A call split over keys ([`Attention::key_splits_for`]) computes its extra parts into
/// scratch O and LSE buffers that the object keeps for its next split call of the same
/// shape and dtype (a new shape replaces them; [`Attention::release_scratch`] frees them,
/// as dropping the object does). Calls that share the scratch are ordered by the queue,
/// so encoding several of them, from one thread or several, is safe.
pub struct Attention<'a> {
    ctx: &'a GpuContext,
    opts: AttentionOptions,
    key_splits: Option<usize>,
    scratch: Mutex<Vec<(GpuTensor, LseBuffer)>>,
}

/// Tiers that can run a given dtype and head_dim (before adapter capabilities). Every
/// tier takes f16 and f32 (the matrix tier runs f32 through its split kernel).
pub fn tier_supports(tier: Tier, _dtype: Dtype, head_dim: usize) -> bool {
    match tier {
        Tier::Portable => true,
        Tier::Subgroup => head_dim.is_multiple_of(16) || head_dim == 80,
        Tier::Matrix => flash::MATRIX_HEAD_DIMS.contains(&head_dim),
    }
}

/// The tier that will run: the requested one (or the adapter's best) lowered until
/// the adapter and the kernel support it. Never fails: portable always exists.
pub fn resolve_tier(ctx: &GpuContext, requested: Option<Tier>, dtype: Dtype, head_dim: usize) -> Result<Tier> {
    let requested = match requested {
        Some(t) => t,
        None => Tier::from_env()?.unwrap_or_else(|| ctx.best_tier()),
    };
    let caps = ctx.capabilities().tiers();
    let mut t = requested;
    loop {
        let fits = t != Tier::Matrix || flash::regs_config(ctx, dtype, head_dim).is_some() || flash::matrix_config(ctx, dtype, head_dim).is_some();
        if caps.contains(&t) && tier_supports(t, dtype, head_dim) && fits {
            return Ok(t);
        }
        match t.lower() {
            Some(l) => t = l,
            None => return Ok(Tier::Portable),
        }
    }
}

impl<'a> Attention<'a> {
    pub fn new(ctx: &'a GpuContext, opts: AttentionOptions) -> Self {
        Attention { ctx, opts, key_splits: None, scratch: Mutex::new(Vec::new()) }
    }

    /// Frees the scratch O and LSE kept from the last call split over keys (see
    /// [`Attention`]); the next split call allocates its own again.
    pub fn release_scratch(&self) {
        self.scratch.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Bytes of scratch O and LSE this object keeps for split calls (see [`Attention`]).
    pub fn scratch_bytes(&self) -> u64 {
        self.scratch.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(o, l)| o.buffer().size() + l.buffer().size()).sum()
    }

    /// `n` scratch (O, LSE) pairs for the extra parts of a split call on `s` in `dtype`:
    /// the kept ones where they match (more are allocated and kept as needed), else new
    /// ones that replace them.
    fn scratch_for(&self, s: &crate::tensor::Shape, dtype: Dtype, n: usize) -> Result<Vec<(GpuTensor, LseBuffer)>> {
        self.kept_pairs(s.q_dims(), s.lse_dims(), dtype, n)
    }

    /// `n` kept scratch pairs of O dims `o_dims` and LSE dims `lse_dims` in `dtype` (see
    /// [`Attention::scratch_for`]); pairs of other dims or dtype are dropped first.
    fn kept_pairs(&self, o_dims: [usize; 4], lse_dims: [usize; 3], dtype: Dtype, n: usize) -> Result<Vec<(GpuTensor, LseBuffer)>> {
        let mut kept = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        if kept.first().is_some_and(|(o, _)| o.dims() != o_dims || o.dtype() != dtype) {
            kept.clear();
        }
        while kept.len() < n {
            let pair = (GpuTensor::empty(self.ctx, o_dims, dtype)?, LseBuffer::empty(self.ctx, lse_dims)?);
            kept.push(pair);
        }
        Ok(kept[..n].to_vec())
    }

    /// Splits the keys of each call into `n` parts, each computed into its own
    /// (O, LSE) and merged by LSE in the same pass: more workgroups when a call has
    /// few query tiles. `None` (the default) follows `RINGATTN_KEY_SPLITS`, else the
    /// rule ([`flash::auto_key_splits`], on GPUs): decode launches split on every tier
    /// ([`flash::decode_key_splits`]); otherwise the subgroup tier splits launches that
    /// leave the GPU part-empty, and causal launches, and the other tiers do not split
    /// (it made the matrix tier's short calls slower on an H200, N=1024, D=64: 0.098 ms
    /// split vs 0.079, and level or slower on an H100 with the one-dispatch merge:
    /// N=4096, D=64: 0.195 vs 0.162; BENCHMARKS.md). `Some(1)` never splits. Not used
    /// with block masks.
    pub fn with_key_splits(mut self, n: Option<usize>) -> Self {
        self.key_splits = n.map(|x| x.max(1));
        self
    }

    /// The number of key parts a dense call of shape `s` in `dtype` runs in (1: no
    /// split): the one set by [`Attention::with_key_splits`] or `RINGATTN_KEY_SPLITS`,
    /// else the tier's rule for the tiles it runs. Builds the pipeline if needed.
    pub fn key_splits_for(&self, dtype: Dtype, s: &Shape) -> Result<usize> {
        Ok(self.plan(dtype, s, None)?.2)
    }

    /// [`Attention::key_splits_for`] with the pipeline already prepared.
    fn parts_for(&self, prep: &Prepared, s: &Shape) -> usize {
        let env = || std::env::var("RINGATTN_KEY_SPLITS").ok().and_then(|v| v.trim().parse::<usize>().ok());
        let gpu = self.ctx.info().device_type != wgpu::DeviceType::Cpu;
        let auto = || {
            let wave =
                if gpu && prep.tier == Tier::Subgroup { flash::split_wave(self.ctx, prep.dtype, s.head_dim) } else { flash::SMALL_GRID_INVOCATIONS };
            flash::auto_key_splits(&prep.cfg, prep.tier, prep.dtype, s, self.opts.causal, gpu, wave)
        };
        let parts = self.key_splits.or_else(env).unwrap_or_else(auto);
        parts.clamp(1, s.seq_k.max(1))
    }
    pub fn context(&self) -> &GpuContext {
        self.ctx
    }
    pub fn options(&self) -> &AttentionOptions {
        &self.opts
    }

    /// The tier this object uses for the given dtype and head_dim on its adapter (dense
    /// decode calls may take a lower one: [`Attention::plan`] gives a call's own).
    pub fn tier(&self, dtype: Dtype, head_dim: usize) -> Result<Tier> {
        resolve_tier(self.ctx, self.opts.tier, dtype, head_dim)
    }

    /// The tier a call on a problem of shape `s` (dense, or under a mask) runs on:
    /// [`Attention::tier`], except that dense decode calls ([`flash::is_decode`]) that
    /// would take the matrix tier take the subgroup tier (or the next below it the
    /// adapter has) when no tier was asked for (the options or `RINGATTN_TIER`): f32
    /// calls always (the matrix tier's f32 runs through its split kernel; on an H200 it
    /// took 0.59 / 2.26 / 8.99 ms at 4096 / 16384 / 65536 keys, one token, H=32, 8 K/V
    /// heads, head_dim 128, the subgroup tier 0.058 / 0.19 / 0.67 in 16 key parts:
    /// BENCHMARKS.md, thirty-first session), f16 calls where `flash_decode.wgsl` takes
    /// them ([`flash::decode_stream_for`]; the same shape 0.020 / 0.043 / 0.099 ms
    /// against flash_matrix's 0.043 / 0.098 / 0.178, thirty-third session).
    fn tier_for(&self, dtype: Dtype, s: &Shape, masked: bool) -> Result<Tier> {
        let tier = self.tier(dtype, s.head_dim)?;
        let decode = !masked && flash::is_decode(s) && self.opts.tier.is_none() && Tier::from_env()?.is_none();
        if tier == Tier::Matrix && decode && (dtype == Dtype::F32 || flash::decode_stream_for(self.ctx, dtype, s).is_some()) {
            return resolve_tier(self.ctx, Some(Tier::Subgroup), dtype, s.head_dim);
        }
        Ok(tier)
    }

    /// A call's causal frame on `s` (bottom-right aligned), if the options are causal.
    fn frame(&self, s: &Shape) -> Option<CausalFrame> {
        self.opts.causal.then(|| CausalFrame::bottom_right(s.seq_q, s.seq_k))
    }

    fn scale(&self, head_dim: usize) -> Result<f32> {
        let s = self.opts.scale.unwrap_or(1.0 / (head_dim as f32).sqrt());
        if !s.is_finite() {
            return Err(Error::InvalidArgument(format!("scale must be finite, got {s}")));
        }
        Ok(s)
    }

    /// Builds (or fetches from the context's cache) the pipeline this object will use
    /// for `dtype` and `head_dim`, so the first call is not slowed by shader
    /// compilation. Returns the tier that will run.
    pub fn prepare(&self, dtype: Dtype, head_dim: usize) -> Result<Tier> {
        if !crate::SUPPORTED_HEAD_DIMS.contains(&head_dim) {
            return Err(Error::UnsupportedHeadDim { got: head_dim, supported: crate::SUPPORTED_HEAD_DIMS });
        }
        self.ctx.check_dtype(dtype, "attention")?;
        let tier = self.tier(dtype, head_dim)?;
        let prep = flash::prepare(self.ctx, tier, dtype, head_dim)?;
        flash::prepare_launch(self.ctx, &prep, head_dim, self.opts.causal, false, self.scale(head_dim)?)?;
        Ok(tier)
    }

    /// The pipeline [`Attention::encode_with`] uses for a problem of shape `s`, dense or
    /// under `mask` (built, or fetched from the context's cache).
    fn prepared(&self, dtype: Dtype, s: &Shape, mask: Option<&GpuBlockMask>) -> Result<Prepared> {
        let tier = self.tier_for(dtype, s, mask.is_some())?;
        match mask {
            None => flash::prepare_for(self.ctx, tier, dtype, s, self.opts.causal),
            Some(m) => flash::prepare_masked(self.ctx, tier, dtype, s.head_dim, m, 0),
        }
    }

    /// The tier and tiles a call on a problem of shape `s` runs with (dense, or under
    /// `mask`): the matrix tier's query tiles depend on the grid (see
    /// [`flash::matrix_config_for_grid`]), those under a mask on its blocks
    /// ([`flash::prepare_masked`]). Builds the pipelines the call runs if needed
    /// (searching the tiles first where the adapter has no tuned choice yet), so a first
    /// call after it compiles nothing.
    pub fn tiles(&self, dtype: Dtype, s: &Shape, mask: Option<&GpuBlockMask>) -> Result<(Tier, TileConfig)> {
        let (tier, cfg, _) = self.plan(dtype, s, mask)?;
        Ok((tier, cfg))
    }

    /// [`Attention::tiles`] and the key parts the call runs in
    /// ([`Attention::key_splits_for`]; 1 under a mask), from one prepared pipeline.
    pub fn plan(&self, dtype: Dtype, s: &Shape, mask: Option<&GpuBlockMask>) -> Result<(Tier, TileConfig, usize)> {
        let prep = self.prepared(dtype, s, mask)?;
        flash::prepare_launch(self.ctx, &prep, s.head_dim, self.opts.causal, mask.is_some(), self.scale(s.head_dim)?)?;
        let parts = if mask.is_some() { 1 } else { self.parts_for(&prep, s) };
        match self.one_launch_parts(s, dtype, parts, self.frame(s)) {
            Some(_) => crate::kernels::merge::prepare_merge_slots(self.ctx, dtype, s.head_dim, parts - 1)?,
            None if parts > 1 => crate::kernels::merge::prepare_merge(self.ctx, dtype, dtype, s.head_dim, parts - 1)?,
            None => {}
        }
        Ok((prep.tier, prep.cfg, parts))
    }

    /// Checks q/k/v and allocates O and LSE. Does not run anything.
    pub fn alloc_output(&self, q: &GpuTensor, k: &GpuTensor, v: &GpuTensor) -> Result<AttentionOutput> {
        let s = self.shape_of(q, k, v)?;
        let o = GpuTensor::empty(self.ctx, q.dims(), q.dtype())?;
        let lse = LseBuffer::empty(self.ctx, s.lse_dims())?;
        Ok(AttentionOutput { o, lse })
    }

    /// The problem shape of (q, k, v), validated.
    pub fn shape_of(&self, q: &GpuTensor, k: &GpuTensor, v: &GpuTensor) -> Result<Shape> {
        let s = flash::check_qkv(q, k, v)?;
        self.ctx.check_dtype(q.dtype(), "attention")?;
        Ok(s)
    }

    /// Runs attention and returns new O and LSE tensors. The work is submitted; reading
    /// the outputs waits for it.
    pub fn forward(&self, q: &GpuTensor, k: &GpuTensor, v: &GpuTensor) -> Result<AttentionOutput> {
        let out = self.alloc_output(q, k, v)?;
        self.forward_into(q, k, v, &out.o, &out.lse)?;
        Ok(out)
    }

    /// Runs attention into existing O and LSE buffers and submits.
    pub fn forward_into(&self, q: &GpuTensor, k: &GpuTensor, v: &GpuTensor, o: &GpuTensor, lse: &LseBuffer) -> Result<()> {
        self.ctx.submit_with("ringattn attention", |enc| self.encode(enc, q, k, v, o, lse, None))
    }

    /// The kept scratch as one (O, LSE) pair of `slots` slots of `s`'s (O, LSE) in `dtype`
    /// ([`flash::encode_key_parts`]; [`Attention::kept_pairs`]).
    fn slots_for(&self, s: &Shape, dtype: Dtype, slots: usize) -> Result<(GpuTensor, LseBuffer)> {
        let n = slots * s.batch;
        let mut pair = self.kept_pairs([n, s.seq_q, s.heads, s.head_dim], [n, s.heads, s.seq_q], dtype, 1)?;
        Ok(pair.remove(0))
    }

    /// Whether a call on `s` split in `parts` runs its first parts in one launch
    /// ([`flash::encode_key_parts`], [`flash::parts_fit`]) and returns their keys each.
    /// `RINGATTN_PARTS_LAUNCH=0` runs one launch per part instead (for measurements).
    fn one_launch_parts(&self, s: &Shape, dtype: Dtype, parts: usize, causal: Option<CausalFrame>) -> Option<usize> {
        let part_keys = s.seq_k / parts;
        (parts > 2 && flash::parts_fit(self.ctx, s, dtype, parts - 1, part_keys, causal) && flash::parts_launch_on()).then_some(part_keys)
    }

    /// Keys split in `parts`. Where they fit one launch ([`Attention::one_launch_parts`]:
    /// more than two parts whose keys every query row sees), the first `parts` - 1 parts
    /// of seq_k / `parts` keys run in one launch into the kept scratch's slots, the last
    /// part (the rest of the keys, under the causal mask if any) into (o, lse), and one
    /// dispatch merges the slots into it. Otherwise part 0 goes into (o, lse) and the
    /// others into kept scratch pairs (one each, so their dispatches need no barrier
    /// between them), then merged into (o, lse) by LSE (one dispatch where the adapter
    /// binds them all, [`crate::kernels::merge::max_parts_per_dispatch`]). All in one
    /// compute pass.
    fn encode_split(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        prep: &Prepared,
        args: &FlashArgs<'_>,
        s: &crate::tensor::Shape,
        parts: usize,
        timestamps: Option<wgpu::ComputePassTimestampWrites<'_>>,
    ) -> Result<()> {
        let ctx = self.ctx;
        if let Some(part_keys) = self.one_launch_parts(s, args.q.dtype(), parts, args.causal) {
            let (so, sl) = self.slots_for(s, args.q.dtype(), parts - 1)?;
            return ctx.scoped(|| -> Result<()> {
                let mut pass = encoder
                    .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("ringattn flash (key parts)"), timestamp_writes: timestamps });
                flash::encode_key_parts(ctx, &mut pass, prep, &FlashArgs { o: &so, lse: &sl, ..*args }, parts - 1, part_keys)?;
                flash::encode_keys(ctx, &mut pass, prep, args, (parts - 1) * part_keys, s.seq_k)?;
                crate::kernels::merge::encode_merge_slots_in_pass(ctx, &mut pass, args.o, args.lse, &so, &sl)
            })?;
        }
        let bounds: Vec<usize> = (0..=parts).map(|i| i * s.seq_k / parts).collect();
        let scratch = self.scratch_for(s, args.q.dtype(), parts - 1)?;
        ctx.scoped(|| -> Result<()> {
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("ringattn flash (key split)"), timestamp_writes: timestamps });
            flash::encode_keys(ctx, &mut pass, prep, args, bounds[0], bounds[1])?;
            for (i, (po, pl)) in scratch.iter().enumerate() {
                let part = FlashArgs { o: po, lse: pl, mask: None, ..*args };
                flash::encode_keys(ctx, &mut pass, prep, &part, bounds[i + 1], bounds[i + 2])?;
            }
            let parts: Vec<(&GpuTensor, &LseBuffer)> = scratch.iter().map(|(o, l)| (o, l)).collect();
            crate::kernels::merge::encode_merge_parts_in_pass(ctx, &mut pass, args.o, args.lse, &parts)
        })?
    }

    /// Block-sparse attention: only the blocks `mask` lists are computed (see
    /// [`crate::mask`]). The mask must cover seq_q x seq_k and have 1 or `heads`
    /// per-head patterns; with `causal` set, the causal mask is applied too.
    pub fn forward_masked(&self, q: &GpuTensor, k: &GpuTensor, v: &GpuTensor, mask: &GpuBlockMask) -> Result<AttentionOutput> {
        let out = self.alloc_output(q, k, v)?;
        self.ctx.submit_with("ringattn sparse attention", |enc| self.encode_with(enc, q, k, v, &out.o, &out.lse, Some(mask), None))?;
        Ok(out)
    }

    /// Records attention into the application's encoder (nothing is submitted). A call
    /// split over keys ([`Attention::key_splits_for`]) uses the object's scratch O and
    /// LSE for its extra parts (allocated on the first such call of a shape; see
    /// [`Attention`]).
    ///
    /// `timestamps` are written at the start and end of the one compute pass used.
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        q: &GpuTensor,
        k: &GpuTensor,
        v: &GpuTensor,
        o: &GpuTensor,
        lse: &LseBuffer,
        timestamps: Option<wgpu::ComputePassTimestampWrites<'_>>,
    ) -> Result<()> {
        self.encode_with(encoder, q, k, v, o, lse, None, timestamps)
    }

    /// [`Attention::encode`] with an optional block mask ([`Attention::forward_masked`]).
    #[allow(clippy::too_many_arguments)]
    pub fn encode_with(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        q: &GpuTensor,
        k: &GpuTensor,
        v: &GpuTensor,
        o: &GpuTensor,
        lse: &LseBuffer,
        mask: Option<&GpuBlockMask>,
        timestamps: Option<wgpu::ComputePassTimestampWrites<'_>>,
    ) -> Result<()> {
        let s = flash::check_shapes(q, k, v, o, lse)?;
        self.ctx.check_dtype(q.dtype(), "attention")?;
        let scale = self.scale(s.head_dim)?;
        let prep = self.prepared(q.dtype(), &s, mask)?;
        let causal = self.frame(&s);
        let parts = if mask.is_some() { 1 } else { self.parts_for(&prep, &s) };
        let mask = mask.map(|m| (m, CausalFrame { q_pos0: 0, k_pos0: 0, diag: 0 }));
        let args = FlashArgs { q, k, v, o, lse, scale, causal, mask };
        if parts > 1 {
            return self.encode_split(encoder, &prep, &args, &s, parts, timestamps);
        }
        self.ctx
            .scoped(|| {
                let mut pass =
                    encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("ringattn flash"), timestamp_writes: timestamps });
                flash::encode(self.ctx, &mut pass, &prep, &args)
            })
            .and_then(|r| r)
    }
}
