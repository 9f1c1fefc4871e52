// Shared by the dilated merge kernel (pasted where a kernel says `//#include merge_common`):
// its bindings 1-4 (the running rows `acc` and LSEs `acc_lse`, read_write, and the
// partial ones `part`, `part_lse`) and the fold. Needs, from the including kernel: `Acc`,
// `Part`, `D` and its `Params` at binding 0.
@group(0) @binding(1) var<storage, read_write> acc: array<Acc>;
@group(0) @binding(2) var<storage, read_write> acc_lse: array<f32>;
@group(0) @binding(3) var<storage, read> part: array<Part>;
@group(0) @binding(4) var<storage, read> part_lse: array<f32>;
//
// Folds element d of the partial row part[pb .. pb + D] with LSE lp into the running row
// acc[ab .. ab + D] with LSE la, in f32, and returns the row's new LSE (the caller stores
// it once every element of the row has been folded, as the row's invocations all read la):
//   lse = max + ln(exp(la - max) + exp(lp - max))
//   o   = exp(la - lse) * o_a + exp(lp - lse) * o_p
// A side with LSE = -inf (anything under -1e30: no mass) contributes nothing and its O is
// not read; if both are empty the result is O = 0, LSE = neg_inf.
fn fold_elem(ab: u32, pb: u32, d: u32, la: f32, lp: f32, neg_inf: f32) -> f32 {
    let a_empty = !(la > -1.0e30);
    let p_empty = !(lp > -1.0e30);
    if p_empty {
        if a_empty {
            acc[ab + d] = Acc(0.0);
            return neg_inf;
        }
        return la;
    }
    if a_empty {
        acc[ab + d] = Acc(f32(part[pb + d]));
        return lp;
    }
    let mx = max(la, lp);
    let ea = exp(la - mx);
    let ep = exp(lp - mx);
    let sum = ea + ep;
    let wa = ea / sum;
    let wp = ep / sum;
    acc[ab + d] = Acc(wa * f32(acc[ab + d]) + wp * f32(part[pb + d]));
    return mx + log(sum);
}
