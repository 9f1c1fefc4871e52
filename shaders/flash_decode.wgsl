// Flash attention for decode launches (a few query rows against a long K/V cache),
// subgroup tier (needs SUBGROUP; f16 needs SHADER_F16): K and V streamed from storage
// into registers, no workgroup memory and no barrier in the key loop.
//
// One workgroup owns the BQ rows of one query tile (tokens x packed query heads: GQA
// packing, flash_common) of one grid head and batch element, over one key part. The
// keys are dealt to groups of G consecutive lanes (inside one subgroup), NG = WG / G
// groups per workgroup: a step takes NG KB keys, group g keys g, g + NG, ... so the
// groups of a subgroup read neighbouring key rows at once. Lane l of a group holds units
// l, l + G, ... (C units of UW elements each: 16 bytes, 8 f16 in a vec4<u32> unpacked to
// f32, or a vec4<f32>) of every row's q and O and of each key's K and V row, which it
// loads straight from storage, all KB keys' loads of a step issued before their use. A
// score is the sum of the group's partial dot products (subgroupShuffleXor butterfly,
// every lane ends with it); each group keeps its own online softmax (m, l and its units
// of O per row). After the keys the groups of a subgroup merge their states by shuffles,
// the subgroups through workgroup memory, and the workgroup writes O and LSE once.
//
// Same parameters, bindings, key range, causal limit and accumulate mode as the other
// flash kernels; dense launches only (SPARSE is 0).
// Template names: ENABLE, IN, OUT, HEAD_DIM, BQ, G, LOG2LANES (= log2 G), C, U4 (vec4
// per unit: 2 where UNPACK, else 1), UNPACK (f16: units as vec4<u32>), KB, WG, SGMIN
// (the adapter's least subgroup size), PREF, SPARSE, GRID_T.
// Loops over registers are unrolled by the template, so private arrays are only ever
// indexed by constants.
$ENABLE

//#include flash_common

alias In = $IN;
alias Out = $OUT;
const D: u32 = $HEAD_DIMu;
const D4: u32 = D / 4u;
const BQ: u32 = $BQu;
const G: u32 = $Gu;
const LANES: u32 = G;
const C: u32 = $Cu;
const U4: u32 = $U4u;
const KB: u32 = $KBu;
const WG: u32 = $WGu;
const NG: u32 = WG / G;
// Elements per unit.
const UW: u32 = 4u * U4;
// Subgroups per workgroup, at most.
const NSLOT: u32 = WG / $SGMINu;

//#if UNPACK
alias Unit = vec4<u32>;
//#else
alias Unit = vec4<In>;
//#endif

@group(0) @binding(1) var<storage, read> q: array<In>;
@group(0) @binding(2) var<storage, read> k: array<Unit>;
@group(0) @binding(3) var<storage, read> v: array<Unit>;
@group(0) @binding(4) var<storage, read_write> o: array<Out>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

// Each subgroup's merged state: (m, l) per row, and its O rows.
var<workgroup> sml: array<vec2<f32>, NSLOT * BQ>;
var<workgroup> so: array<vec4<f32>, NSLOT * BQ * D4>;
// The rows' LSE before this launch (accumulate mode), read before any is written.
var<workgroup> sprev: array<f32, BQ>;

//#include lanes_common

// The units of K and V of keys T + gi + j NG (j < KB) into ku and vu (a group's keys past
// kend read as key kend - 1, or 0 where no key is visible: PREF loads before the loop).
//#define LOAD_STEP
    //#unroll j $KB
    {
        let e = (kv0 + min({T} + gi + {j}u * NG, max(kend, 1u) - 1u)) * stride + hoff + gl * UW;
        //#unroll c $C
        ku[{j}][{c}] = k[(p.k_off + e) / UW + G * {c}u];
        vu[{j}][{c}] = v[(p.v_off + e) / UW + G * {c}u];
        //#end
    }
    //#end
//#enddef

// vec4 i of unit u, in f32.
fn part4(u: Unit, i: u32) -> vec4<f32> {
//#if UNPACK
    if i == 0u {
        return vec4<f32>(unpack2x16float(u.x), unpack2x16float(u.y));
    }
    return vec4<f32>(unpack2x16float(u.z), unpack2x16float(u.w));
//#else
    return vec4<f32>(u);
//#endif
}

//#include flash_o4

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_size) sg: u32) {
    //#use GRID_HEADS
    let row0 = qtile * BQ;
    let gi = lid / G;
    let gl = lid % G;

    if p.accumulate != 0u && lid < BQ {
        sprev[lid] = lse[p.lse_off + lse_row(b, h, min(row0 + lid, p.seq_q - 1u))];
    }

    // q (times scale log2 e), O, m and l of each row; keys below klim[r] are visible to
    // row r.
    var qr: array<array<array<vec4<f32>, $U4>, $C>, $BQ>;
    var acc: array<array<array<vec4<f32>, $U4>, $C>, $BQ>;
    var m: array<f32, $BQ>;
    var l: array<f32, $BQ>;
    var klim: array<u32, $BQ>;
    //#unroll r $BQ
    {
        let row = min(row0 + {r}u, p.seq_q - 1u);
        let qb = p.q_off + q_row(bq, h, row) * D;
        //#unroll c $C
        //#unroll i $U4
        {
            let f = qb + (gl + G * {c}u) * UW + 4u * {i}u;
            qr[{r}][{c}][{i}] = vec4<f32>(f32(q[f]), f32(q[f + 1u]), f32(q[f + 2u]), f32(q[f + 3u])) * p.scale_log2;
            acc[{r}][{c}][{i}] = vec4<f32>(0.0);
        }
        //#end
        //#end
        m[{r}] = NEG_BIG;
        l[{r}] = 0.0;
        klim[{r}] = key_limit(row);
    }
    //#end

    // Keys past the last row's causal limit are never needed by this workgroup.
    let kend = key_limit(min(row0 + BQ, p.seq_q) - 1u);
    let stride = p.kv_heads * D;
    let hoff = kvh * D;
    // Workgroup-uniform steps (the shuffles stay in uniform control flow); a group's keys
    // past kend weigh nothing.
    var ku: array<array<Unit, $C>, $KB>;
    var vu: array<array<Unit, $C>, $KB>;
//#if PREF
    // PREF: each step's loads are issued a step ahead, before the step before it computes.
    let t0 = p.k_begin;
    //#use LOAD_STEP T=t0
//#endif
    for (var t = p.k_begin; t < kend; t += NG * KB) {
//#if PREF
        let kc = ku;
        let vc = vu;
        let tn = t + NG * KB;
        //#use LOAD_STEP T=tn
//#else
        //#use LOAD_STEP T=t
        let kc = ku;
        let vc = vu;
//#endif
        var key: array<u32, $KB>;
        //#unroll j $KB
        key[{j}] = t + gi + {j}u * NG;
        //#end

        // Partial dot products, then their sums over the group.
        var s: array<array<f32, $BQ>, $KB>;
        //#unroll j $KB
        {
            var kf: array<array<vec4<f32>, $U4>, $C>;
            //#unroll c $C
            //#unroll i $U4
            kf[{c}][{i}] = part4(kc[{j}][{c}], {i}u);
            //#end
            //#end
            //#unroll r $BQ
            {
                var x = 0.0;
                //#unroll c $C
                //#unroll i $U4
                x += dot(qr[{r}][{c}][{i}], kf[{c}][{i}]);
                //#end
                //#end
                s[{j}][{r}] = x;
            }
            //#end
        }
        //#end
        //#unroll j $KB
        //#unroll r $BQ
        s[{j}][{r}] = lanes_sum(s[{j}][{r}]);
        //#end
        //#end

        // Online softmax per row; P of the step's keys.
        var pw: array<array<f32, $BQ>, $KB>;
        //#unroll r $BQ
        {
            var mx = m[{r}];
            //#unroll j $KB
            let vis{j} = key[{j}] < klim[{r}];
            let s{j} = select(NEG_BIG, s[{j}][{r}], vis{j});
            mx = max(mx, s{j});
            //#end
            let alpha = exp2(m[{r}] - mx);
            m[{r}] = mx;
            var ls = l[{r}] * alpha;
            //#unroll j $KB
            pw[{j}][{r}] = select(0.0, exp2(s{j} - mx), vis{j});
            ls += pw[{j}][{r}];
            //#end
            l[{r}] = ls;
            //#unroll c $C
            //#unroll i $U4
            acc[{r}][{c}][{i}] *= alpha;
            //#end
            //#end
        }
        //#end

        // O += P V.
        //#unroll j $KB
        //#unroll c $C
        //#unroll i $U4
        {
            let vx = part4(vc[{j}][{c}], {i}u);
            //#unroll r $BQ
            acc[{r}][{c}][{i}] += pw[{j}][{r}] * vx;
            //#end
        }
        //#end
        //#end
        //#end
    }

    // The groups of a subgroup merge their states (butterfly over the lane bits above
    // the group's; a workgroup smaller than its subgroup uses its own lanes only).
    let lanes = min(sg, WG);
    for (var off = G; off < lanes; off <<= 1u) {
        //#unroll r $BQ
        {
            let mo = subgroupShuffleXor(m[{r}], off);
            let lo = subgroupShuffleXor(l[{r}], off);
            let mt = max(m[{r}], mo);
            let wa = exp2(m[{r}] - mt);
            let wb = exp2(mo - mt);
            l[{r}] = l[{r}] * wa + lo * wb;
            m[{r}] = mt;
            //#unroll c $C
            //#unroll i $U4
            acc[{r}][{c}][{i}] = acc[{r}][{c}][{i}] * wa + subgroupShuffleXor(acc[{r}][{c}][{i}], off) * wb;
            //#end
            //#end
        }
        //#end
    }

    // The first group of each subgroup writes the subgroup's state.
    let slot = lid / lanes;
    if lid % lanes < G {
        //#unroll r $BQ
        {
            if gl == 0u {
                sml[slot * BQ + {r}u] = vec2<f32>(m[{r}], l[{r}]);
            }
            //#unroll c $C
            //#unroll i $U4
            so[(slot * BQ + {r}u) * D4 + (gl + G * {c}u) * U4 + {i}u] = acc[{r}][{c}][{i}];
            //#end
            //#end
        }
        //#end
    }
    // (storageBarrier: every read of LSE above comes before the writes below.)
    storageBarrier();
    workgroupBarrier();

    // The subgroups' states merged (with the launch's earlier state in accumulate mode),
    // one vec4 of O per invocation and pass.
    let nslot = WG / lanes;
    for (var x = lid; x < BQ * D4; x += WG) {
        let r = x / D4;
        let d4 = x % D4;
        let row = row0 + r;
        if row < p.seq_q {
            let li = p.lse_off + lse_row(b, h, row);
            let ob = p.o_off + q_row(b, h, row) * D + 4u * d4;
            let resume = p.accumulate != 0u && sprev[r] > -1.0e30;
            let mp = sprev[r] * LOG2E;
            var mt = select(NEG_BIG, mp, resume);
            for (var s = 0u; s < nslot; s++) {
                mt = max(mt, sml[s * BQ + r].x);
            }
            var ls = 0.0;
            var a4 = vec4<f32>(0.0);
            if resume {
                let w = exp2(mp - mt);
                ls = w;
                a4 = load_o4(ob) * w;
            }
            for (var s = 0u; s < nslot; s++) {
                let st = sml[s * BQ + r];
                let w = exp2(st.x - mt);
                ls += st.y * w;
                a4 += so[(s * BQ + r) * D4 + d4] * w;
            }
            if ls > 0.0 {
                store_o4(ob, a4 / ls);
                if d4 == 0u {
                    lse[li] = (mt + log2(ls)) * p.ln2;
                }
            } else {
                // Fully masked row: O = 0, LSE = -inf (never NaN).
                store_o4(ob, vec4<f32>(0.0));
                if d4 == 0u {
                    lse[li] = p.neg_inf;
                }
            }
        }
    }
}
