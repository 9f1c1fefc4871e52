// Folds a compact dilated-attention result (O_c, LSE_c) into a full-length running result
// (O_a, LSE_a), in place, in f32 (LongNet's mixture of (segment, rate) pairs):
//   position p of segment s = p / w is selected iff q = p % w satisfies q >= o,
//   (q - o) % r == 0 and t = (q - o) / r < m; its compact row is (segment s, row t);
//   lse = max + ln(exp(lse_a - max) + exp(lse_c - max))
//   o   = exp(lse_a - lse) * o_a + exp(lse_c - lse) * o_c
// Unselected positions are left as they are (their compact LSE would be -inf). The fold
// itself is `fold_elem` (merge_common.wgsl). One invocation per element of a selected row
// (batch, position, head), RPW rows of D elements per workgroup so loads and stores are
// coalesced; a row's LSE is stored after the workgroup barrier, once every invocation of
// the row has read the old one. Addressing as in gather.wgsl, in elements.
//
// Template names: ENABLE, ACC, PART, HEAD_DIM, RPW.
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

const RPW: u32 = $RPWu;

@compute @workgroup_size(RPW * D)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n = (wg.x + wg.y * nwg.x) * RPW + lid / D;
    let d = lid % D;
    var keep = n < p.batch * p.rows * p.heads;
    var la_i = 0u;
    var lse_new = 0.0;
    if keep {
        let j = n % p.heads;
        let bi = n / p.heads;
        let i = bi % p.rows;
        let b = bi / p.rows;
        let seg = i / p.w;
        let q = i % p.w;
        let t = (q - p.o) / p.r;
        keep = !(q < p.o || (q - p.o) % p.r != 0u || t >= p.m);
        if keep {
            la_i = at(p.acc_lse, b, 0u, i, j);
            lse_new = fold_elem(at(p.acc, b, 0u, i, j), at(p.part, b, seg, t, j), d, acc_lse[la_i], part_lse[at(p.part_lse, b, seg, t, j)], p.neg_inf);
        }
    }
    workgroupBarrier();
    if keep && d == 0u {
        acc_lse[la_i] = lse_new;
    }
}

//#include merge_common
