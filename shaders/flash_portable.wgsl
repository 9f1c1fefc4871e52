// Flash attention, portable tier: WebGPU core features only (f16 storage needs SHADER_F16).
//
// One workgroup owns BQ query rows of one (batch, head). R consecutive invocations own
// one query row and split its head dimension: invocation `part` of a row keeps vec4
// columns part, part + R, ... of its q vector and O accumulator in registers (R = 2 at
// head_dims 64-128, where a whole row's q and O take 128-256 registers; the R partial
// dot products of a key are summed through workgroup memory, one barrier per eight
// keys). K and V tiles of BK keys are staged in workgroup memory as f32 and shared by
// all rows (with the partial-score area at most 24 KiB where the adapter has them, else
// 16 KiB, the WebGPU minimum: flash::portable_config_for). Softmax is online, in the log2
// domain (scores are pre-multiplied by scale*log2(e)).
//
// Keys [k_begin, k_end) of the chunk are visited. With `accumulate` set, the kernel
// continues from the (O, LSE) already in the output buffers instead of starting empty,
// so a long key range can be split over several launches (split-K).
//
// Template names (replaced by the host before compilation): ENABLE, IN, OUT,
// HEAD_DIM, BQ, BK, R (1, 2 or 4) and RSPLIT (R > 1).
$ENABLE


//#include flash_common
alias Qkv = In;
//#include flash_io

const R: u32 = $Ru;
const WG: u32 = BQ * R;
// Vec4 columns of q and O per invocation.
const DR: u32 = D4 / R;

var<workgroup> ks: array<vec4<f32>, BK * D4>;
var<workgroup> vs: array<vec4<f32>, BK * D4>;
//#if RSPLIT
// Partial scores of eight keys, two vec4 per invocation, in two areas that a tile's
// eight-key groups use in turn: an invocation writes group g + 2's into the area its
// row partners read group g's from, and they did so before group g + 1's barrier, which
// the writer passed too (the tile's closing barrier separates groups of two tiles).
var<workgroup> xs: array<vec4<f32>, 4u * WG>;
//#endif

fn load4(buf_off: u32, e: u32, which: u32) -> vec4<f32> {
    if which == 0u {
        return vec4<f32>(f32(k[buf_off + e]), f32(k[buf_off + e + 1u]), f32(k[buf_off + e + 2u]), f32(k[buf_off + e + 3u]));
    }
    return vec4<f32>(f32(v[buf_off + e]), f32(v[buf_off + e + 1u]), f32(v[buf_off + e + 2u]), f32(v[buf_off + e + 3u]));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    //#use GRID_HEADS
    let row0 = qtile * BQ;
    let row = row0 + lid / R;
    // This invocation's vec4 columns of the row: part, part + R, ...
    let part = lid % R;
    let valid = row < p.seq_q;
    let safe_row = min(row, p.seq_q - 1u);

    let qbase = p.q_off + q_row(bq, h, safe_row) * D;
    let obase = p.o_off + q_row(b, h, safe_row) * D;
    let li = p.lse_off + lse_row(b, h, safe_row);

    var qr: array<vec4<f32>, DR>;
    var acc: array<vec4<f32>, DR>;
    var m = NEG_BIG;
    var l = 0.0;
    let prev = lse[li];
    let resume = p.accumulate != 0u && prev > -1.0e30;
    for (var d = 0u; d < DR; d++) {
        let e = qbase + 4u * (part + R * d);
        qr[d] = vec4<f32>(f32(q[e]), f32(q[e + 1u]), f32(q[e + 2u]), f32(q[e + 3u])) * p.scale_log2;
        acc[d] = vec4<f32>(0.0);
        if resume {
            acc[d] = load_o4(obase + 4u * (part + R * d));
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
        for (var i = lid; i < BK * D4; i += WG) {
            let key = t + i / D4;
            var kx = vec4<f32>(0.0);
            var vx = vec4<f32>(0.0);
            if key < p.k_end {
                let e = (kv0 + key) * kv_row_stride + kvh * D + 4u * (i % D4);
                kx = load4(p.k_off, e, 0u);
                vx = load4(p.v_off, e, 1u);
            }
            ks[i] = kx;
            vs[i] = vx;
        }
        workgroupBarrier();

        // With R > 1 every invocation runs the key groups (their barriers need the whole
        // workgroup); a row past seq_q or past its keys sees none of them visible.
        //#if RSPLIT
        {
        //#else
        if valid && lim > t {
        //#endif
            let tb = tile_bits(safe_row, t, pi);
            // Eight keys at a time: eight independent dot products per pass over q (the
            // K reads are workgroup-memory broadcasts), then the online softmax over the
            // eight and their V rows (H200, f32: 2.4-3.7x the speed of one key at a time
            // into an array of the tile's scores, 1.29-1.37x that of four at a time).
            // Plain loops with constant trip counts: GPU compilers unroll them; fully
            // unrolled source took llvmpipe's GL driver minutes to compile at head_dim
            // >= 80. Keys past the row's limit weigh 0.
            for (var j = 0u; j < BK; j += 8u) {
                let kb = j * D4 + part;
                var d0 = vec4<f32>(0.0);
                var d1 = vec4<f32>(0.0);
                var d2 = vec4<f32>(0.0);
                var d3 = vec4<f32>(0.0);
                var d4 = vec4<f32>(0.0);
                var d5 = vec4<f32>(0.0);
                var d6 = vec4<f32>(0.0);
                var d7 = vec4<f32>(0.0);
                for (var d = 0u; d < DR; d++) {
                    let qd = qr[d];
                    let c = kb + R * d;
                    d0 += qd * ks[c];
                    d1 += qd * ks[c + D4];
                    d2 += qd * ks[c + 2u * D4];
                    d3 += qd * ks[c + 3u * D4];
                    d4 += qd * ks[c + 4u * D4];
                    d5 += qd * ks[c + 5u * D4];
                    d6 += qd * ks[c + 6u * D4];
                    d7 += qd * ks[c + 7u * D4];
                }
                let one = vec4<f32>(1.0);
                var xa = vec4<f32>(dot(d0, one), dot(d1, one), dot(d2, one), dot(d3, one));
                var xb = vec4<f32>(dot(d4, one), dot(d5, one), dot(d6, one), dot(d7, one));
                //#if RSPLIT
                // The row's R partial sums, through workgroup memory.
                let xo = (j / 8u) % 2u * (2u * WG);
                xs[xo + 2u * lid] = xa;
                xs[xo + 2u * lid + 1u] = xb;
                workgroupBarrier();
                xa = vec4<f32>(0.0);
                xb = vec4<f32>(0.0);
                let first = xo + 2u * (lid - part);
                for (var r = 0u; r < R; r++) {
                    xa += xs[first + 2u * r];
                    xb += xs[first + 2u * r + 1u];
                }
                //#endif
                let va = vec4<bool>(visible(t, j, lim, tb), visible(t, j + 1u, lim, tb), visible(t, j + 2u, lim, tb), visible(t, j + 3u, lim, tb));
                let vb = vec4<bool>(visible(t, j + 4u, lim, tb), visible(t, j + 5u, lim, tb), visible(t, j + 6u, lim, tb), visible(t, j + 7u, lim, tb));
                let sa = select(vec4<f32>(NEG_BIG), xa, va);
                let sb = select(vec4<f32>(NEG_BIG), xb, vb);
                let s8 = max(sa, sb);
                let mt = max(m, max(max(s8.x, s8.y), max(s8.z, s8.w)));
                let alpha = exp2(m - mt);
                let pa = select(vec4<f32>(0.0), exp2(sa - vec4<f32>(mt)), va);
                let pb = select(vec4<f32>(0.0), exp2(sb - vec4<f32>(mt)), vb);
                l = l * alpha + dot(pa, one) + dot(pb, one);
                for (var d = 0u; d < DR; d++) {
                    let c = kb + R * d;
                    acc[d] = acc[d] * alpha + pa.x * vs[c] + pa.y * vs[c + D4] + pa.z * vs[c + 2u * D4] + pa.w * vs[c + 3u * D4]
                        + pb.x * vs[c + 4u * D4] + pb.y * vs[c + 5u * D4] + pb.z * vs[c + 6u * D4] + pb.w * vs[c + 7u * D4];
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
            for (var d = 0u; d < DR; d++) {
                store_o4(obase + 4u * (part + R * d), acc[d] * inv);
            }
            if part == 0u {
                lse[li] = (m + log2(l)) * p.ln2;
            }
        } else {
            // Fully masked row: O = 0, LSE = -inf (never NaN).
            for (var d = 0u; d < DR; d++) {
                store_o4(obase + 4u * (part + R * d), vec4<f32>(0.0));
            }
            if part == 0u {
                lse[li] = p.neg_inf;
            }
        }
    }
}
