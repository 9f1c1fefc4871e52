// Flash attention, portable tier: WebGPU core features only (f16 storage needs SHADER_F16).
//
// One workgroup owns BQ query rows of one (batch, head); each invocation owns one
// query row and keeps its q vector and O accumulator in registers (as vec4s). K and V
// tiles of BK keys are staged in workgroup memory as f32 (2*BK*D*4 <= 16 KiB, the
// WebGPU minimum) and shared by all rows. Softmax is online, in the log2 domain
// (scores are pre-multiplied by scale*log2(e)).
//
// Keys [k_begin, k_end) of the chunk are visited. With `accumulate` set, the kernel
// continues from the (O, LSE) already in the output buffers instead of starting empty,
// so a long key range can be split over several launches (split-K).
//
// Template names (replaced by the host before compilation): ENABLE, IN, OUT,
// HEAD_DIM, BQ, BK.
$ENABLE


//#include flash_common
alias Qkv = In;
//#include flash_io

var<workgroup> ks: array<vec4<f32>, BK * D4>;
var<workgroup> vs: array<vec4<f32>, BK * D4>;

fn load4(buf_off: u32, e: u32, which: u32) -> vec4<f32> {
    if which == 0u {
        return vec4<f32>(f32(k[buf_off + e]), f32(k[buf_off + e + 1u]), f32(k[buf_off + e + 2u]), f32(k[buf_off + e + 3u]));
    }
    return vec4<f32>(f32(v[buf_off + e]), f32(v[buf_off + e + 1u]), f32(v[buf_off + e + 2u]), f32(v[buf_off + e + 3u]));
}

@compute @workgroup_size(BQ)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    //#use GRID_HEADS
    let row0 = qtile * BQ;
    let row = row0 + lid;
    let valid = row < p.seq_q;
    let safe_row = min(row, p.seq_q - 1u);

    let qbase = p.q_off + ((b * p.seq_q + safe_row) * p.heads + h) * D;
    let obase = p.o_off + ((b * p.seq_q + safe_row) * p.heads + h) * D;
    let li = p.lse_off + (b * p.heads + h) * p.seq_q + safe_row;

    var qr: array<vec4<f32>, D4>;
    var acc: array<vec4<f32>, D4>;
    var m = NEG_BIG;
    var l = 0.0;
    let prev = lse[li];
    let resume = p.accumulate != 0u && prev > -1.0e30;
    for (var d = 0u; d < D4; d++) {
        let e = qbase + 4u * d;
        qr[d] = vec4<f32>(f32(q[e]), f32(q[e + 1u]), f32(q[e + 2u]), f32(q[e + 3u])) * p.scale_log2;
        acc[d] = vec4<f32>(0.0);
        if resume {
            let f = obase + 4u * d;
            acc[d] = load_o4(f);
        }
    }
    if resume {
        m = prev * LOG2E;
        l = 1.0;
    }

    // Keys past the last row's causal limit are never needed by this workgroup.
    let kend = key_limit(min(row0 + BQ, p.seq_q) - 1u);
    let klim = key_limit(safe_row);
    let kv_row_stride = p.kv_heads * D;

    // Key ranges [t0, t1) with partial index pi (one per mask span, or the whole range).
    //#use SPANS
    for (var t = t0; t < t1; t += BK) {
        for (var i = lid; i < BK * D4; i += BQ) {
            let key = t + i / D4;
            var kx = vec4<f32>(0.0);
            var vx = vec4<f32>(0.0);
            if key < p.k_end {
                let e = (b * p.seq_k + key) * kv_row_stride + kvh * D + 4u * (i % D4);
                kx = load4(p.k_off, e, 0u);
                vx = load4(p.v_off, e, 1u);
            }
            ks[i] = kx;
            vs[i] = vx;
        }
        workgroupBarrier();

        if valid && lim > t {
            let tb = tile_bits(row, t, pi);
            // Eight keys at a time: eight independent dot products per pass over q (the
            // K reads are workgroup-memory broadcasts), then the online softmax over the
            // eight and their V rows (H200, f32: 2.4-3.7x the speed of one key at a time
            // into an array of the tile's scores, 1.29-1.37x that of four at a time).
            // Plain loops with constant trip counts: GPU compilers unroll them; fully
            // unrolled source took llvmpipe's GL driver minutes to compile at head_dim
            // >= 80. Keys past the row's limit weigh 0.
            for (var j = 0u; j < BK; j += 8u) {
                let kb = j * D4;
                var d0 = vec4<f32>(0.0);
                var d1 = vec4<f32>(0.0);
                var d2 = vec4<f32>(0.0);
                var d3 = vec4<f32>(0.0);
                var d4 = vec4<f32>(0.0);
                var d5 = vec4<f32>(0.0);
                var d6 = vec4<f32>(0.0);
                var d7 = vec4<f32>(0.0);
                for (var d = 0u; d < D4; d++) {
                    let qd = qr[d];
                    d0 += qd * ks[kb + d];
                    d1 += qd * ks[kb + D4 + d];
                    d2 += qd * ks[kb + 2u * D4 + d];
                    d3 += qd * ks[kb + 3u * D4 + d];
                    d4 += qd * ks[kb + 4u * D4 + d];
                    d5 += qd * ks[kb + 5u * D4 + d];
                    d6 += qd * ks[kb + 6u * D4 + d];
                    d7 += qd * ks[kb + 7u * D4 + d];
                }
                let one = vec4<f32>(1.0);
                let va = vec4<bool>(visible(t, j, lim, tb), visible(t, j + 1u, lim, tb), visible(t, j + 2u, lim, tb), visible(t, j + 3u, lim, tb));
                let vb = vec4<bool>(visible(t, j + 4u, lim, tb), visible(t, j + 5u, lim, tb), visible(t, j + 6u, lim, tb), visible(t, j + 7u, lim, tb));
                let sa = select(vec4<f32>(NEG_BIG), vec4<f32>(dot(d0, one), dot(d1, one), dot(d2, one), dot(d3, one)), va);
                let sb = select(vec4<f32>(NEG_BIG), vec4<f32>(dot(d4, one), dot(d5, one), dot(d6, one), dot(d7, one)), vb);
                let s8 = max(sa, sb);
                let mt = max(m, max(max(s8.x, s8.y), max(s8.z, s8.w)));
                let alpha = exp2(m - mt);
                let pa = select(vec4<f32>(0.0), exp2(sa - vec4<f32>(mt)), va);
                let pb = select(vec4<f32>(0.0), exp2(sb - vec4<f32>(mt)), vb);
                l = l * alpha + dot(pa, one) + dot(pb, one);
                for (var d = 0u; d < D4; d++) {
                    acc[d] = acc[d] * alpha + pa.x * vs[kb + d] + pa.y * vs[kb + D4 + d] + pa.z * vs[kb + 2u * D4 + d] + pa.w * vs[kb + 3u * D4 + d]
                        + pb.x * vs[kb + 4u * D4 + d] + pb.y * vs[kb + 5u * D4 + d] + pb.z * vs[kb + 6u * D4 + d] + pb.w * vs[kb + 7u * D4 + d];
                }
                m = mt;
            }
        }
        workgroupBarrier();
    }
    }

    if valid {
        if l > 0.0 {
            let inv = 1.0 / l;
            for (var d = 0u; d < D4; d++) {
                store_o4(obase + 4u * d, acc[d] * inv);
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
