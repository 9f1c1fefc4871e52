// Shared by every flash kernel (pasted where a kernel says `//#include flash_common`).
// The parameter block mirrors `kernels::flash::FlashParams` field by field.

const LOG2E: f32 = 1.4426950408889634;
// Finite sentinel for "no score yet": exp2(NEG_BIG - finite) == 0, no inf arithmetic.
const NEG_BIG: f32 = -1.0e30;

struct Params {
    seq_q: u32, seq_k: u32, heads: u32, kv_heads: u32,
    q_off: u32, k_off: u32, v_off: u32, o_off: u32,
    lse_off: u32, causal: u32, diag: i32, scale_log2: f32,
    q_pos0: u32, k_pos0: u32, neg_inf: f32, ln2: f32,
    k_begin: u32, k_end: u32, accumulate: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// End (exclusive) of the keys query row `row` of this chunk may see, within [0, k_end]:
// key j is visible iff k_pos0 + j <= q_pos0 + row + diag (causal), else all of them.
fn key_limit(row: u32) -> u32 {
    if p.causal == 0u {
        return p.k_end;
    }
    let last = i32(p.q_pos0 + row) + p.diag - i32(p.k_pos0) + 1;
    return u32(clamp(last, 0, i32(p.k_end)));
}
