//! Why token order matters for block-sparse attention over an image.
//!
//! Run with `cargo run --release --example hilbert_image` (a 64x64 grid; `HILBERT_SIZE=128`
//! for 128x128 on a real GPU).
//!
//! The tokens are the patches of a `size x size` image, numbered in raster order. The
//! attention we want is *2D-neighbourhood attention*: each patch attends to the patches
//! within `radius` rows and columns of it. A block-sparse kernel can only skip whole
//! blocks of consecutive tokens, so we serialize the grid in some order, cut the sequence
//! into blocks of `block` tokens and let every query block visit the `window` blocks on
//! either side of it (a sliding window of blocks along the order), computing the
//! neighbourhood attention inside those blocks. Whatever neighbours fall outside the
//! visited blocks are lost, and that depends on the order:
//!
//! * raster: a block is a strip of a row; neighbours a few rows up or down are far away
//!   in the sequence;
//! * Z-order: a block is a square, but the curve jumps, so square-adjacent blocks can be
//!   far apart in the sequence;
//! * Hilbert: a block is a compact region and consecutive blocks touch.
//!
//! For each order the example prints the mask density, the share of every token's
//! spatial neighbours that lie inside its visited blocks, and the relative error of the
//! result against exact 2D-neighbourhood attention (f64 reference on sampled rows).
//! [`OrderedAttention`] does the permuting on the GPU and returns outputs in raster
//! order, so all three results are compared with the same reference.
//!
//! Environment: `HILBERT_SIZE` (64), `HILBERT_RADIUS` (3), `HILBERT_BLOCK` (64),
//! `HILBERT_WINDOW` (blocks on each side, a list: `1,2`).

use std::sync::Arc;
use std::time::Instant;

use ringattn::mask::{BlockKind, Pattern};
use ringattn::order::{Order, OrderedAttention};
use ringattn::{reference, AttentionOptions, Dtype, GpuContext, GpuTensor, Shape};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let size: usize = env_or("HILBERT_SIZE", 64);
    let radius: usize = env_or("HILBERT_RADIUS", 3);
    let block: usize = env_or("HILBERT_BLOCK", 64);
    let windows: Vec<usize> = env_or("HILBERT_WINDOW", String::from("1,2")).split(',').filter_map(|w| w.trim().parse().ok()).collect();
    let n = size * size;
    let ctx = GpuContext::new()?;
    println!("adapter : {}", ctx.describe());
    println!("image   : {size}x{size} patches, neighbourhood radius {radius} ({} neighbours), blocks of {block} tokens", (2 * radius + 1).pow(2) - 1);

    // Random patch features (the geometry is what this example is about).
    let shape = Shape::new(1, n, 2, 32);
    let seed = reference::fresh_seed();
    let (q, k, v) = (
        reference::random_vec(shape.q_len(), seed),
        reference::random_vec(shape.kv_len(), seed ^ 1),
        reference::random_vec(shape.kv_len(), seed ^ 2),
    );
    let upload = |x: &[f32]| GpuTensor::from_f32(&ctx, x, shape.q_dims(), Dtype::F32);
    let (qt, kt, vt) = (upload(&q)?, upload(&k)?, upload(&v)?);

    // Raster positions p = y * size + x; neighbours within `radius` in both axes.
    let near = move |a: usize, b: usize| (a / size).abs_diff(b / size) <= radius && (a % size).abs_diff(b % size) <= radius;

    // The target: exact neighbourhood attention, f64, on sampled rows.
    let ns = 512.min(n);
    let rows: Vec<usize> = (0..ns).map(|i| if ns == 1 { 0 } else { i * (n - 1) / (ns - 1) }).collect();
    let target = reference::attention_rows(&q, &k, &v, &shape, None, &rows, |_, _, i, j| near(i, j));

    println!("\n| order | window | mask density | neighbours inside visited blocks | rel error vs 2D neighbourhood | GPU run |");
    println!("|---|---|---|---|---|---|");
    let orders = [Order::Natural, Order::ZOrder2d { height: size, width: size }, Order::Hilbert2d { height: size, width: size }];
    for (window, order) in windows.iter().flat_map(|&w| orders.iter().map(move |&o| (w, o))) {
        let perm = order.permutation(n)?;
        // Position along the order -> raster position, and back.
        let at = Arc::new(perm.order().to_vec());
        let pos = perm.inverse();

        // A window of blocks along the order; inside them, the neighbourhood relation of
        // the raster positions the tokens came from.
        let at2 = at.clone();
        let pattern = Pattern::custom(
            move |qb, kb| if qb.abs_diff(kb) <= window { BlockKind::Partial } else { BlockKind::Empty },
            move |i, j| near(at2[i] as usize, at2[j] as usize),
        );
        let attn = OrderedAttention::with_pattern(&ctx, AttentionOptions::default(), &perm, pattern, block)?;
        let density = attn.mask().map(|m| m.density()).unwrap_or(1.0);

        // Share of each token's neighbours that sit in a visited block.
        let (mut inside, mut total) = (0usize, 0usize);
        for p in 0..n {
            let (y, x) = (p / size, p % size);
            for ny in y.saturating_sub(radius)..(y + radius + 1).min(size) {
                for nx in x.saturating_sub(radius)..(x + radius + 1).min(size) {
                    let o = ny * size + nx;
                    if o != p {
                        total += 1;
                        inside += usize::from((pos[p] as usize / block).abs_diff(pos[o] as usize / block) <= window);
                    }
                }
            }
        }

        let t = Instant::now();
        let out = attn.forward(&qt, &kt, &vt)?;
        ctx.wait()?;
        let wall = t.elapsed();
        let o = reference::select_rows(&out.o.to_f32_vec(&ctx)?, shape.q_dims(), &rows);
        let err = reference::rel_error(&o, &target.o);
        println!(
            "| {order} | +-{window} blocks | {density:.4} | {:.1} % | {err:.3e} | {:.1} ms |",
            100.0 * inside as f64 / total as f64,
            wall.as_secs_f64() * 1e3
        );
    }
    println!("\n(GPU run: one call including the permutations; the first includes pipeline builds.)");
    Ok(())
}
