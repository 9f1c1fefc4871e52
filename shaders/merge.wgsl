// LSE merge: folds K partial attention results (O_i, LSE_i) into a running one (O_a,
// LSE_a), in place, in f32:
//   m   = the largest LSE of the non-empty sides
//   lse = m + ln(sum_j exp(lse_j - m))      (j over the running side and the parts)
//   o   = sum_j exp(lse_j - lse) o_j
// A side with LSE under -1e30 (-inf: no mass) contributes nothing: its O may hold
// anything, NaN included (a part's is loaded and dropped by a select, the running
// side's is not read); with every side empty the result is O = 0,
// LSE = neg_inf. One side alone comes through bit for bit (its weight is exactly 1).
// One invocation per element, RPW rows of D elements per workgroup, so each row's loads
// and stores are coalesced; a row's LSE is written after the workgroup barrier, once
// every invocation of the row has read the old one.
//
// The parts: each in its own buffers (`part{i}`, `part_lse{i}`), or with SLOTS all in
// one pair (`slots`, `slots_lse`; part i at p.slot_o / p.slot_lse elements times i: the
// slots kernels::flash::encode_key_parts writes).
//
// Template names: ENABLE, ACC, PART, HEAD_DIM, RPW, K, SLOTS and PART_BINDINGS (the
// parts' bindings, made by the host: part{i} at 3 + 2 i, part_lse{i} at 4 + 2 i, or
// slots at 3 and slots_lse at 4).
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
    slot_o: u32,      // SLOTS: elements from one part to the next in `slots`,
    slot_lse: u32,    // and in `slots_lse`
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> acc: array<Acc>;
@group(0) @binding(2) var<storage, read_write> acc_lse: array<f32>;
$PART_BINDINGS

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
        // Every part's LSE, then its weight, then its O: K independent loads each (the
        // template unrolls the parts), and the O loads unconditional (an empty part's
        // weight is 0 and select drops its value, NaN included), so the driver can issue
        // them all before the first returns. (A loop over the slots that branched
        // around each O load took about 1 us per slot on an H200: BENCHMARKS.md.)
        var lp: array<f32, $K>;
        //#unroll i $K
//#if SLOTS
        lp[{i}] = slots_lse[{i}u * p.slot_lse + li];
//#else
        lp[{i}] = part_lse{i}[li];
//#endif
        if has_mass(lp[{i}]) {
            mx = select(lp[{i}], max(mx, lp[{i}]), any);
            any = true;
        }
        //#end
        var o = 0.0;
        if any {
            // Each side's exp(lse - mx) once (0 for an empty side), then the weights.
            let ea = select(0.0, exp(la - mx), has_mass(la));
            var ep: array<f32, $K>;
            var sum = ea;
            //#unroll i $K
            ep[{i}] = select(0.0, exp(lp[{i}] - mx), has_mass(lp[{i}]));
            sum += ep[{i}];
            //#end
            let inv = 1.0 / sum;
            if has_mass(la) {
                o = ea * inv * f32(acc[e]);
            }
            //#unroll i $K
//#if SLOTS
            let x{i} = f32(slots[{i}u * p.slot_o + e]);
//#else
            let x{i} = f32(part{i}[e]);
//#endif
            o += select(0.0, ep[{i}] * inv * x{i}, has_mass(lp[{i}]));
            //#end
            lse_new = mx + log(sum);
        }
        acc[e] = Acc(o);
    }
    workgroupBarrier();
    if valid && d == 0u {
        acc_lse[li] = lse_new;
    }
}
