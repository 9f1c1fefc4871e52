// Flash attention, subgroup tier, register-tiled variant (needs SUBGROUP with a
// subgroup size >= TX; f16 storage needs SHADER_F16). Computes in f32. Opt-in
// (RINGATTN_SUBGROUP_VARIANT=tiled): on an H200 it matched the shuffle kernel at
// head_dim 64 (25.9 vs 25.7 ms at N=16384) and lost at 32 and 128 (BENCHMARKS.md).
//
// The two products are blocked like a SIMT matrix multiply. The workgroup owns BQ
// query rows and walks the keys in tiles of BK. Lanes form row groups of TX = BK/4
// consecutive lanes (inside one subgroup); row group g owns the TM query rows
// TM g .. TM g + TM - 1 of the workgroup (TQ = TM/4 quads of rows), and lane x:
//   - for S = Q K^T, owns the 4 keys x, x + TX, x + 2TX, x + 3TX of the tile: a TM x 4
//     block of scores, built from TQ vec4 of Q^T (4 rows at one d) and one vec4 of
//     K^T (its 4 keys at one d) per d: 4 TM multiply-adds per TQ + 1 workgroup reads;
//   - for O += P V, owns the vec4 columns x, x + TX, ... (CV of them) of the TM rows:
//     per key, TQ vec4 of P^T and CV vec4 of V: 4 TM CV multiply-adds.
// Q^T (scaled by scale * log2 e), K^T, V and P^T live in workgroup memory as f32
// vec4; the transposed arrays have one vec4 of padding per row so that neither their
// column writes nor their row reads hit the same banks. The d and key loops are
// unrolled by the template (DU, JU), so most workgroup addresses are a lane base plus
// a constant. Row max of the online softmax: a butterfly
// over the TX lanes of the group, once per tile (not per key); each lane keeps a
// partial row sum over its own keys, summed across the group only at the end.
// With PALIAS, P^T is written into the K^T area once S is computed (one more barrier,
// less workgroup memory).
//
// Same parameters, bindings, key range, accumulate mode and block masks as the other
// subgroup kernels. Template names: ENABLE, IN, OUT, HEAD_DIM, BQ, BK, TM, TQ (= TM/4),
// KREG (vec4s of the K^T area), CV (= HEAD_DIM / 4 / TX), PT (the P^T array: kt or
// pt), PALIAS, LOG2LANES (= log2 TX), SPARSE, DU, JU (unroll factors), PF (prefetch K/V into
// registers one tile ahead; NPF = HEAD_DIM * TX / WG vec4 each, = BK * D4 / WG).
$ENABLE

const TM: u32 = $TMu;
const TQ: u32 = $TQu;
const TX: u32 = BK / 4u;
const LANES: u32 = TX;
const QV: u32 = BQ / 4u;
// Row strides (vec4) of Q^T and P^T, and of K^T: one vec4 of padding.
const QS: u32 = QV + 1u;
const KS: u32 = TX + 1u;
const WG: u32 = BQ / TM * TX;
// Unroll factors of the d loop of S and the key loop of P V (D and BK: fully unrolled).
const DU: u32 = $DUu;
const JU: u32 = $JUu;
const NPF: u32 = $NPFu;
const CV: u32 = $CVu;

//#include flash_common
//#include flash_io

// qt[d * QS + i]: rows 4i..4i+3 at column d.
var<workgroup> qt: array<vec4<f32>, D * QS>;
// kt[d * KS + x]: keys x, x+TX, x+2TX, x+3TX of the tile at column d.
var<workgroup> kt: array<vec4<f32>, $KREGu>;
// vs[j * D4 + c]: key j, vec4 column c.
var<workgroup> vs: array<vec4<f32>, BK * D4>;
//#if PALIAS
//#else
var<workgroup> pt: array<vec4<f32>, BK * QS>;
//#endif
// P^T: $PT[j * QS + i]: rows 4i..4i+3 at key j.

//#include lanes_common

// Staging element i (0 <= i < D * TX = BK * D4) of the tile whose first key is `tl`, zero
// past k_end. K^T: keys tl + i/D + j TX (j = 0..3) at column i % D, one vec4 (so a lane's
// 4 keys of S are one read), stored at kt[(i % D) * KS + i / D]. V: key tl + i/D4,
// vec4 column i % D4, stored at vs[i].
fn kt_quad(b: u32, kvh: u32, tl: u32, i: u32) -> vec4<f32> {
    var x4 = vec4<f32>(0.0);
    //#unroll j 4
    {
        let key = tl + i / D + {j}u * TX;
        if key < p.k_end {
            x4[{j}] = f32(k[p.k_off + (b * p.seq_k + key) * p.kv_heads * D + kvh * D + i % D]);
        }
    }
    //#end
    return x4;
}

fn v_quad(b: u32, kvh: u32, tl: u32, i: u32) -> vec4<f32> {
    let key = tl + i / D4;
    if key >= p.k_end {
        return vec4<f32>(0.0);
    }
    let e = p.v_off + (b * p.seq_k + key) * p.kv_heads * D + kvh * D + 4u * (i % D4);
    return vec4<f32>(f32(v[e]), f32(v[e + 1u]), f32(v[e + 2u]), f32(v[e + 3u]));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.y;
    let b = wg.z;
    let kvh = h / (p.heads / p.kv_heads);
    let g = lid / TX;
    let x = lid % TX;
    let row0 = wg.x * BQ;
    let row = row0 + TM * g;
    let qq = g * TQ;

    // Q^T, scaled, zero past seq_q. Consecutive lanes take consecutive columns of one
    // row quad (coalesced reads; the padding spreads the writes over the banks).
    for (var i = lid; i < D * QV; i += WG) {
        let d = i % D;
        let qg = i / D;
        var x4 = vec4<f32>(0.0);
        //#unroll r 4
        {
            let qr = row0 + 4u * qg + {r}u;
            if qr < p.seq_q {
                x4[{r}] = f32(q[p.q_off + ((b * p.seq_q + qr) * p.heads + h) * D + d]) * p.scale_log2;
            }
        }
        //#end
        qt[d * QS + qg] = x4;
    }

    var acc: array<vec4<f32>, TM * CV>;
    var mx: array<f32, TM>;
    var l: array<f32, TM>;
    var rk: array<u32, TM>;
    //#unroll r $TM
    {
        let srow = min(row + {r}u, p.seq_q - 1u);
        let prev = lse[p.lse_off + (b * p.heads + h) * p.seq_q + srow];
        let resume = p.accumulate != 0u && prev > -1.0e30;
        mx[{r}] = NEG_BIG;
        l[{r}] = 0.0;
        if resume {
            mx[{r}] = prev * LOG2E;
            // The group's partial sums add up to 1 (the previous O is normalized).
            l[{r}] = select(0.0, 1.0, x == 0u);
        }
        rk[{r}] = key_limit(srow);
        let obase = p.o_off + ((b * p.seq_q + srow) * p.heads + h) * D;
        //#unroll c $CV
        {
            acc[{r}u * CV + {c}u] = vec4<f32>(0.0);
            if resume {
                let e = obase + 4u * (x + {c}u * TX);
                acc[{r}u * CV + {c}u] = load_o4(e);
            }
        }
        //#end
    }
    //#end

    let kend = key_limit(min(row0 + BQ, p.seq_q) - 1u);
    let klim = kend;
    //#if PF
    // The next tile's K^T and V elements of this lane (NPF vec4 each).
    var pk: array<vec4<f32>, NPF>;
    var pv: array<vec4<f32>, NPF>;
    //#endif

    // Loads the K^T and V vec4s this lane stages for the tile starting at key `tl`
    // into pk / pv.
    //#define LOADKV
    //#unroll f $NPF
    pk[{f}] = kt_quad(b, kvh, tl, lid + {f}u * WG);
    pv[{f}] = v_quad(b, kvh, tl, lid + {f}u * WG);
    //#end
    //#enddef

    //#use SPANS
    for (var t = t0; t < t1; t += BK) {
        //#if PF
        // K/V of this tile come from registers, loaded during the previous tile (or
        // now, for a span's first tile); the next tile's loads are issued before the
        // math, so global-memory latency overlaps it.
        if t == t0 {
            let tl = t;
            //#use LOADKV
        }
        //#unroll f $NPF
        kt[((lid + {f}u * WG) % D) * KS + (lid + {f}u * WG) / D] = pk[{f}];
        vs[lid + {f}u * WG] = pv[{f}];
        //#end
        workgroupBarrier();
        if t + BK < t1 {
            let tl = t + BK;
            //#use LOADKV
        }
        //#else
        // K^T (keys permuted so a lane's 4 keys are one vec4) and V, zero past k_end.
        for (var i = lid; i < D * TX; i += WG) {
            kt[(i % D) * KS + i / D] = kt_quad(b, kvh, t, i);
            vs[i] = v_quad(b, kvh, t, i);
        }
        workgroupBarrier();
        //#endif

        // S: rows TM g + r, keys x + TX j (component j of s[r]).
        var s: array<vec4<f32>, TM>;
        //#unroll r $TM
        s[{r}] = vec4<f32>(0.0);
        //#end
        for (var d0 = 0u; d0 < D; d0 += DU) {
            //#unroll u $DU
            {
            let d = d0 + {u}u;
            let k4 = kt[d * KS + x];
            //#unroll a $TQ
            {
                let q4 = qt[d * QS + qq + {a}u];
                s[{a}u * 4u] = fma(vec4<f32>(q4.x), k4, s[{a}u * 4u]);
                s[{a}u * 4u + 1u] = fma(vec4<f32>(q4.y), k4, s[{a}u * 4u + 1u]);
                s[{a}u * 4u + 2u] = fma(vec4<f32>(q4.z), k4, s[{a}u * 4u + 2u]);
                s[{a}u * 4u + 3u] = fma(vec4<f32>(q4.w), k4, s[{a}u * 4u + 3u]);
            }
            //#end
            }
            //#end
        }

        // Online softmax: mask, row max over the group, exponentials.
        var pr: array<vec4<f32>, TM>;
        //#unroll r $TM
        {
            let tb = tile_bits(row + {r}u, t, pi);
            let rl = min(rk[{r}], t1);
            var sr = s[{r}];
            //#unroll j 4
            sr[{j}] = select(NEG_BIG, sr[{j}], visible(t, x + {j}u * TX, rl, tb));
            //#end
            let mt = lanes_max(max(max(sr.x, sr.y), max(sr.z, sr.w)));
            let m_new = max(mx[{r}], mt);
            let alpha = exp2(mx[{r}] - m_new);
            mx[{r}] = m_new;
            var e4 = vec4<f32>(0.0);
            //#unroll j 4
            e4[{j}] = select(0.0, exp2(sr[{j}] - m_new), sr[{j}] != NEG_BIG);
            //#end
            l[{r}] = l[{r}] * alpha + (e4.x + e4.y + e4.z + e4.w);
            //#unroll c $CV
            acc[{r}u * CV + {c}u] *= alpha;
            //#end
            pr[{r}] = e4;
        }
        //#end
        //#if PALIAS
        workgroupBarrier();
        //#endif
        // P^T: key x + TX j gets each quad of rows' probabilities as one vec4.
        //#unroll j 4
        {
            let j = x + {j}u * TX;
            //#unroll a $TQ
            $PT[j * QS + qq + {a}u] = vec4<f32>(pr[{a}u * 4u][{j}], pr[{a}u * 4u + 1u][{j}], pr[{a}u * 4u + 2u][{j}], pr[{a}u * 4u + 3u][{j}]);
            //#end
        }
        //#end
        workgroupBarrier();

        // O += P V.
        for (var j0 = 0u; j0 < BK; j0 += JU) {
            //#unroll u $JU
            {
            let j = j0 + {u}u;
            //#unroll a $TQ
            {
                let p4 = $PT[j * QS + qq + {a}u];
                //#unroll c $CV
                {
                    let v4 = vs[j * D4 + x + {c}u * TX];
                    acc[({a}u * 4u) * CV + {c}u] = fma(vec4<f32>(p4.x), v4, acc[({a}u * 4u) * CV + {c}u]);
                    acc[({a}u * 4u + 1u) * CV + {c}u] = fma(vec4<f32>(p4.y), v4, acc[({a}u * 4u + 1u) * CV + {c}u]);
                    acc[({a}u * 4u + 2u) * CV + {c}u] = fma(vec4<f32>(p4.z), v4, acc[({a}u * 4u + 2u) * CV + {c}u]);
                    acc[({a}u * 4u + 3u) * CV + {c}u] = fma(vec4<f32>(p4.w), v4, acc[({a}u * 4u + 3u) * CV + {c}u]);
                }
                //#end
            }
            //#end
            }
            //#end
        }
        workgroupBarrier();
    }
    }

    //#unroll r $TM
    {
        let lt = lanes_sum(l[{r}]);
        let rr = row + {r}u;
        if rr < p.seq_q {
            let obase = p.o_off + ((b * p.seq_q + rr) * p.heads + h) * D;
            let inv = select(0.0, 1.0 / lt, lt > 0.0);
            //#unroll c $CV
            {
                let y = acc[{r}u * CV + {c}u] * inv;
                let f = obase + 4u * (x + {c}u * TX);
                store_o4(f, y);
            }
            //#end
            if x == 0u {
                lse[p.lse_off + (b * p.heads + h) * p.seq_q + rr] = select(p.neg_inf, (mx[{r}] + log2(lt)) * p.ln2, lt > 0.0);
            }
        }
    }
    //#end
}
