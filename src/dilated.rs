//! LongNet dilated attention: attention inside segments of the sequence, over every
//! r-th position of each segment, exactly and on the GPU.
//!
//! A pair (w, r) of segment length and dilation rate, with an offset o < r, splits the
//! sequence into segments `[s*w, (s+1)*w)`; inside each segment the positions
//! `s*w + o + t*r` (t = 0, 1, ...) attend only to each other (causally in the
//! caller's order when `causal` is set). Positions a pair does not select get nothing
//! from it (O = 0, LSE = -inf).
//!
//! Two ways of using several pairs `(w_i, r_i)`:
//!
//! * [`DilatedMode::HeadGroups`] (the semantics of the system ringattn replaces): the
//!   heads are split into as many contiguous groups as there are pairs, as equal as
//!   possible with earlier groups one larger ([`head_groups`]); group g attends under
//!   `(w_g, r_g)` with offset `o_g = g mod r_g`. A position its group does not select
//!   gets O = 0 and LSE = -inf for that group's heads. Unlike the replaced system, the
//!   output is *not* divided by the number of groups: each head's output is a proper
//!   attention output (or zero), so the result is comparable with dense attention and
//!   composes with LSE merges; multiply by `1 / G` to reproduce the old scaling.
//! * [`DilatedMode::Mixture`] (the LongNet paper): every head attends under every pair,
//!   head h with offset `o = h mod r_i` (so the heads of a pair cover all residues), and
//!   the per-pair results are combined with weights proportional to their softmax
//!   denominators, i.e. an LSE merge (`crate::kernels::merge`). A position no pair
//!   selects for a head gets O = 0, LSE = -inf.
//!
//! The sequence length must be a multiple of every segment length, and a rate may not
//! exceed its segment length. When r does not divide w every segment still selects the
//! same `ceil((w - o) / r)` positions.
//!
//! **How it runs.** For each pair and set of heads sharing an offset, a gather kernel
//! copies the selected positions into compact Q/K/V tensors of shape
//! `(batch, n/w * m, heads', head_dim)` with `m = ceil((w - o) / r)`; segment s occupies
//! rows `[s*m, (s+1)*m)`, so the same buffers viewed as `(batch * n/w, m, heads', d)` make
//! within-segment attention plain dense (or causal) attention, run by
//! [`Attention`] on whatever tier the adapter has. A scatter kernel writes O and LSE back
//! (zeros / -inf for the positions left out). Scratch buffers are reused from one head
//! set to the next, so extra memory is at most one compact copy of Q, K, V, O and LSE
//! (each no larger than its input), plus, in mixture mode with f16 tensors, an f32
//! accumulator (later pairs are LSE-merged into it straight from the compact results by
//! the dilated merge kernel). GQA works: head sets are split where they cross
//! key/value head groups.
//!
//! ```no_run
//! use ringattn::dilated::{DilatedAttention, DilatedMode, DilatedOptions, Dilation};
//! use ringattn::{AttentionOptions, Dtype, GpuContext, GpuTensor};
//! # fn main() -> ringattn::Result<()> {
//! let ctx = GpuContext::new()?;
//! let dims = [1, 8192, 8, 64];
//! let x = vec![0.1f32; dims.iter().product()];
//! let q = GpuTensor::from_f32(&ctx, &x, dims, Dtype::F16)?;
//! let opts = DilatedOptions {
//!     dilation: "2048,4096,8192:1,2,4".parse::<Dilation>()?,
//!     mode: DilatedMode::HeadGroups,
//!     attention: AttentionOptions { causal: true, ..Default::default() },
//! };
//! let out = DilatedAttention::new(&ctx, opts)?.forward(&q, &q, &q)?;
//! # let _ = out; Ok(()) }
//! ```

use std::ops::Range;

use crate::attention::{Attention, AttentionOptions, AttentionOutput};
use crate::context::GpuContext;
use crate::error::{Error, Result};
use crate::kernels::flash;
use crate::kernels::gather::{self, DilatedMerge, Gather, Layout, Operand, RowMap};
use crate::reference::{self, RefOutput};
use crate::tensor::{Dtype, GpuTensor, LseBuffer, Shape};

/// Segment lengths and dilation rates, one pair per head group (or per mixture branch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dilation {
    segment_lengths: Vec<usize>,
    dilation_rates: Vec<usize>,
}

impl Dilation {
    /// Checks the pairs: as many rates as lengths, at least one pair, every length and
    /// rate >= 1, every rate <= its length.
    pub fn new(segment_lengths: Vec<usize>, dilation_rates: Vec<usize>) -> Result<Self> {
        if segment_lengths.is_empty() {
            return Err(Error::InvalidArgument("dilated attention needs at least one (segment length, dilation rate) pair".into()));
        }
        if segment_lengths.len() != dilation_rates.len() {
            return Err(Error::InvalidArgument(format!(
                "dilated attention: {} segment lengths but {} dilation rates (one rate per length)",
                segment_lengths.len(),
                dilation_rates.len()
            )));
        }
        for (&w, &r) in segment_lengths.iter().zip(&dilation_rates) {
            if w == 0 || r == 0 {
                return Err(Error::InvalidArgument(format!("dilated attention: segment length {w} and rate {r} must both be >= 1")));
            }
            if r > w {
                return Err(Error::InvalidArgument(format!("dilated attention: rate {r} is larger than its segment length {w}")));
            }
            if w > u32::MAX as usize {
                return Err(Error::InvalidArgument(format!("dilated attention: segment length {w} is over 2^32 - 1")));
            }
        }
        Ok(Dilation { segment_lengths, dilation_rates })
    }
    pub fn segment_lengths(&self) -> &[usize] {
        &self.segment_lengths
    }
    pub fn dilation_rates(&self) -> &[usize] {
        &self.dilation_rates
    }
    /// The (segment length, rate) pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.segment_lengths.iter().copied().zip(self.dilation_rates.iter().copied())
    }
    pub fn len(&self) -> usize {
        self.segment_lengths.len()
    }
    pub fn is_empty(&self) -> bool {
        self.segment_lengths.is_empty()
    }
}

impl std::str::FromStr for Dilation {
    type Err = Error;
    /// `SEGS:RATES`, e.g. `2048,4096:1,2`.
    fn from_str(s: &str) -> Result<Self> {
        let (segs, rates) =
            s.split_once(':').ok_or_else(|| Error::InvalidArgument(format!("dilation `{s}`: expected SEGMENT_LENGTHS:RATES, e.g. 2048,4096:1,2")))?;
        let list = |what: &str, x: &str| -> Result<Vec<usize>> {
            x.split(',')
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| Error::InvalidArgument(format!("dilation `{s}`: {what} `{v}` is not a non-negative integer")))
                })
                .collect()
        };
        Dilation::new(list("segment length", segs)?, list("rate", rates)?)
    }
}

impl std::fmt::Display for Dilation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let j = |v: &[usize]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
        write!(f, "{}:{}", j(&self.segment_lengths), j(&self.dilation_rates))
    }
}

/// How several (segment, rate) pairs are used; see the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DilatedMode {
    /// Heads split into contiguous groups, group g under pair g with offset g mod r_g.
    #[default]
    HeadGroups,
    /// Every head under every pair (offset h mod r_i), LSE-merged.
    Mixture,
}

impl std::str::FromStr for DilatedMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "group" | "groups" | "head-group" | "head-groups" => Ok(DilatedMode::HeadGroups),
            "mixture" => Ok(DilatedMode::Mixture),
            o => Err(Error::InvalidArgument(format!("unknown dilated mode `{o}` (group or mixture)"))),
        }
    }
}

/// Options of a dilated attention call.
#[derive(Clone, Debug, PartialEq)]
pub struct DilatedOptions {
    pub dilation: Dilation,
    pub mode: DilatedMode,
    /// Causal (inside each segment, in the caller's order), scale and tier.
    pub attention: AttentionOptions,
}

/// Contiguous head groups for `groups` pairs: as equal as possible, earlier groups one
/// larger (10 heads, 3 groups: 0..4, 4..7, 7..10).
pub fn head_groups(heads: usize, groups: usize) -> Vec<Range<usize>> {
    let groups = groups.max(1);
    let (base, extra) = (heads / groups, heads % groups);
    let mut start = 0;
    (0..groups)
        .map(|g| {
            let len = base + usize::from(g < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .collect()
}

/// Whether position `p` is selected by segment length `w`, rate `r` and offset `o`.
pub fn selected(p: usize, w: usize, r: usize, o: usize) -> bool {
    let q = p % w;
    q >= o && (q - o).is_multiple_of(r)
}

/// One attention problem of a dilated call: the query heads `h0, h0 + hs, ...`
/// (`count` of them) attend under `(w, r)` with offset `o`; `pair` is the pair's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Branch {
    pub pair: usize,
    pub w: usize,
    pub r: usize,
    pub o: usize,
    pub h0: usize,
    pub hs: usize,
    pub count: usize,
}

/// A branch's heads as one attention call: query heads `h0 + j*hs` (j < count) with
/// key/value heads `k0 + j / (count / kcount) * ks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    h0: usize,
    hs: usize,
    count: usize,
    k0: usize,
    ks: usize,
    kcount: usize,
}

impl Branch {
    /// Splits the branch into attention calls whose query heads map onto key/value heads
    /// the way GQA does (`heads / kv_heads` query heads per key/value head).
    fn runs(&self, heads: usize, kv_heads: usize) -> Vec<Run> {
        let g = heads / kv_heads;
        if g == 1 {
            return vec![Run { h0: self.h0, hs: self.hs, count: self.count, k0: self.h0, ks: self.hs, kcount: self.count }];
        }
        let mut runs = Vec::new();
        let mut j = 0;
        while j < self.count {
            let h = self.h0 + j * self.hs;
            let left = self.count - j;
            if self.hs == 1 && h.is_multiple_of(g) && left >= g {
                // Whole key/value groups.
                let n = left / g * g;
                runs.push(Run { h0: h, hs: 1, count: n, k0: h / g, ks: 1, kcount: n / g });
                j += n;
            } else {
                // The query heads of this run that share one key/value head.
                let kv = h / g;
                let mut n = 1;
                while n < left && (h + n * self.hs) / g == kv {
                    n += 1;
                }
                runs.push(Run { h0: h, hs: self.hs, count: n, k0: kv, ks: 1, kcount: 1 });
                j += n;
            }
        }
        runs
    }
}

/// Dilated attention on one GPU context.
pub struct DilatedAttention<'a> {
    ctx: &'a GpuContext,
    opts: DilatedOptions,
}

impl<'a> DilatedAttention<'a> {
    /// The pairs were checked when the [`Dilation`] was built; the shape is checked per call.
    pub fn new(ctx: &'a GpuContext, opts: DilatedOptions) -> Result<Self> {
        if let Some(s) = opts.attention.scale.filter(|s| !s.is_finite()) {
            return Err(Error::InvalidArgument(format!("scale must be finite, got {s}")));
        }
        Ok(DilatedAttention { ctx, opts })
    }
    pub fn options(&self) -> &DilatedOptions {
        &self.opts
    }

    /// Checks that the shape fits the pairs (self-attention, the length a multiple of
    /// every segment length, at least one head per group) and returns the branches.
    pub fn branches(&self, s: &Shape) -> Result<Vec<Branch>> {
        branches(&self.opts.dilation, self.opts.mode, s)
    }

    /// Runs and returns new O and LSE tensors. The work is submitted.
    pub fn forward(&self, q: &GpuTensor, k: &GpuTensor, v: &GpuTensor) -> Result<AttentionOutput> {
        let attn = Attention::new(self.ctx, self.opts.attention);
        let out = attn.alloc_output(q, k, v)?;
        self.forward_into(q, k, v, &out.o, &out.lse)?;
        Ok(out)
    }

    /// Runs into existing O and LSE buffers and submits.
    pub fn forward_into(&self, q: &GpuTensor, k: &GpuTensor, v: &GpuTensor, o: &GpuTensor, lse: &LseBuffer) -> Result<()> {
        self.ctx.submit_with("ringattn dilated attention", |enc| self.encode(enc, q, k, v, o, lse))
    }

    /// Records the whole computation into `encoder` (nothing is submitted).
    pub fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        q: &GpuTensor,
        k: &GpuTensor,
        v: &GpuTensor,
        o: &GpuTensor,
        lse: &LseBuffer,
    ) -> Result<()> {
        let ctx = self.ctx;
        let s = flash::check_shapes(q, k, v, o, lse)?;
        ctx.check_dtype(q.dtype(), "dilated attention")?;
        let branches = self.branches(&s)?;
        let attn = Attention::new(ctx, self.opts.attention);
        let (n, d, dtype) = (s.seq_q, s.head_dim, q.dtype());

        // Scratch sized for the largest run.
        let (mut max_q, mut max_k, mut max_l) = (0, 0, 0);
        for br in &branches {
            let rows = n / br.w * RowMap::per_segment(br.w as u32, br.r as u32, br.o as u32) as usize;
            for run in br.runs(s.heads, s.kv_heads) {
                max_q = max_q.max(rows * run.count * d);
                max_k = max_k.max(rows * run.kcount * d);
                max_l = max_l.max(rows * run.count);
            }
        }
        let b = s.batch;
        let scratch = |elems: usize| GpuTensor::empty(ctx, [b, 1, 1, elems], dtype);
        let (qc, kc, vc, oc) = (scratch(max_q)?, scratch(max_k)?, scratch(max_k)?, scratch(max_q)?);
        let lc = LseBuffer::empty(ctx, [b, 1, max_l])?;

        match self.opts.mode {
            DilatedMode::HeadGroups => {
                for br in &branches {
                    self.encode_branch(encoder, &attn, &s, br, [q, k, v], [&qc, &kc, &vc, &oc], &lc, o, lse, Sink::Scatter)?;
                }
                Ok(())
            }
            DilatedMode::Mixture => {
                // Pair 0 is scattered into the accumulator (f32; O itself when O is f32);
                // later pairs are LSE-merged into it straight from the compact results.
                let acc_own = (dtype != Dtype::F32).then(|| GpuTensor::empty(ctx, o.dims(), Dtype::F32)).transpose()?;
                let acc = acc_own.as_ref().unwrap_or(o);
                for br in &branches {
                    let sink = if br.pair == 0 { Sink::Scatter } else { Sink::Merge };
                    self.encode_branch(encoder, &attn, &s, br, [q, k, v], [&qc, &kc, &vc, &oc], &lc, acc, lse, sink)?;
                }
                if let Some(acc) = &acc_own {
                    let l = Layout::tensor(n, s.heads, d, 0);
                    gather::encode(
                        ctx,
                        encoder,
                        &Gather {
                            src: Operand { buffer: acc.buffer(), dtype: Dtype::F32, layout: l },
                            dst: Operand { buffer: o.buffer(), dtype, layout: l },
                            map: RowMap::Identity,
                            batch: b,
                            rows: n,
                            heads: s.heads,
                            width: d,
                            fill: 0.0,
                        },
                    )?;
                }
                Ok(())
            }
        }
    }

    /// Gathers and attends one branch (all its runs), then scatters into or merges into
    /// `dst` / `dst_lse`.
    #[allow(clippy::too_many_arguments)]
    fn encode_branch(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        attn: &Attention<'_>,
        s: &Shape,
        br: &Branch,
        [q, k, v]: [&GpuTensor; 3],
        [qc, kc, vc, oc]: [&GpuTensor; 4],
        lc: &LseBuffer,
        dst: &GpuTensor,
        dst_lse: &LseBuffer,
        sink: Sink,
    ) -> Result<()> {
        let ctx = self.ctx;
        let (n, d, b) = (s.seq_q, s.head_dim, s.batch);
        let (w, r, o) = (br.w as u32, br.r as u32, br.o as u32);
        let m = RowMap::per_segment(w, r, o) as usize;
        let segs = n / br.w;
        let rows = segs * m;
        for run in br.runs(s.heads, s.kv_heads) {
            // Compact (batch, segs * m, heads', d) layouts, segment-major.
            let compact = |heads: usize| Layout {
                batch: (rows * heads * d) as u64,
                seg: (m * heads * d) as u64,
                row: (heads * d) as u64,
                head0: 0,
                head: d as u64,
            };
            let full = |heads: usize, h0: usize, hs: usize| Layout { head: (hs * d) as u64, ..Layout::tensor(n, heads, d, h0) };
            let gather_in = |enc: &mut wgpu::CommandEncoder, src: &GpuTensor, dstc: &GpuTensor, heads: usize, h0: usize, hs: usize, count: usize| {
                gather::encode(
                    ctx,
                    enc,
                    &Gather {
                        src: Operand { buffer: src.buffer(), dtype: src.dtype(), layout: full(heads, h0, hs) },
                        dst: Operand { buffer: dstc.buffer(), dtype: dstc.dtype(), layout: compact(count) },
                        map: RowMap::DilatedGather { w, r, o },
                        batch: b,
                        rows,
                        heads: count,
                        width: d,
                        fill: 0.0,
                    },
                )
            };
            gather_in(encoder, q, qc, s.heads, run.h0, run.hs, run.count)?;
            gather_in(encoder, k, kc, s.kv_heads, run.k0, run.ks, run.kcount)?;
            gather_in(encoder, v, vc, s.kv_heads, run.k0, run.ks, run.kcount)?;

            // The compact tensors as (batch * segs, m, heads', d): one dense problem per segment.
            let view = |t: &GpuTensor, heads: usize| GpuTensor::from_buffer(t.buffer().clone(), [b * segs, m, heads, d], t.dtype());
            let (qv, kv, vv, ov) = (view(qc, run.count)?, view(kc, run.kcount)?, view(vc, run.kcount)?, view(oc, run.count)?);
            let lv = LseBuffer::from_buffer(lc.buffer().clone(), [b * segs, run.count, m])?;
            attn.encode(encoder, &qv, &kv, &vv, &ov, &lv, None)?;

            // Compact LSE is (batch, segs, heads', m); the output's is (batch, heads, n).
            let lse_compact = Layout { batch: (rows * run.count) as u64, seg: (run.count * m) as u64, row: 1, head0: 0, head: m as u64 };
            let lse_full = Layout { head: (run.hs * n) as u64, ..Layout::lse(n, s.heads, run.h0) };
            if sink == Sink::Merge {
                gather::encode_dilated_merge(
                    ctx,
                    encoder,
                    &DilatedMerge {
                        acc: Operand { buffer: dst.buffer(), dtype: dst.dtype(), layout: full(s.heads, run.h0, run.hs) },
                        acc_lse: Operand { buffer: dst_lse.buffer(), dtype: Dtype::F32, layout: lse_full },
                        part: Operand { buffer: oc.buffer(), dtype: oc.dtype(), layout: compact(run.count) },
                        part_lse: Operand { buffer: lc.buffer(), dtype: Dtype::F32, layout: lse_compact },
                        batch: b,
                        rows: n,
                        heads: run.count,
                        head_dim: d,
                        w,
                        r,
                        o,
                    },
                )?;
                continue;
            }
            // Scatter O and LSE back; positions the run does not select get 0 / -inf.
            gather::encode(
                ctx,
                encoder,
                &Gather {
                    src: Operand { buffer: oc.buffer(), dtype: oc.dtype(), layout: compact(run.count) },
                    dst: Operand { buffer: dst.buffer(), dtype: dst.dtype(), layout: full(s.heads, run.h0, run.hs) },
                    map: RowMap::DilatedScatter { w, r, o },
                    batch: b,
                    rows: n,
                    heads: run.count,
                    width: d,
                    fill: 0.0,
                },
            )?;
            gather::encode(
                ctx,
                encoder,
                &Gather {
                    src: Operand { buffer: lc.buffer(), dtype: Dtype::F32, layout: lse_compact },
                    dst: Operand { buffer: dst_lse.buffer(), dtype: Dtype::F32, layout: lse_full },
                    map: RowMap::DilatedScatter { w, r, o },
                    batch: b,
                    rows: n,
                    heads: run.count,
                    width: 1,
                    fill: f32::NEG_INFINITY,
                },
            )?;
        }
        Ok(())
    }
}

/// Where a branch's results go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sink {
    /// Written into the output (0 / -inf where the branch selects nothing).
    Scatter,
    /// LSE-merged into the running output (unselected positions unchanged).
    Merge,
}

/// The branches of `mode` for shape `s` (see [`DilatedAttention::branches`]).
pub fn branches(dilation: &Dilation, mode: DilatedMode, s: &Shape) -> Result<Vec<Branch>> {
    s.validate()?;
    if s.seq_q != s.seq_k {
        return Err(Error::ShapeMismatch {
            what: "k (dilated attention is self-attention)",
            expected: format!("seq_k = seq_q = {}", s.seq_q),
            got: s.seq_k.to_string(),
        });
    }
    let n = s.seq_q;
    for w in dilation.segment_lengths() {
        if !n.is_multiple_of(*w) {
            return Err(Error::InvalidArgument(format!("dilated attention: sequence length {n} is not a multiple of segment length {w}")));
        }
    }
    let mut out = Vec::new();
    match mode {
        DilatedMode::HeadGroups => {
            if s.heads < dilation.len() {
                return Err(Error::InvalidArgument(format!(
                    "dilated attention (head groups): {} heads cannot form {} groups (one per segment length); use fewer pairs or mixture mode",
                    s.heads,
                    dilation.len()
                )));
            }
            for (g, (range, (w, r))) in head_groups(s.heads, dilation.len()).into_iter().zip(dilation.pairs()).enumerate() {
                out.push(Branch { pair: g, w, r, o: g % r, h0: range.start, hs: 1, count: range.len() });
            }
        }
        DilatedMode::Mixture => {
            for (i, (w, r)) in dilation.pairs().enumerate() {
                for c in 0..r.min(s.heads) {
                    out.push(Branch { pair: i, w, r, o: c, h0: c, hs: r, count: (s.heads - c).div_ceil(r) });
                }
            }
        }
    }
    Ok(out)
}

/// Direct f64 CPU implementation of the definitions (tests and `--check`), for the
/// query rows `rows` (O: (batch, rows.len(), heads, d), LSE: (batch, heads, rows.len())).
///
/// Head groups: reference attention under the element mask "same segment, both
/// selected by the head's group (and j <= i when causal)". Mixture: one such masked
/// attention per pair with offset h mod r_i, merged by LSE in f64.
pub fn reference(q: &[f32], k: &[f32], v: &[f32], s: &Shape, opts: &DilatedOptions, rows: &[usize]) -> Result<RefOutput> {
    branches(&opts.dilation, opts.mode, s)?;
    let causal = opts.attention.causal;
    let scale = opts.attention.scale;
    let pairs: Vec<(usize, usize)> = opts.dilation.pairs().collect();
    let allowed =
        |w: usize, r: usize, o: usize, i: usize, j: usize| i / w == j / w && selected(i, w, r, o) && selected(j, w, r, o) && (!causal || j <= i);
    match opts.mode {
        DilatedMode::HeadGroups => {
            let groups = head_groups(s.heads, pairs.len());
            let group_of: Vec<usize> = (0..s.heads).map(|h| groups.iter().position(|g| g.contains(&h)).unwrap_or(0)).collect();
            Ok(reference::attention_rows(q, k, v, s, scale, rows, |_, h, i, j| {
                let g = group_of[h];
                let (w, r) = pairs[g];
                allowed(w, r, g % r, i, j)
            }))
        }
        DilatedMode::Mixture => {
            let mut acc: Option<RefOutput> = None;
            for &(w, r) in &pairs {
                let part = reference::attention_rows(q, k, v, s, scale, rows, |_, h, i, j| allowed(w, r, h % r, i, j));
                acc = Some(match acc {
                    None => part,
                    Some(a) => merge_f64(a, &part, [s.batch, rows.len(), s.heads, s.head_dim]),
                });
            }
            Ok(acc.expect("at least one pair"))
        }
    }
}

/// LSE merge in f64 of two reference outputs, O (batch, nrows, heads, d) and LSE
/// (batch, heads, nrows).
fn merge_f64(mut a: RefOutput, p: &RefOutput, [batch, nrows, heads, d]: [usize; 4]) -> RefOutput {
    for b in 0..batch {
        for h in 0..heads {
            for i in 0..nrows {
                let li = (b * heads + h) * nrows + i;
                let (la, lp) = (a.lse[li], p.lse[li]);
                let mx = la.max(lp);
                if mx == f64::NEG_INFINITY {
                    continue;
                }
                let (ea, ep) = ((la - mx).exp(), (lp - mx).exp());
                let sum = ea + ep;
                a.lse[li] = mx + sum.ln();
                let oi = ((b * nrows + i) * heads + h) * d;
                for x in oi..oi + d {
                    a.o[x] = (ea * a.o[x] + ep * p.o[x]) / sum;
                }
            }
        }
    }
    a
}
