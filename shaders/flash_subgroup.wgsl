// Flash attention, subgroup tier (needs SUBGROUP; f16 storage needs SHADER_F16).
//
// R consecutive invocations (inside one subgroup) share one query row and split its
// head dimension: lane r owns the vec4 columns r, r+R, r+2R, ... of q and of the O
// accumulator. A score is a per-lane partial dot product summed across the R lanes
// with subgroupShuffleXor (a butterfly: every lane ends with the full sum), so the
// row max and sum of the online softmax need no workgroup memory. K and V tiles of BK
// keys are staged in workgroup memory (f32) and shared by the BQ rows of the workgroup.
//
// Same parameters, bindings, key range and accumulate mode as the portable tier.
// Template names: ENABLE, IN, OUT, HEAD_DIM, R, C (= HEAD_DIM / 4 / R), BQ, BK.
// Hot loops over registers are unrolled by the template (`//#unroll`), so private
// arrays are only ever indexed by constants.
$ENABLE

alias In = $IN;
alias Out = $OUT;

const D: u32 = $HEAD_DIMu;
const D4: u32 = D / 4u;
const R: u32 = $Ru;
const C: u32 = $Cu;           // vec4 columns per lane (D4 / R)
const BQ: u32 = $BQu;
const BK: u32 = $BKu;
const WG: u32 = BQ * R;

//#include flash_common
@group(0) @binding(1) var<storage, read> q: array<In>;
@group(0) @binding(2) var<storage, read> k: array<In>;
@group(0) @binding(3) var<storage, read> v: array<In>;
@group(0) @binding(4) var<storage, read_write> o: array<Out>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

var<workgroup> ks: array<vec4<f32>, BK * D4>;
var<workgroup> vs: array<vec4<f32>, BK * D4>;

// Sum over the R lanes of a row group (R is a power of two <= subgroup size).
fn row_sum(x: f32) -> f32 {
    var s = x;
    var off = R / 2u;
    //#unroll i $LOG2R
    s += subgroupShuffleXor(s, off);
    off >>= 1u;
    //#end
    return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.y;
    let b = wg.z;
    let kvh = h / (p.heads / p.kv_heads);
    let lane = lid % R;
    let row0 = wg.x * BQ;
    let row = row0 + lid / R;
    let valid = row < p.seq_q;
    let safe_row = min(row, p.seq_q - 1u);

    let qbase = p.q_off + ((b * p.seq_q + safe_row) * p.heads + h) * D;
    let obase = p.o_off + ((b * p.seq_q + safe_row) * p.heads + h) * D;
    let li = p.lse_off + (b * p.heads + h) * p.seq_q + safe_row;

    var qr: array<vec4<f32>, C>;
    var acc: array<vec4<f32>, C>;
    var m = NEG_BIG;
    var l = 0.0;
    let prev = lse[li];
    let resume = p.accumulate != 0u && prev > -1.0e30;
    for (var c = 0u; c < C; c++) {
        let e = 4u * (lane + c * R);
        qr[c] = vec4<f32>(f32(q[qbase + e]), f32(q[qbase + e + 1u]), f32(q[qbase + e + 2u]), f32(q[qbase + e + 3u])) * p.scale_log2;
        acc[c] = vec4<f32>(0.0);
        if resume {
            acc[c] = vec4<f32>(f32(o[obase + e]), f32(o[obase + e + 1u]), f32(o[obase + e + 2u]), f32(o[obase + e + 3u]));
        }
    }
    if resume {
        m = prev * LOG2E;
        l = 1.0;
    }

    let kend = key_limit(min(row0 + BQ, p.seq_q) - 1u);
    let klim = key_limit(safe_row);
    let kv_row_stride = p.kv_heads * D;

    // Key ranges [t0, t1) with partial index pi (one per mask span, or the whole range).
    //#use SPANS
    for (var t = t0; t < t1; t += BK) {
        for (var i = lid; i < BK * D4; i += WG) {
            let key = t + i / D4;
            var kx = vec4<f32>(0.0);
            var vx = vec4<f32>(0.0);
            if key < p.k_end {
                let e = (b * p.seq_k + key) * kv_row_stride + kvh * D + 4u * (i % D4);
                let ke = p.k_off + e;
                let ve = p.v_off + e;
                kx = vec4<f32>(f32(k[ke]), f32(k[ke + 1u]), f32(k[ke + 2u]), f32(k[ke + 3u]));
                vx = vec4<f32>(f32(v[ve]), f32(v[ve + 1u]), f32(v[ve + 2u]), f32(v[ve + 3u]));
            }
            ks[i] = kx;
            vs[i] = vx;
        }
        workgroupBarrier();

        // Every lane of the workgroup takes part in the shuffles (a row past seq_q
        // computes on a clamped row and throws the result away), so no lane of a
        // subgroup is inactive during a subgroup operation.
        if lim > t || !valid {
            let tb = tile_bits(row, t, pi);
            var s: array<f32, BK>;
            var part: vec4<f32>;
            //#unroll j $BK
            part = vec4<f32>(0.0);
            //#unroll c $C
            part += qr[{c}] * ks[{j}u * D4 + lane + {c}u * R];
            //#end
            s[{j}] = select(NEG_BIG, row_sum(part.x + part.y + part.z + part.w), visible(t, {j}u, lim, tb));
            //#end
            var mt = m;
            //#unroll j $BK
            mt = max(mt, s[{j}]);
            //#end
            let alpha = exp2(m - mt);
            l *= alpha;
            //#unroll c $C
            acc[{c}] *= alpha;
            //#end
            var pj: f32;
            //#unroll j $BK
            pj = select(0.0, exp2(s[{j}] - mt), s[{j}] != NEG_BIG);
            l += pj;
            //#unroll c $C
            acc[{c}] += pj * vs[{j}u * D4 + lane + {c}u * R];
            //#end
            //#end
            m = mt;
        }
        workgroupBarrier();
    }
    }

    if valid {
        if l > 0.0 {
            let inv = 1.0 / l;
            for (var c = 0u; c < C; c++) {
                let x = acc[c] * inv;
                let f = obase + 4u * (lane + c * R);
                o[f] = Out(x.x);
                o[f + 1u] = Out(x.y);
                o[f + 2u] = Out(x.z);
                o[f + 3u] = Out(x.w);
            }
            if lane == 0u {
                lse[li] = (m + log2(l)) * p.ln2;
            }
        } else {
            for (var c = 0u; c < C; c++) {
                let f = obase + 4u * (lane + c * R);
                o[f] = Out(0.0);
                o[f + 1u] = Out(0.0);
                o[f + 2u] = Out(0.0);
                o[f + 3u] = Out(0.0);
            }
            if lane == 0u {
                lse[li] = p.neg_inf;
            }
        }
    }
}
