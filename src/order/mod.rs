//! Token orders: serializing a 2D or 3D grid of tokens along a Hilbert or Z-order curve,
//! the permutation that takes a sequence into that order and back, applied on the GPU,
//! and attention that runs in the permuted order and answers in the caller's.
//!
//! Tokens of a grid are numbered in the caller's (raster) order: a 2D grid of
//! `height x width` has token `y * width + x` at row y, column x; a 3D grid of
//! `depth x height x width` has token `(z * height + y) * width + x`.
//!
//! **Grids of any size.** The curves are defined on the enclosing cube of side `2^k`
//! (k = bits of the longest axis); the grid's cells are visited in curve order and
//! the cells outside the grid are skipped. Every grid gets a bijection; on a square (2D)
//! or cubic (3D) power-of-two grid consecutive tokens of the Hilbert order are face
//! neighbours. On other grids a step may jump where the curve leaves the grid and
//! comes back (the order keeps the curve's locality, not its continuity).
//!
//! ```no_run
//! use ringattn::order::{Order, OrderedAttention};
//! use ringattn::{AttentionOptions, Dtype, GpuContext, GpuTensor};
//! # fn main() -> ringattn::Result<()> {
//! let ctx = GpuContext::new()?;
//! // 24 x 40 image patches, 4 heads of 64: tokens in raster order.
//! let (h, w) = (24, 40);
//! let dims = [1, h * w, 4, 64];
//! let data = vec![0.25f32; dims.iter().product()];
//! let q = GpuTensor::from_f32(&ctx, &data, dims, Dtype::F32)?;
//! let k = GpuTensor::from_f32(&ctx, &data, dims, Dtype::F32)?;
//! let v = GpuTensor::from_f32(&ctx, &data, dims, Dtype::F32)?;
//! let perm = "hilbert2d:24x40".parse::<Order>()?.permutation(h * w)?;
//! let attn = OrderedAttention::new(&ctx, AttentionOptions::default(), &perm)?;
//! // Q/K/V go into Hilbert order on the GPU, attention runs there, O and LSE come
//! // back in raster order.
//! let out = attn.forward(&q, &k, &v)?;
//! # let _ = out; Ok(()) }
//! ```

pub mod curve;
mod ordered;
mod permutation;

pub use ordered::OrderedAttention;
pub use permutation::{Direction, GpuPermutation, Permutation};

use crate::error::{Error, Result};

/// How tokens are ordered for attention.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// The caller's order (the identity).
    #[default]
    Natural,
    /// Hilbert curve over a `height x width` grid (raster numbering).
    Hilbert2d { height: usize, width: usize },
    /// Hilbert curve over a `depth x height x width` grid.
    Hilbert3d { depth: usize, height: usize, width: usize },
    /// Z-order (Morton) over a `height x width` grid, for comparison.
    ZOrder2d { height: usize, width: usize },
    /// Z-order over a `depth x height x width` grid.
    ZOrder3d { depth: usize, height: usize, width: usize },
}

impl Order {
    /// Number of tokens of the grid, `None` for natural order (any length).
    pub fn tokens(&self) -> Option<usize> {
        match *self {
            Order::Natural => None,
            Order::Hilbert2d { height, width } | Order::ZOrder2d { height, width } => Some(height * width),
            Order::Hilbert3d { depth, height, width } | Order::ZOrder3d { depth, height, width } => Some(depth * height * width),
        }
    }

    /// The permutation taking a sequence of `seq` tokens (raster order) into this order.
    /// Fails if the grid does not hold exactly `seq` tokens.
    pub fn permutation(&self, seq: usize) -> Result<Permutation> {
        if seq == 0 {
            return Err(Error::InvalidArgument("a token order needs at least one token".into()));
        }
        if let Some(n) = self.tokens() {
            if n != seq {
                return Err(Error::InvalidArgument(format!("order {self} has {n} tokens but the sequence has {seq}")));
            }
        }
        if seq > u32::MAX as usize {
            return Err(Error::InvalidArgument(format!("a token order of {seq} tokens (at most 2^32 - 1)")));
        }
        let order = match *self {
            Order::Natural => (0..seq as u32).collect(),
            Order::Hilbert2d { height, width } => grid2d(height, width, curve::hilbert_index::<2>),
            Order::ZOrder2d { height, width } => grid2d(height, width, curve::zorder_index::<2>),
            Order::Hilbert3d { depth, height, width } => grid3d(depth, height, width, curve::hilbert_index::<3>),
            Order::ZOrder3d { depth, height, width } => grid3d(depth, height, width, curve::zorder_index::<3>),
        };
        Permutation::new(order)
    }
}

/// Raster positions of a `h x w` grid sorted by their curve index.
fn grid2d(h: usize, w: usize, index: fn([u32; 2], u32) -> u64) -> Vec<u32> {
    let bits = curve::bits_for(h.max(w));
    let mut keyed: Vec<(u64, u32)> = (0..h * w).map(|p| (index([(p / w) as u32, (p % w) as u32], bits), p as u32)).collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, p)| p).collect()
}

/// Raster positions of a `d x h x w` grid sorted by their curve index.
fn grid3d(d: usize, h: usize, w: usize, index: fn([u32; 3], u32) -> u64) -> Vec<u32> {
    let bits = curve::bits_for(d.max(h).max(w));
    let mut keyed: Vec<(u64, u32)> =
        (0..d * h * w).map(|p| (index([(p / (h * w)) as u32, (p / w % h) as u32, (p % w) as u32], bits), p as u32)).collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, p)| p).collect()
}

impl std::fmt::Display for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Order::Natural => write!(f, "natural"),
            Order::Hilbert2d { height, width } => write!(f, "hilbert2d:{height}x{width}"),
            Order::Hilbert3d { depth, height, width } => write!(f, "hilbert3d:{depth}x{height}x{width}"),
            Order::ZOrder2d { height, width } => write!(f, "zorder2d:{height}x{width}"),
            Order::ZOrder3d { depth, height, width } => write!(f, "zorder3d:{depth}x{height}x{width}"),
        }
    }
}

impl std::str::FromStr for Order {
    type Err = Error;
    /// `natural`, `hilbert2d:HxW`, `hilbert3d:DxHxW`, `zorder2d:HxW`, `zorder3d:DxHxW`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: String| {
            Error::InvalidArgument(format!("order `{s}`: {why} (use natural, hilbert2d:HxW, hilbert3d:DxHxW, zorder2d:HxW or zorder3d:DxHxW)"))
        };
        let t = s.trim().to_ascii_lowercase();
        if t == "natural" {
            return Ok(Order::Natural);
        }
        let (kind, dims) = t.split_once(':').ok_or_else(|| bad("missing grid size".into()))?;
        let dims: Vec<usize> = dims
            .split('x')
            .map(|d| match d.trim().parse::<usize>() {
                Ok(v) if v >= 1 => Ok(v),
                _ => Err(bad(format!("`{d}` is not a grid size >= 1"))),
            })
            .collect::<Result<_>>()?;
        let want = if kind.ends_with("2d") { 2 } else { 3 };
        if dims.len() != want {
            return Err(bad(format!("{kind} needs {want} sizes, got {}", dims.len())));
        }
        let cells = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| n <= u32::MAX as usize);
        if cells.is_none() {
            return Err(bad("the grid has more than 2^32 - 1 cells".into()));
        }
        match (kind, &dims[..]) {
            ("hilbert2d", &[height, width]) => Ok(Order::Hilbert2d { height, width }),
            ("zorder2d", &[height, width]) => Ok(Order::ZOrder2d { height, width }),
            ("hilbert3d", &[depth, height, width]) => Ok(Order::Hilbert3d { depth, height, width }),
            ("zorder3d", &[depth, height, width]) => Ok(Order::ZOrder3d { depth, height, width }),
            _ => Err(bad(format!("unknown order `{kind}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        for s in ["natural", "hilbert2d:3x5", "hilbert3d:2x3x4", "zorder2d:8x8", "zorder3d:1x1x7"] {
            assert_eq!(s.parse::<Order>().unwrap().to_string(), s);
        }
        assert_eq!("Hilbert2D:4X6".parse::<Order>().unwrap(), Order::Hilbert2d { height: 4, width: 6 });
        for bad in ["", "hilbert2d", "hilbert2d:4", "hilbert2d:4x0", "hilbert3d:4x4", "spiral:4x4", "hilbert2d:axb", "zorder2d:65536x65537"] {
            let e = bad.parse::<Order>().unwrap_err().to_string();
            assert!(e.contains("order"), "{bad}: {e}");
        }
    }

    #[test]
    fn size_mismatch_is_an_error() {
        let o = Order::Hilbert2d { height: 4, width: 4 };
        assert!(o.permutation(15).unwrap_err().to_string().contains("16 tokens"));
        assert!(Order::Natural.permutation(0).is_err());
        assert_eq!(Order::Natural.permutation(5).unwrap().order(), &[0, 1, 2, 3, 4]);
    }
}
