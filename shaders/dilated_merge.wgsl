// Folds a compact dilated-attention result (O_c, LSE_c) into a full-length running result
// (O_a, LSE_a), in place, in f32 (LongNet's mixture of (segment, rate) pairs):
//   position p of segment s = p / w is selected iff q = p % w satisfies q >= o,
//   (q - o) % r == 0 and t = (q - o) / r < m; its compact row is (segment s, row t);
//   lse = max + ln(exp(lse_a - max) + exp(lse_c - max))
//   o   = exp(lse_a - lse) * o_a + exp(lse_c - lse) * o_c
// Unselected positions are left as they are (their compact LSE would be -inf). The fold
// itself is `fold_row` (merge_common.wgsl).
// One invocation per (batch, position, head); addressing as in gather.wgsl, in elements.
//
// Template names: ENABLE, ACC, PART, HEAD_DIM, WG.
$ENABLE

alias Acc = $ACC;
alias Part = $PART;
const D: u32 = $HEAD_DIMu;

//#include side_common

struct Params {
    batch: u32,
    rows: u32,
    heads: u32,
    w: u32,
    r: u32,
    o: u32,
    m: u32,
    neg_inf: f32,
    acc: Side,
    acc_lse: Side,
    part: Side,
    part_lse: Side,
}

@group(0) @binding(0) var<uniform> p: Params;

@compute @workgroup_size($WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = gid.x + gid.y * nwg.x * $WGu;
    if n >= p.batch * p.rows * p.heads {
        return;
    }
    let j = n % p.heads;
    let bi = n / p.heads;
    let i = bi % p.rows;
    let b = bi / p.rows;
    let seg = i / p.w;
    let q = i % p.w;
    let t = (q - p.o) / p.r;
    if q < p.o || (q - p.o) % p.r != 0u || t >= p.m {
        return;
    }
    let la_i = at(p.acc_lse, b, 0u, i, j);
    fold_row(at(p.acc, b, 0u, i, j), at(p.part, b, seg, t, j), la_i, acc_lse[la_i], part_lse[at(p.part_lse, b, seg, t, j)], p.neg_inf);
}

//#include merge_common
