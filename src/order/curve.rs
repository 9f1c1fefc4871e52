//! Space-filling curve indices: Hilbert (any dimension, Skilling's transpose method)
//! and Z-order (Morton), on cubes of side 2^bits.

/// Bits per axis needed for a grid axis of `n` cells (the enclosing power of two).
pub fn bits_for(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// Hilbert index of the point `x` on the N-dimensional cube of side `2^bits`
/// (every coordinate < 2^bits; `N * bits <= 64`).
///
/// Consecutive indices are cells that share a face: the curve moves along one axis by
/// one cell per step. The curve starts at the origin; axis 0 is the most significant
/// axis of the index bits.
///
/// Method (J. Skilling, "Programming the Hilbert curve", AIP Conf. Proc. 707, 2004):
/// turn the coordinates into the "transposed" index by undoing, level by level from the
/// top bit, the reflections and axis exchanges the curve applies inside each sub-cube,
/// Gray-decode across axes, then read the index bits level by level, axis 0 first.
pub fn hilbert_index<const N: usize>(mut x: [u32; N], bits: u32) -> u64 {
    debug_assert!(N as u32 * bits <= 64);
    if bits == 0 || N == 0 {
        return 0;
    }
    // Undo the sub-cube transforms, from the coarsest level down.
    let mut q = 1u32 << (bits - 1);
    while q > 1 {
        let low = q - 1;
        for i in 0..N {
            if x[i] & q != 0 {
                // Reflect the lower bits of axis 0.
                x[0] ^= low;
            } else {
                // Exchange the lower bits of axis 0 and axis i.
                let t = (x[0] ^ x[i]) & low;
                x[0] ^= t;
                x[i] ^= t;
            }
        }
        q >>= 1;
    }
    // Gray encode across axes.
    for i in 1..N {
        x[i] ^= x[i - 1];
    }
    let mut t = 0u32;
    let mut q = 1u32 << (bits - 1);
    while q > 1 {
        if x[N - 1] & q != 0 {
            t ^= q - 1;
        }
        q >>= 1;
    }
    for v in x.iter_mut() {
        *v ^= t;
    }
    interleave(x, bits)
}

/// Z-order (Morton) index: the coordinates' bits interleaved, axis 0 most significant
/// at each level.
pub fn zorder_index<const N: usize>(x: [u32; N], bits: u32) -> u64 {
    debug_assert!(N as u32 * bits <= 64);
    interleave(x, bits)
}

fn interleave<const N: usize>(x: [u32; N], bits: u32) -> u64 {
    let mut h = 0u64;
    for b in (0..bits).rev() {
        for v in x.iter() {
            h = (h << 1) | ((v >> b) & 1) as u64;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits() {
        assert_eq!([bits_for(0), bits_for(1), bits_for(2), bits_for(3), bits_for(4), bits_for(5), bits_for(1024)], [0, 0, 1, 2, 2, 3, 10]);
    }

    #[test]
    fn hilbert_2x2_is_a_u() {
        // (axis0, axis1): the order visits (0,0) (0,1) (1,1) (1,0).
        let idx: Vec<u64> = [[0, 0], [0, 1], [1, 1], [1, 0]].iter().map(|&p| hilbert_index(p, 1)).collect();
        assert_eq!(idx, vec![0, 1, 2, 3]);
    }

    #[test]
    fn zorder_small() {
        let idx: Vec<u64> = [[0, 0], [0, 1], [1, 0], [1, 1], [0, 2], [2, 0]].iter().map(|&p| zorder_index(p, 2)).collect();
        assert_eq!(idx, vec![0, 1, 2, 3, 4, 8]);
    }
}
