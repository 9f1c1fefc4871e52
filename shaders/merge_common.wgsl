// Shared by the dilated merge kernel (pasted where a kernel says `//#include merge_common`):
// its bindings 1-4 (the running rows `acc` and LSEs `acc_lse`, read_write, and the
// partial ones `part`, `part_lse`) and the fold. Needs, from the including kernel: `Acc`,
// `Part`, `D` and its `Params` at binding 0.
@group(0) @binding(1) var<storage, read_write> acc: array<Acc>;
@group(0) @binding(2) var<storage, read_write> acc_lse: array<f32>;
@group(0) @binding(3) var<storage, read> part: array<Part>;
@group(0) @binding(4) var<storage, read> part_lse: array<f32>;
//
// Folds the partial row part[pb .. pb + D] with LSE lp into the running row
// acc[ab .. ab + D] whose LSE la is stored at acc_lse[li], in f32:
//   lse = max + ln(exp(la - max) + exp(lp - max))
//   o   = exp(la - lse) * o_a + exp(lp - lse) * o_p
// A side with LSE = -inf (anything under -1e30: no mass) contributes nothing; if both
// are empty the result is O = 0, LSE = neg_inf.
fn fold_row(ab: u32, pb: u32, li: u32, la: f32, lp: f32, neg_inf: f32) {
    let a_empty = !(la > -1.0e30);
    let p_empty = !(lp > -1.0e30);
    if p_empty {
        if a_empty {
            for (var d = 0u; d < D; d++) {
                acc[ab + d] = Acc(0.0);
            }
            acc_lse[li] = neg_inf;
        }
        return;
    }
    if a_empty {
        for (var d = 0u; d < D; d++) {
            acc[ab + d] = Acc(f32(part[pb + d]));
        }
        acc_lse[li] = lp;
        return;
    }
    let mx = max(la, lp);
    let ea = exp(la - mx);
    let ep = exp(lp - mx);
    let sum = ea + ep;
    let wa = ea / sum;
    let wp = ep / sum;
    for (var d = 0u; d < D; d++) {
        acc[ab + d] = Acc(wa * f32(acc[ab + d]) + wp * f32(part[pb + d]));
    }
    acc_lse[li] = mx + log(sum);
}
