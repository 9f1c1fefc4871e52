// Flash attention, subgroup tier, register-tiled variant (needs SUBGROUP with a
// subgroup size >= TX; f16 storage needs SHADER_F16). Computes in f32. Runs where the
// per-adapter search finds it faster than the shuffle kernel (tuning::search_subgroup)
// or on request (RINGATTN_SUBGROUP_VARIANT=tiled): on an H100 it ran head_dim 64 f32 at
// N=16384 9 % faster than the shuffle kernel (20.5 against 22.5 ms) and the search picked
// it there, until the shuffle kernel's reduce-scatter (RS) took that to 20.3; it loses
// at head_dim 128 and ties at 32 (BENCHMARKS.md).
//
// The two products are blocked like a SIMT matrix multiply. The workgroup owns BQ
// query rows and walks the keys in tiles of BK. Lanes form row groups of TX = BK / NK
// consecutive lanes (inside one subgroup); row group g owns the TM query rows
// TM g .. TM g + TM - 1 of the workgroup (TQ = TM/4 quads of rows), and lane x:
//   - for S = Q K^T, owns the NK = 4 KQ keys x, x + TX, ..., x + (NK-1) TX of the tile:
//     a TM x NK block of scores, built per vec4 column of d from NK vec4 of K (its keys'
//     rows) and 4 TQ vec4 of Q^T (4 rows at one d): 4 TM NK multiply-adds per NK + 4 TQ
//     workgroup reads;
//   - for O += P V, owns the vec4 columns x, x + TX, ... (CV of them) of the TM rows:
//     per key, TQ vec4 of probabilities (one per quad of rows: with PSH shuffled from
//     the group's lane that holds that key, else read from P^T) and CV vec4 of V:
//     4 TM CV multiply-adds.
// Q^T (scaled by scale * log2 e) and, without PSH, P^T live in workgroup memory as f32
// vec4 quads of rows; K and V tiles as f32 rows of vec4, K's row `key` with its vec4 columns permuted
// (column c at c ^ (key % TX & SWM)) so that the TX lanes of a group, which read the
// same column of TX different keys, hit distinct banks. q, k and v are read as vec4
// units (coalesced rows; head_dim and every window offset are multiples of 4). The d4
// and key loops are unrolled by the template (DU4, JU), so most workgroup addresses are
// a lane base plus a constant. Row max of the online softmax: a butterfly over the TX
// lanes of the group, once per tile (not per key); each lane keeps a partial row sum
// over its own keys, summed across the group only at the end. With PALIAS, P^T is
// written into the K area once S is computed (one more barrier, less workgroup
// memory). K/V tiles are staged through registers (per lane, rounds of SCH vec4 of
// each: all loads of a round before its stores); with PF the next tile's loads are
// issued before the current tile's math.
//
// Same parameters, bindings, key range, accumulate mode and block masks as the other
// subgroup kernels. Template names: ENABLE, IN, OUT, HEAD_DIM, BQ, BK, TM, TQ (= TM/4),
// KQ, NK (= 4 KQ), KREG (vec4s of the K area), CV (= HEAD_DIM / 4 / TX), PT (the P^T array: ks or
// pt), PALIAS, LOG2LANES (= log2 TX), SWM (column permutation mask), SPARSE, DU4, JU
// (unroll factors), PF, NCH and SCH (staging rounds and vec4 units per round:
// NCH SCH = BK * HEAD_DIM / 4 / WG; NCH = 1 with PF), UNM (full tiles in a first pass
// without mask code), KONE (S reads one key's vec4 at a time), PSH (P·V takes each
// key's probabilities from the lane that computed them by a subgroup shuffle instead of
// through P^T in workgroup memory: two barriers per tile instead of three or four).
$ENABLE

const TM: u32 = $TMu;
const TQ: u32 = $TQu;
const KQ: u32 = $KQu;
const NK: u32 = $NKu;
const TX: u32 = BK / NK;
const LANES: u32 = TX;
// Row quads of a Q^T / P^T row.
const QV: u32 = BQ / 4u;
const SWM: u32 = $SWMu;
const WG: u32 = BQ / TM * TX;
// Unroll factors of the d4 loop of S and the key loop of P V.
const DU4: u32 = $DU4u;
const JU: u32 = $JUu;
const SCH: u32 = $SCHu;
const CV: u32 = $CVu;

alias Qkv = vec4<In>;
//#include flash_common
//#include flash_io

// qt[d * QV + i]: rows 4i..4i+3 at column d.
var<workgroup> qt: array<vec4<f32>, D * QV>;
// ks[key * D4 + (c ^ (key % TX & SWM))]: key `key` of the tile, vec4 column c.
var<workgroup> ks: array<vec4<f32>, $KREGu>;
// vs[j * D4 + c]: key j, vec4 column c.
var<workgroup> vs: array<vec4<f32>, BK * D4>;
//#if PSH
//#else
//#if PALIAS
//#else
var<workgroup> pt: array<vec4<f32>, BK * QV>;
//#endif
//#endif
// P^T: $PT[j * QV + i]: rows 4i..4i+3 at key j.

//#include lanes_common

// Vec4 column c of key `key` of K (or V) in its tile's area.
fn kslot(key: u32, c: u32) -> u32 {
    return key * D4 + (c ^ ((key % TX) & SWM));
}

// Vec4 unit i (0 <= i < BK * D4: key i / D4, column i % D4) of the K or V tile whose
// first key is `tl` (kv0: the K/V row of the workgroup's key 0, GRID_HEADS): its index in
// k or v, or none (-1) past k_end.
fn kv_unit(off: u32, kv0: u32, kvh: u32, tl: u32, i: u32) -> i32 {
    let key = tl + i / D4;
    if key >= p.k_end {
        return -1;
    }
    return i32(off / 4u + ((kv0 + key) * p.kv_heads + kvh) * D4 + i % D4);
}

fn k_unit(kv0: u32, kvh: u32, tl: u32, i: u32) -> vec4<f32> {
    let e = kv_unit(p.k_off, kv0, kvh, tl, i);
    if e < 0 {
        return vec4<f32>(0.0);
    }
    return vec4<f32>(k[e]);
}

fn v_unit(kv0: u32, kvh: u32, tl: u32, i: u32) -> vec4<f32> {
    let e = kv_unit(p.v_off, kv0, kvh, tl, i);
    if e < 0 {
        return vec4<f32>(0.0);
    }
    return vec4<f32>(v[e]);
}

@compute @workgroup_size(WG)
//#if PSH
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sgl: u32) {
//#else
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
//#endif
    //#use GRID_HEADS
    let g = lid / TX;
    let x = lid % TX;
    let row0 = qtile * BQ;
    let row = row0 + TM * g;
    let qq = g * TQ;

    // Q^T, scaled, zero past seq_q: consecutive lanes read consecutive rows at one
    // vec4 column and store consecutive words.
    for (var i = lid; i < BQ * D4; i += WG) {
        let r = i % BQ;
        let c = i / BQ;
        var x4 = vec4<f32>(0.0);
        if row0 + r < p.seq_q {
            x4 = vec4<f32>(q[p.q_off / 4u + q_row(bq, h, row0 + r) * D4 + c]) * p.scale_log2;
        }
        //#unroll e 4
        qt[(4u * c + {e}u) * QV + r / 4u][r % 4u] = x4[{e}];
        //#end
    }

    var acc: array<vec4<f32>, TM * CV>;
    var mx: array<f32, TM>;
    var l: array<f32, TM>;
    var rk: array<u32, TM>;
    //#unroll r $TM
    {
        let srow = min(row + {r}u, p.seq_q - 1u);
        let prev = lse[p.lse_off + lse_row(b, h, srow)];
        let resume = p.accumulate != 0u && prev > -1.0e30;
        mx[{r}] = NEG_BIG;
        l[{r}] = 0.0;
        if resume {
            mx[{r}] = prev * LOG2E;
            // The group's partial sums add up to 1 (the previous O is normalized).
            l[{r}] = select(0.0, 1.0, x == 0u);
        }
        rk[{r}] = key_limit(srow);
        let obase = p.o_off + q_row(b, h, srow) * D;
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
    // Every row of the workgroup sees the keys below its first row's limit.
    let free_end = key_limit(row0);
    // K and V vec4 units this lane stages: NCH SCH of each per tile, in NCH rounds of SCH
    // (loads, then stores; PF: one round, loaded a tile ahead).
    var pk: array<vec4<f32>, SCH>;
    var pv: array<vec4<f32>, SCH>;

    // Loads round `ch` of the K and V units this lane stages for the tile starting at
    // key `tl` into pk / pv, and stores them into the tile's areas.
    //#define LOADKV
    //#unroll f $SCH
    pk[{f}] = k_unit(kv0, kvh, tl, lid + (ch * SCH + {f}u) * WG);
    pv[{f}] = v_unit(kv0, kvh, tl, lid + (ch * SCH + {f}u) * WG);
    //#end
    //#enddef
    //#define STOREKV
    //#unroll f $SCH
    {
        let i = lid + (ch * SCH + {f}u) * WG;
        ks[kslot(i / D4, i % D4)] = pk[{f}];
        vs[i] = pv[{f}];
    }
    //#end
    //#enddef

    //#use SPANS
    //#if UNM
    // Two passes over the range (UNM): first the full tiles that no row of the
    // workgroup sees only in part (below its first row's causal limit, no element mask),
    // with no mask code, then the rest with it. `mask_on` is a constant in each copy.
    let fe = min(t1, free_end);
    let tfree = select(t0, t0 + (fe - t0) / BK * BK, pi == FULL && fe > t0);
    //#unroll ph 2
    {
    let mask_on = {ph}u == 1u;
    for (var t = select(t0, tfree, mask_on); t < select(tfree, t1, mask_on); t += BK) {
    //#else
    {
    let mask_on = true;
    for (var t = t0; t < t1; t += BK) {
    //#endif
        //#if PF
        // K/V of this tile come from registers, loaded during the previous tile (or
        // now, for a span's first tile); the next tile's loads are issued before the
        // math, so global-memory latency overlaps it.
        let ch = 0u;
        if t == t0 {
            let tl = t;
            //#use LOADKV
        }
        //#use STOREKV
        workgroupBarrier();
        if t + BK < t1 {
            let tl = t + BK;
            //#use LOADKV
        }
        //#else
        //#unroll c $NCH
        {
            let ch = {c}u;
            let tl = t;
            //#use LOADKV
            //#use STOREKV
        }
        //#end
        workgroupBarrier();
        //#endif

        // S: rows TM g + r, keys x + TX (4 kq + j) (component j of s[r * KQ + kq]).
        var s: array<vec4<f32>, TM * KQ>;
        //#unroll r $TM
        //#unroll kq $KQ
        s[{r}u * KQ + {kq}u] = vec4<f32>(0.0);
        //#end
        //#end
        let xs = x & SWM;
        for (var c0 = 0u; c0 < D4; c0 += DU4) {
            //#unroll u $DU4
            {
            let c = c0 + {u}u;
            let cs = c ^ xs;
            //#if KONE
            // One key's vec4 at a time against the four Q^T rows of the column (fewer
            // live registers than all NK keys at once).
            //#unroll e 4
            //#unroll a $TQ
            let q{a}_{e} = qt[(4u * c + {e}u) * QV + qq + {a}u];
            //#end
            //#end
            //#unroll kq $KQ
            //#unroll j 4
            {
                let kx = ks[(x + (4u * {kq}u + {j}u) * TX) * D4 + cs];
                //#unroll a $TQ
                //#unroll i 4
                s[({a}u * 4u + {i}u) * KQ + {kq}u][{j}] = fma(q{a}_3[{i}], kx.w, fma(q{a}_2[{i}], kx.z, fma(q{a}_1[{i}], kx.y, fma(q{a}_0[{i}], kx.x, s[({a}u * 4u + {i}u) * KQ + {kq}u][{j}]))));
                //#end
                //#end
            }
            //#end
            //#end
            //#else
            var kk: array<vec4<f32>, NK>;
            //#unroll m $NK
            kk[{m}] = ks[(x + {m}u * TX) * D4 + cs];
            //#end
            //#unroll e 4
            {
                //#unroll kq $KQ
                let k{kq} = vec4<f32>(kk[4u * {kq}u][{e}], kk[4u * {kq}u + 1u][{e}], kk[4u * {kq}u + 2u][{e}], kk[4u * {kq}u + 3u][{e}]);
                //#end
                //#unroll a $TQ
                {
                    let q4 = qt[(4u * c + {e}u) * QV + qq + {a}u];
                    //#unroll kq $KQ
                    s[({a}u * 4u) * KQ + {kq}u] = fma(vec4<f32>(q4.x), k{kq}, s[({a}u * 4u) * KQ + {kq}u]);
                    s[({a}u * 4u + 1u) * KQ + {kq}u] = fma(vec4<f32>(q4.y), k{kq}, s[({a}u * 4u + 1u) * KQ + {kq}u]);
                    s[({a}u * 4u + 2u) * KQ + {kq}u] = fma(vec4<f32>(q4.z), k{kq}, s[({a}u * 4u + 2u) * KQ + {kq}u]);
                    s[({a}u * 4u + 3u) * KQ + {kq}u] = fma(vec4<f32>(q4.w), k{kq}, s[({a}u * 4u + 3u) * KQ + {kq}u]);
                    //#end
                }
                //#end
            }
            //#end
            //#endif
            }
            //#end
        }

        // Online softmax: mask, row max over the group, exponentials.
        //#unroll r $TM
        {
            var mt = NEG_BIG;
            if mask_on {
                let tb = tile_bits(row + {r}u, t, pi);
                let rl = min(rk[{r}], t1);
                //#unroll kq $KQ
                {
                    var sr = s[{r}u * KQ + {kq}u];
                    //#unroll j 4
                    sr[{j}] = select(NEG_BIG, sr[{j}], visible(t, x + (4u * {kq}u + {j}u) * TX, rl, tb));
                    //#end
                    s[{r}u * KQ + {kq}u] = sr;
                }
                //#end
            }
            //#unroll kq $KQ
            {
                let sr = s[{r}u * KQ + {kq}u];
                mt = max(mt, max(max(sr.x, sr.y), max(sr.z, sr.w)));
            }
            //#end
            let m_new = max(mx[{r}], lanes_max(mt));
            let alpha = exp2(mx[{r}] - m_new);
            mx[{r}] = m_new;
            var ls = 0.0;
            //#unroll kq $KQ
            {
                let sr = s[{r}u * KQ + {kq}u];
                var e4 = vec4<f32>(0.0);
                //#unroll j 4
                e4[{j}] = exp2(sr[{j}] - m_new);
                //#end
                if mask_on {
                    e4 = select(vec4<f32>(0.0), e4, sr != vec4<f32>(NEG_BIG));
                }
                ls += (e4.x + e4.y) + (e4.z + e4.w);
                s[{r}u * KQ + {kq}u] = e4;
            }
            //#end
            l[{r}] = l[{r}] * alpha + ls;
            //#unroll c $CV
            acc[{r}u * CV + {c}u] *= alpha;
            //#end
        }
        //#end
        //#if PSH
        //#else
        //#if PALIAS
        workgroupBarrier();
        //#endif
        // P^T: key x + TX (4 kq + j) gets each quad of rows' probabilities as one vec4.
        //#unroll kq $KQ
        //#unroll j 4
        {
            let j = x + (4u * {kq}u + {j}u) * TX;
            //#unroll a $TQ
            $PT[j * QV + qq + {a}u] = vec4<f32>(s[({a}u * 4u) * KQ + {kq}u][{j}], s[({a}u * 4u + 1u) * KQ + {kq}u][{j}], s[({a}u * 4u + 2u) * KQ + {kq}u][{j}], s[({a}u * 4u + 3u) * KQ + {kq}u][{j}]);
            //#end
        }
        //#end
        //#end
        workgroupBarrier();
        //#endif

        // O += P V. PV_QUAD: key j's probabilities p4 for the quad of rows a, times V's
        // row j at this lane's vec4 columns.
        //#define PV_QUAD
        //#unroll c $CV
        {
            let v4 = vs[j * D4 + x + {c}u * TX];
            acc[({a}u * 4u) * CV + {c}u] = fma(vec4<f32>(p4.x), v4, acc[({a}u * 4u) * CV + {c}u]);
            acc[({a}u * 4u + 1u) * CV + {c}u] = fma(vec4<f32>(p4.y), v4, acc[({a}u * 4u + 1u) * CV + {c}u]);
            acc[({a}u * 4u + 2u) * CV + {c}u] = fma(vec4<f32>(p4.z), v4, acc[({a}u * 4u + 2u) * CV + {c}u]);
            acc[({a}u * 4u + 3u) * CV + {c}u] = fma(vec4<f32>(p4.w), v4, acc[({a}u * 4u + 3u) * CV + {c}u]);
        }
        //#end
        //#enddef
        //#if PSH
        // Key xs + TX m of the tile is lane xs's score m (all lanes of the group take the
        // same key at once, so the shuffle's value index is a constant). Like the
        // butterflies, this takes a row group's TX consecutive invocations to be TX
        // consecutive lanes of one subgroup, in order (subgroup lane = lid % subgroup
        // size, as on every adapter measured; the reference tests would catch another).
        let gb = sgl & ~(TX - 1u);
        for (var xs = 0u; xs < TX; xs++) {
            let src = gb + xs;
            //#unroll kq $KQ
            //#unroll jj 4
            {
                let j = xs + (4u * {kq}u + {jj}u) * TX;
                //#unroll a $TQ
                {
                    let p4 = subgroupShuffle(vec4<f32>(s[({a}u * 4u) * KQ + {kq}u][{jj}], s[({a}u * 4u + 1u) * KQ + {kq}u][{jj}], s[({a}u * 4u + 2u) * KQ + {kq}u][{jj}], s[({a}u * 4u + 3u) * KQ + {kq}u][{jj}]), src);
                    //#use PV_QUAD
                }
                //#end
            }
            //#end
            //#end
        }
        //#else
        for (var j0 = 0u; j0 < BK; j0 += JU) {
            //#unroll u $JU
            {
            let j = j0 + {u}u;
            //#unroll a $TQ
            {
                let p4 = $PT[j * QV + qq + {a}u];
                //#use PV_QUAD
            }
            //#end
            }
            //#end
        }
        //#endif
        workgroupBarrier();
    }
    }
    //#if UNM
    //#end
    //#endif
    }

    //#unroll r $TM
    {
        let lt = lanes_sum(l[{r}]);
        let rr = row + {r}u;
        if rr < p.seq_q {
            let obase = p.o_off + q_row(b, h, rr) * D;
            let inv = select(0.0, 1.0 / lt, lt > 0.0);
            //#unroll c $CV
            {
                let y = acc[{r}u * CV + {c}u] * inv;
                let f = obase + 4u * (x + {c}u * TX);
                store_o4(f, y);
            }
            //#end
            if x == 0u {
                lse[p.lse_off + lse_row(b, h, rr)] = select(p.neg_inf, (mx[{r}] + log2(lt)) * p.ln2, lt > 0.0);
            }
        }
    }
    //#end
}
