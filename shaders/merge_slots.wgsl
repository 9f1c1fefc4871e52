// LSE merge of key-part slots (kernels::flash::encode_key_parts): folds the K partial
// results of one buffer pair, slot i being batch elements [i * batch, (i + 1) * batch)
// of `slots` (O, slot_o elements apart) and `slots_lse` (LSE, slot_lse apart), into a
// running one (O_a, LSE_a), in place, in f32. The fold of merge.wgsl, over a loop of
// slots instead of one binding per part:
//   m   = the largest LSE of the non-empty sides
//   lse = m + ln(sum_j exp(lse_j - m))      (j over the running side and the slots)
//   o   = sum_j exp(lse_j - lse) o_j
// A side with LSE under -1e30 (-inf: no mass) contributes nothing and its O is not read;
// with every side empty the result is O = 0, LSE = neg_inf. One invocation per element,
// RPW rows of D elements per workgroup; a row's LSE is written after the workgroup
// barrier, once every invocation of the row has read the old one.
//
// Template names: ENABLE, ACC, PART, HEAD_DIM, RPW.
$ENABLE

alias Acc = $ACC;
alias Part = $PART;
const D: u32 = $HEAD_DIMu;
const RPW: u32 = $RPWu;

struct Params {
    rows: u32,        // batch * seq
    seq: u32,
    heads: u32,
    neg_inf: f32,
    slots: u32,
    slot_o: u32,
    slot_lse: u32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> acc: array<Acc>;
@group(0) @binding(2) var<storage, read_write> acc_lse: array<f32>;
@group(0) @binding(3) var<storage, read> slots: array<Part>;
@group(0) @binding(4) var<storage, read> slots_lse: array<f32>;

// Whether a side with LSE `l` has mass.
fn has_mass(l: f32) -> bool {
    return l > -1.0e30;
}

@compute @workgroup_size(RPW * D)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // idx = (b * seq + s) * heads + h, the row of O; d its element.
    let idx = (wg.x + wg.y * nwg.x) * RPW + lid / D;
    let d = lid % D;
    let valid = idx < p.rows * p.heads;
    var li = 0u;
    var lse_new = p.neg_inf;
    if valid {
        let h = idx % p.heads;
        let r = idx / p.heads;
        li = (r / p.seq * p.heads + h) * p.seq + r % p.seq;
        let e = idx * D + d;
        let la = acc_lse[li];
        var any = has_mass(la);
        var mx = select(0.0, la, any);
        for (var i = 0u; i < p.slots; i++) {
            let l = slots_lse[i * p.slot_lse + li];
            if has_mass(l) {
                mx = select(l, max(mx, l), any);
                any = true;
            }
        }
        var o = 0.0;
        if any {
            let ea = select(0.0, exp(la - mx), has_mass(la));
            var sum = ea;
            for (var i = 0u; i < p.slots; i++) {
                let l = slots_lse[i * p.slot_lse + li];
                sum += select(0.0, exp(l - mx), has_mass(l));
            }
            if has_mass(la) {
                o = ea / sum * f32(acc[e]);
            }
            for (var i = 0u; i < p.slots; i++) {
                let l = slots_lse[i * p.slot_lse + li];
                if has_mass(l) {
                    o += exp(l - mx) / sum * f32(slots[i * p.slot_o + e]);
                }
            }
            lse_new = mx + log(sum);
        }
        acc[e] = Acc(o);
    }
    workgroupBarrier();
    if valid && d == 0u {
        acc_lse[li] = lse_new;
    }
}
