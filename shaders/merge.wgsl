// LSE merge: folds a partial attention result (O_p, LSE_p) into a running one
// (O_a, LSE_a), in place, in f32:
//   lse = max + ln(exp(lse_a - max) + exp(lse_p - max))
//   o   = exp(lse_a - lse) * o_a + exp(lse_p - lse) * o_p
// A side with LSE = -inf (fully masked) contributes nothing; if both are -inf the
// result is O = 0, LSE = -inf (`fold_row`, merge_common.wgsl). One invocation per
// (batch, row, head).
//
// Template names: ENABLE, ACC, PART, HEAD_DIM, WG.
$ENABLE

alias Acc = $ACC;
alias Part = $PART;
const D: u32 = $HEAD_DIMu;

struct Params {
    rows: u32,      // batch * seq
    seq: u32,
    heads: u32,
    acc_off: u32,
    part_off: u32,
    acc_lse_off: u32,
    part_lse_off: u32,
    neg_inf: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

@compute @workgroup_size($WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * $WGu;
    if idx >= p.rows * p.heads {
        return;
    }
    let h = idx % p.heads;
    let r = idx / p.heads;          // b * seq + s
    let b = r / p.seq;
    let s = r % p.seq;
    let li = (b * p.heads + h) * p.seq + s;
    let la = acc_lse[p.acc_lse_off + li];
    let lp = part_lse[p.part_lse_off + li];
    let base = idx * D;
    fold_row(p.acc_off + base, p.part_off + base, p.acc_lse_off + li, la, lp, p.neg_inf);
}

//#include merge_common
