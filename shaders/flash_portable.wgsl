// Flash attention, portable tier: WebGPU core features only (f16 storage needs SHADER_F16).
//
// One workgroup owns BQ query rows of one (batch, head); each invocation owns one
// query row and keeps its q vector and O accumulator in registers. K and V tiles of BK
// keys are staged in workgroup memory (f32, 2*BK*D*4 <= 16 KiB) and shared by all rows.
// Softmax is online, in the log2 domain (scores are pre-multiplied by scale*log2(e)).
//
// Template names (replaced by the host before compilation): ENABLE, IN, OUT,
// HEAD_DIM, BQ, BK.
$ENABLE

alias In = $IN;
alias Out = $OUT;

const D: u32 = $HEAD_DIMu;
const BQ: u32 = $BQu;
const BK: u32 = $BKu;
// Finite sentinel for "no score yet": exp2(NEG_BIG - finite) == 0, and no inf arithmetic.
const NEG_BIG: f32 = -1.0e30;

struct Params {
    seq_q: u32, seq_k: u32, heads: u32, kv_heads: u32,
    q_off: u32, k_off: u32, v_off: u32, o_off: u32,
    lse_off: u32, causal: u32, diag: i32, scale_log2: f32,
    q_pos0: u32, k_pos0: u32, neg_inf: f32, ln2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<In>;
@group(0) @binding(2) var<storage, read> k: array<In>;
@group(0) @binding(3) var<storage, read> v: array<In>;
@group(0) @binding(4) var<storage, read_write> o: array<Out>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

var<workgroup> ks: array<f32, BK * D>;
var<workgroup> vs: array<f32, BK * D>;

// Number of keys (a prefix of the chunk) that query row `row` may see.
fn key_limit(row: u32) -> u32 {
    if p.causal == 0u {
        return p.seq_k;
    }
    let last = i32(p.q_pos0 + row) + p.diag - i32(p.k_pos0) + 1;
    return u32(clamp(last, 0, i32(p.seq_k)));
}

@compute @workgroup_size(BQ)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.y;
    let b = wg.z;
    let kvh = h / (p.heads / p.kv_heads);
    let row0 = wg.x * BQ;
    let row = row0 + lid;
    let valid = row < p.seq_q;
    let safe_row = min(row, p.seq_q - 1u);

    var qr: array<f32, D>;
    var acc: array<f32, D>;
    let qbase = p.q_off + ((b * p.seq_q + safe_row) * p.heads + h) * D;
    for (var d = 0u; d < D; d++) {
        qr[d] = f32(q[qbase + d]) * p.scale_log2;
        acc[d] = 0.0;
    }
    var m = NEG_BIG;
    var l = 0.0;

    // Keys past the last row's causal limit are never needed by this workgroup.
    let kend = key_limit(min(row0 + BQ, p.seq_q) - 1u);
    let klim = key_limit(safe_row);
    let kv_row_stride = p.kv_heads * D;

    for (var t = 0u; t < kend; t += BK) {
        for (var i = lid; i < BK * D; i += BQ) {
            let key = t + i / D;
            var kx = 0.0;
            var vx = 0.0;
            if key < p.seq_k {
                let e = (b * p.seq_k + key) * kv_row_stride + kvh * D + i % D;
                kx = f32(k[p.k_off + e]);
                vx = f32(v[p.v_off + e]);
            }
            ks[i] = kx;
            vs[i] = vx;
        }
        workgroupBarrier();

        if valid && klim > t {
            // Constant trip counts (BK, D) let compilers unroll and keep s[] in registers;
            // keys past the row's limit get NEG_BIG and so weight exactly 0.
            var s: array<f32, BK>;
            var mt = m;
            for (var j = 0u; j < BK; j++) {
                var dot = 0.0;
                for (var d = 0u; d < D; d++) {
                    dot += qr[d] * ks[j * D + d];
                }
                s[j] = select(NEG_BIG, dot, t + j < klim);
                mt = max(mt, s[j]);
            }
            let alpha = exp2(m - mt);
            l *= alpha;
            for (var d = 0u; d < D; d++) {
                acc[d] *= alpha;
            }
            for (var j = 0u; j < BK; j++) {
                let pj = exp2(s[j] - mt);
                l += pj;
                for (var d = 0u; d < D; d++) {
                    acc[d] += pj * vs[j * D + d];
                }
            }
            m = mt;
        }
        workgroupBarrier();
    }

    if valid {
        let obase = p.o_off + ((b * p.seq_q + row) * p.heads + h) * D;
        let li = p.lse_off + (b * p.heads + h) * p.seq_q + row;
        if l > 0.0 {
            let inv = 1.0 / l;
            for (var d = 0u; d < D; d++) {
                o[obase + d] = Out(acc[d] * inv);
            }
            lse[li] = (m + log2(l)) * p.ln2;
        } else {
            // Fully masked row: O = 0, LSE = -inf (never NaN).
            for (var d = 0u; d < D; d++) {
                o[obase + d] = Out(0.0);
            }
            lse[li] = p.neg_inf;
        }
    }
}
