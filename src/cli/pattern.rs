//! `ringattn run` options that change what attention computes or in which order its
//! tokens run: `--dilated SEGS:RATES`, `--dilated-mode group|mixture`, `--order ...`.

use clap::{Args, ValueEnum};

use crate::attention::{Attention, AttentionOptions, AttentionOutput};
use crate::context::GpuContext;
use crate::dilated::{self, DilatedAttention, DilatedMode, DilatedOptions, Dilation};
use crate::error::{Error, Result};
use crate::mask::BlockMask;
use crate::order::{Order, OrderedAttention};
use crate::reference::{self, RefOutput};
use crate::tensor::{GpuTensor, Shape};

/// How `--dilated` pairs are used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum DilatedModeArg {
    /// Heads split into contiguous groups, one pair per group (the replaced system's semantics).
    #[default]
    #[value(alias = "groups", alias = "head-group")]
    Group,
    /// Every head under every pair, results merged by LSE (the LongNet paper).
    Mixture,
}

impl From<DilatedModeArg> for DilatedMode {
    fn from(m: DilatedModeArg) -> DilatedMode {
        match m {
            DilatedModeArg::Group => DilatedMode::HeadGroups,
            DilatedModeArg::Mixture => DilatedMode::Mixture,
        }
    }
}

/// Dilated attention and token order.
#[derive(Args, Debug, Clone, Default)]
pub struct PatternArgs {
    /// LongNet dilated attention: segment lengths and dilation rates, e.g. 2048,4096:1,2.
    /// The sequence length must be a multiple of every segment length; --causal applies
    /// inside segments, in the original order.
    #[arg(long, value_name = "SEGS:RATES", help_heading = "Dilation and order")]
    pub dilated: Option<Dilation>,
    /// group: heads split into contiguous groups, group g uses pair g with offset g mod r_g;
    /// mixture: every head uses every pair (offset h mod r_i), results merged by LSE.
    #[arg(long, value_enum, default_value_t = DilatedModeArg::Group, requires = "dilated", help_heading = "Dilation and order")]
    pub dilated_mode: DilatedModeArg,
    /// Token order attention runs in: natural, hilbert2d:HxW, hilbert3d:DxHxW, zorder2d:HxW
    /// or zorder3d:DxHxW (the grid must hold seq tokens, numbered in raster order). O and LSE
    /// are written in the original order; --causal stays causal in the original order, and
    /// mask options (--window, ...) apply to positions along the order.
    #[arg(long, value_name = "ORDER", default_value_t = Order::Natural, help_heading = "Dilation and order")]
    pub order: Order,
}

impl PatternArgs {
    /// Plain attention (no dilation, natural order).
    pub fn is_plain(&self) -> bool {
        self.dilated.is_none() && self.order == Order::Natural
    }

    fn dilated_options(&self, attention: AttentionOptions) -> Option<DilatedOptions> {
        self.dilated.clone().map(|dilation| DilatedOptions { dilation, mode: self.dilated_mode.into(), attention })
    }

    /// Checks the combination against the shape before any GPU work (`mask`: whether
    /// mask options were given).
    pub fn validate(&self, s: &Shape, ring: bool, mask: bool) -> Result<()> {
        if ring && !self.is_plain() {
            return Err(Error::InvalidArgument("--dilated and --order run on one device; they cannot be combined with --devices".into()));
        }
        if mask && self.dilated.is_some() {
            return Err(Error::InvalidArgument(
                "mask options (--window, --global, --block-mask, --random-density) do not combine with --dilated".into(),
            ));
        }
        if self.dilated.is_some() && self.order != Order::Natural {
            return Err(Error::InvalidArgument("--dilated is defined on the original order; it cannot be combined with --order".into()));
        }
        if let Some(d) = &self.dilated {
            dilated::branches(d, self.dilated_mode.into(), s)?;
        }
        if self.order != Order::Natural {
            if s.seq_q != s.seq_k {
                return Err(Error::InvalidArgument(format!("--order needs seq_q = seq_k (self-attention), got {} and {}", s.seq_q, s.seq_k)));
            }
            self.order.permutation(s.seq_q)?;
        }
        Ok(())
    }

    /// One line for the run's printout, if not plain.
    pub fn describe(&self, causal: bool) -> Option<String> {
        match (&self.dilated, self.order) {
            (Some(d), _) => Some(format!("dilated {d} ({:?})", DilatedMode::from(self.dilated_mode))),
            (None, Order::Natural) => None,
            (None, o) if causal => Some(format!("order {o} (causal in the original order: a block mask along the order)")),
            (None, o) => Some(format!("order {o}")),
        }
    }

    /// Runs the attention these options describe. A block `mask` (from the mask options)
    /// applies along the order when `--order` is given (query i' and key j' are positions
    /// in the permuted sequence); causal stays in the original order.
    pub fn forward(
        &self,
        ctx: &GpuContext,
        opts: AttentionOptions,
        q: &GpuTensor,
        k: &GpuTensor,
        v: &GpuTensor,
        mask: Option<&BlockMask>,
    ) -> Result<AttentionOutput> {
        if let Some(d) = self.dilated_options(opts) {
            return DilatedAttention::new(ctx, d)?.forward(q, k, v);
        }
        if self.order != Order::Natural {
            let perm = self.order.permutation(q.dims()[1])?;
            let attn = match mask {
                Some(m) => OrderedAttention::with_mask(ctx, opts, &perm, m)?,
                None => OrderedAttention::new(ctx, opts, &perm)?,
            };
            return attn.forward(q, k, v);
        }
        match mask {
            Some(m) => Attention::new(ctx, opts).forward_masked(q, k, v, &m.upload(ctx)?),
            None => Attention::new(ctx, opts).forward(q, k, v),
        }
    }

    /// The f64 reference of the same computation for query rows `rows`.
    #[allow(clippy::too_many_arguments)]
    pub fn reference(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        s: &Shape,
        opts: AttentionOptions,
        rows: &[usize],
        mask: Option<&BlockMask>,
    ) -> Result<RefOutput> {
        if let Some(d) = self.dilated_options(opts) {
            return dilated::reference(q, k, v, s, &d, rows);
        }
        let diag = s.seq_k as i64 - s.seq_q as i64;
        let causal = opts.causal;
        let causal_ok = |i: usize, j: usize| !causal || (j as i64) <= i as i64 + diag;
        // Without a mask the order does not change the result; with one, the mask holds
        // between the tokens' positions in the order.
        let inv: Vec<usize> = match (mask, self.order) {
            (Some(_), o) if o != Order::Natural => o.permutation(s.seq_q)?.inverse().iter().map(|&x| x as usize).collect(),
            _ => (0..s.seq_q.max(s.seq_k)).collect(),
        };
        Ok(reference::attention_rows(q, k, v, s, opts.scale, rows, |_, h, i, j| causal_ok(i, j) && mask.is_none_or(|m| m.allows(h, inv[i], inv[j]))))
    }
}
