// Flash attention, matrix tier, register softmax (f16 tensors): Q·K^T
// and P·V on cooperative matrices (16x16x16, f16 operands, f32 accumulation) like
// flash_matrix.wgsl, but the online softmax works on the fragments' own elements in
// registers: S never goes to workgroup memory, P is built from S element by element and
// fed to the next product as an A fragment, O is rescaled in place. Only K and V pass
// through workgroup memory (one barrier pair per key tile).
//
// WGSL has no element access to cooperative matrices: the coop_lo_* / coop_hi_* /
// coop_make_* helpers below have placeholder bodies that the host replaces in the SPIR-V
// (kernels::regs::spirv_coop_elements: OpCompositeExtract / OpCompositeInsert), and the
// module reaches the driver through wgpu's SPIR-V passthrough. The element layout comes
// from a probe of the device (kernels::regs::CoopLayout): element i of an accumulator
// held by lane L is at row L/4 + ROFF[i], column 2 (L % 4) + COFF[i]; element j of an A
// fragment sits where accumulator element PERM[j] does. So a row's elements are spread
// over the four lanes of a quad (reductions: two xor shuffles), and each lane holds two
// rows of every 16-row block (half h = ROFF[i] / 8).
//
// Each of the W subgroups owns RS = 16 MQ query rows; per key tile of BK keys, every
// invocation stores its share of the tile (loaded from storage one tile ahead as 8-byte
// units of four f16), then each subgroup computes S for its rows, the running max of
// each row (exact, updated every tile: O and l are rescaled by exp2(m_old - m_new), a
// multiply in registers), P = exp2(S scale log2e - m) and O += P V.
//
// SPARSE (a block mask, flash_common): the tiles run span by span over the query
// block's active key spans (BQ <= the mask row, so a workgroup's rows share one mask
// row); a span with an element mask (a partial block) masks each score by its bits. The
// next tile's K/V loads are issued before the barrier as in the dense loop, the next
// span's first tile during a span's last one. As in the dense loop, tiles that need no
// mask run a softmax without one (a second copy of the tile's code).
//
// Template names: HEAD_DIM, DT (= HEAD_DIM/16), MQ, W, BK, KT (= BK/16), KSTR (K/V row
// stride in workgroup memory), NPF (4-element units of K and of V each invocation stages
// per tile), ROFF, COFF, PERM (the probed layout, 8 values each), SCALE_POS (scale > 0:
// the max is taken over raw scores and the scale folded into the exponent's FMA), LAZY,
// DBUF, SPARSE.
enable f16;
enable wgpu_cooperative_matrix;

const D: u32 = $HEAD_DIMu;
const DT: u32 = $DTu;
const MQ: u32 = $MQu;
const W: u32 = $Wu;
const BK: u32 = $BKu;
const KT: u32 = $KTu;
const KSTR: u32 = $KSTRu;
const D4: u32 = D / 4u;
const SG: u32 = 32u;
const WG: u32 = W * SG;
const RS: u32 = 16u * MQ;
const BQ: u32 = W * RS;
const ROFF = array<u32, 8>($ROFF);
const COFF = array<u32, 8>($COFF);
const PERM = array<u32, 8>($PERM);
const RESCALE: f32 = 8.0;
//#if DBUF
const NBUF: u32 = 2u;
//#else
const NBUF: u32 = 1u;
//#endif
// Whether the NPF units of every invocation cover the tile exactly (no unit past it).
const ALLU: bool = (BK * D4) % WG == 0u;
// No tile's K/V units held (SPARSE).
const NONE: u32 = 0xffffffffu;

//#include flash_common
@group(0) @binding(1) var<storage, read> q: array<f16>;
@group(0) @binding(2) var<storage, read> k: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> v: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> o: array<f16>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

// K and V tiles (row stride KSTR), NBUF of each: with DBUF two, used in turn, so a tile
// needs one barrier (the next tile is stored into the other buffer, which every
// subgroup finished reading before this tile's barrier).
var<workgroup> kst: array<f16, NBUF * BK * KSTR>;
var<workgroup> vst: array<f16, NBUF * BK * KSTR>;

// Element helpers: placeholder bodies, replaced in the SPIR-V (see the top).
fn coop_lo_c(m: coop_mat16x16<f32, C>) -> vec4<f32> {
    return vec4<f32>();
}
fn coop_hi_c(m: coop_mat16x16<f32, C>) -> vec4<f32> {
    return vec4<f32>();
}
fn coop_make_c(lo: vec4<f32>, hi: vec4<f32>) -> coop_mat16x16<f32, C> {
    return coop_mat16x16<f32, C>();
}
fn coop_make_a(lo: vec4<f16>, hi: vec4<f16>) -> coop_mat16x16<f16, A> {
    return coop_mat16x16<f16, A>();
}

fn elems(m: coop_mat16x16<f32, C>) -> array<f32, 8> {
    let lo = coop_lo_c(m);
    let hi = coop_hi_c(m);
    return array<f32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
}

// An A fragment from the eight values this lane holds at accumulator places 0..7.
fn make_a(x: array<f16, 8>) -> coop_mat16x16<f16, A> {
    return coop_make_a(
        vec4<f16>(x[PERM[0]], x[PERM[1]], x[PERM[2]], x[PERM[3]]),
        vec4<f16>(x[PERM[4]], x[PERM[5]], x[PERM[6]], x[PERM[7]]),
    );
}

// Accumulator m with the elements of this lane's row half h multiplied by f[h].
fn scale_rows(m: coop_mat16x16<f32, C>, f: vec2<f32>) -> coop_mat16x16<f32, C> {
    let lo = coop_lo_c(m) * vec4<f32>(f[ROFF[0] / 8u], f[ROFF[1] / 8u], f[ROFF[2] / 8u], f[ROFF[3] / 8u]);
    let hi = coop_hi_c(m) * vec4<f32>(f[ROFF[4] / 8u], f[ROFF[5] / 8u], f[ROFF[6] / 8u], f[ROFF[7] / 8u]);
    return coop_make_c(lo, hi);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    //#use GRID_HEADS
    let sg = lid / SG;
    let lane = lid % SG;
    // This lane's row and column within a 16x16 block (plus ROFF / COFF).
    let qr = lane / 4u;
    let qc = 2u * (lane % 4u);
    let srow0 = qtile * BQ + sg * RS;
    // Key range of the workgroup: kend, free_end (flash_common).
    //#use TILE_KEY_RANGE

    // Q fragments, loaded element by element in the A layout (zero past seq_q), kept
    // for the whole run; O accumulators; per row half of each block: running max m (log2
    // units, NEG_BIG before any visible key), this lane's partial sum l, key limit.
    //#unroll m $MQ
    //#unroll d $DT
    var qf{m}_{d}: coop_mat16x16<f16, A>;
    var of{m}_{d} = coop_mat16x16<f32, C>();
    //#end
    var mr{m} = vec2<f32>(NEG_BIG);
    var lr{m} = vec2<f32>(0.0);
    let kl{m} = vec2<u32>(
        key_limit(min(srow0 + {m}u * 16u + qr, p.seq_q - 1u)),
        key_limit(min(srow0 + {m}u * 16u + qr + 8u, p.seq_q - 1u)),
    );
    //#unroll d $DT
    {
        var x: array<f16, 8>;
        //#unroll i 8
        {
            let rr = srow0 + {m}u * 16u + qr + ROFF[{i}];
            let e = q_row(bq, h, min(rr, p.seq_q - 1u)) * D + {d}u * 16u + qc + COFF[{i}];
            x[{i}] = select(f16(0.0), q[p.q_off + e], rr < p.seq_q);
        }
        //#end
        qf{m}_{d} = make_a(x);
    }
    //#end
    //#end

    // K/V staging: unit i (NPF per invocation) of a tile is elements 4 (i % D4) .. +3 of
    // the tile's key i / D4, at unit offset wu{f} from the tile's first key; zero past
    // the last key. A tile that ends by k_end is loaded without a check per unit.
    let kv4 = p.kv_heads * D4;
    let kbase4 = p.k_off / 4u + kv0 * kv4 + kvh * D4;
    let vbase4 = p.v_off / 4u + kv0 * kv4 + kvh * D4;
    //#unroll f $NPF
    var kpf{f} = vec2<u32>();
    var vpf{f} = vec2<u32>();
    let wu{f} = ((lid + {f}u * WG) / D4) * kv4 + (lid + {f}u * WG) % D4;
    let so{f} = 4u * (((lid + {f}u * WG) / D4) * (KSTR / 4u) + (lid + {f}u * WG) % D4);
    let in{f} = ALLU || lid + {f}u * WG < BK * D4;
    //#end
    //#define KV_LOAD
        if nt + BK <= p.k_end {
            //#unroll f $NPF
            if in{f} {
                kpf{f} = k[kbase4 + nt * kv4 + wu{f}];
                vpf{f} = v[vbase4 + nt * kv4 + wu{f}];
            }
            //#end
        } else {
            //#unroll f $NPF
            {
                kpf{f} = vec2<u32>();
                vpf{f} = vec2<u32>();
                if in{f} && nt + (lid + {f}u * WG) / D4 < p.k_end {
                    kpf{f} = k[kbase4 + nt * kv4 + wu{f}];
                    vpf{f} = v[vbase4 + nt * kv4 + wu{f}];
                }
            }
            //#end
        }
    //#enddef
    // Stores this invocation's K/V units (kpf, vpf) into the tile buffer at bo.
    //#define KV_STAGE
        //#unroll f $NPF
        if in{f} {
            let so = bo + so{f};
            //#use KV_UNITS_STORE
        }
        //#end
    //#enddef
    // One tile of keys [t, t + BK), staged at bo, after its barrier: S, the softmax
    // (with the mask where mask_on; keys from t1 on are masked), O += P V.
    //#define TILE_MATH
        // S = Q K^T for this subgroup's rows (P: pa, built by the softmax).
        //#unroll n $KT
        //#unroll m $MQ
        var s{m}_{n} = coop_mat16x16<f32, C>();
        var pa{m}_{n}: coop_mat16x16<f16, A>;
        //#end
        //#unroll d $DT
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[bo + {n}u * 16u * KSTR + {d}u * 16u], KSTR);
            //#unroll m $MQ
            s{m}_{n} = coopMultiplyAdd(qf{m}_{d}, kf, s{m}_{n});
            //#end
        }
        //#end
        //#end

        // Online softmax in registers (mask_on: the causal / length mask, the span's end
        // and, in a span with an element mask, its bits: tb{m} holds each row half's).
        //#unroll m $MQ
        //#unroll n $KT
        var x{m}_{n} = elems(s{m}_{n});
        //#end
        let lim{m} = min(kl{m}, vec2<u32>(t1));
        var tb{m} = array<vec2<u32>, 2>(vec2<u32>(0xffffffffu), vec2<u32>(0xffffffffu));
        //#if SPARSE
        if mask_on && pi != FULL {
            tb{m}[0] = tile_bits(srow0 + {m}u * 16u + qr, t, pi);
            tb{m}[1] = tile_bits(srow0 + {m}u * 16u + qr + 8u, t, pi);
        }
        //#endif
        {
            //#unroll n $KT
            //#unroll i 8
            {
                //#if SCALE_POS
                //#else
                x{m}_{n}[{i}] *= p.scale_log2;
                //#endif
                if mask_on && !visible(t, {n}u * 16u + qc + COFF[{i}], lim{m}[ROFF[{i}] / 8u], tb{m}[ROFF[{i}] / 8u]) {
                    //#if SCALE_POS
                    x{m}_{n}[{i}] = p.neg_inf;
                    //#else
                    x{m}_{n}[{i}] = NEG_BIG;
                    //#endif
                }
            }
            //#end
            //#end
            var tm = vec2<f32>(NEG_BIG);
            //#unroll n $KT
            //#unroll i 8
            tm[ROFF[{i}] / 8u] = max(tm[ROFF[{i}] / 8u], x{m}_{n}[{i}]);
            //#end
            //#end
            tm = max(tm, subgroupShuffleXor(tm, 1u));
            tm = max(tm, subgroupShuffleXor(tm, 2u));
            //#if SCALE_POS
            tm = select(vec2<f32>(NEG_BIG), tm * p.scale_log2, tm > vec2<f32>(NEG_BIG));
            //#endif
            //#if LAZY
            // The running max moves only when a tile's max exceeds it by more than
            // RESCALE (log2 units; P <= 2^RESCALE stays well inside f16), so after the
            // first tiles O is rarely rescaled.
            let m_new = select(mr{m}, tm, tm > mr{m} + RESCALE);
            //#else
            let m_new = max(mr{m}, tm);
            //#endif
            let alpha = exp2(mr{m} - m_new);
            //#if LAZY
            let moved = any(m_new != mr{m});
            //#endif
            mr{m} = m_new;
            // Masked scores are -inf (NEG_BIG without SCALE_POS), so their exponent is 0
            // once the row has a finite max; before that subtract 0.
            let mz = select(m_new, vec2<f32>(0.0), m_new == vec2<f32>(NEG_BIG));
            var ps = vec2<f32>(0.0);
            //#unroll n $KT
            {
                var pe: array<f16, 8>;
                //#unroll i 8
                {
                    //#if SCALE_POS
                    let pv = exp2(fma(x{m}_{n}[{i}], p.scale_log2, -mz[ROFF[{i}] / 8u]));
                    //#else
                    let pv = exp2(x{m}_{n}[{i}] - mz[ROFF[{i}] / 8u]);
                    //#endif
                    ps[ROFF[{i}] / 8u] += pv;
                    pe[{i}] = f16(pv);
                }
                //#end
                pa{m}_{n} = make_a(pe);
            }
            //#end
            lr{m} = lr{m} * alpha + ps;
            //#if LAZY
            if subgroupAny(moved) {
            //#else
            {
            //#endif
                //#unroll d $DT
                of{m}_{d} = scale_rows(of{m}_{d}, alpha);
                //#end
            }
        }
        //#end

        // O += P V.
        //#unroll n $KT
        //#unroll d $DT
        {
            let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[bo + {n}u * 16u * KSTR + {d}u * 16u], KSTR);
            //#unroll m $MQ
            of{m}_{d} = coopMultiplyAdd(pa{m}_{n}, vf, of{m}_{d});
            //#end
        }
        //#end
        //#end
        //#if DBUF
        //#else
        workgroupBarrier();
        //#endif
    //#enddef
    //#if SPARSE
    // Block mask: the tiles run once per active key span of this query block.
    // `pre`: the first key of the tile whose units kpf / vpf hold; `it`: tiles run (the
    // K/V buffer).
    var pre = NONE;
    var it = 0u;
    //#use MATRIX_SPANS
        // The next span's first tile, loaded during this span's last one.
        let next_ok = e + 1u < e_end && nt0 < nt1;
        // The tiles run in two phases: those before mask_start (every key visible to
        // every row: below free_end and t1, in a span with no element mask) with a
        // softmax that applies no mask, then the rest with it.
        let mask_start = select(t0, t0 + (max(min(free_end, t1), t0) - t0) / BK * BK, pi == FULL);
        var t = t0;
        //#unroll ph 2
        for (; t < select(mask_start, t1, {ph}u == 1u); t += BK) {
            if pre != t {
                let nt = t;
                //#use KV_LOAD
            }
            let bo = it % NBUF * (BK * KSTR);
            it += 1u;
            //#use KV_STAGE
            pre = NONE;
            if t + BK < t1 {
                let nt = t + BK;
                //#use KV_LOAD
                pre = nt;
            } else if next_ok {
                let nt = nt0;
                //#use KV_LOAD
                pre = nt;
            }
            workgroupBarrier();
            let mask_on = {ph}u == 1u;
            //#use TILE_MATH
        }
        //#end
    }
    //#else
    {
        let nt = p.k_begin;
        //#use KV_LOAD
    }
    // Tiles before mask_start need no mask (all their keys are below free_end); the
    // rest (the causal diagonal, the last partial tile) run in a second loop with it.
    let t0 = p.k_begin;
    let t1 = kend;
    let pi = FULL;
    let mask_start = min(max(kend, t0), t0 + (max(free_end, t0) - t0) / BK * BK);
    var t = t0;
    //#unroll ph 2
    for (; t < select(mask_start, kend, {ph}u == 1u); t += BK) {
        let mask_on = {ph}u == 1u;
        // This tile's buffer (element offset in kst / vst).
        let bo = ((t - t0) / BK) % NBUF * (BK * KSTR);
        //#use KV_STAGE
        if t + BK < kend {
            let nt = t + BK;
            //#use KV_LOAD
        }
        workgroupBarrier();
        //#use TILE_MATH
    }
    //#end
    //#endif

    // Outputs: O = acc / l (0 for rows that saw no key), LSE = (m + log2 l) ln 2; the
    // quad's partial sums are added first.
    //#unroll m $MQ
    {
        var l2 = lr{m};
        l2 += subgroupShuffleXor(l2, 1u);
        l2 += subgroupShuffleXor(l2, 2u);
        let inv = select(vec2<f32>(0.0), 1.0 / l2, l2 > vec2<f32>(0.0));
        if lane % 4u == 0u {
            //#unroll hh 2
            {
                let rr = srow0 + {m}u * 16u + qr + 8u * {hh}u;
                if rr < p.seq_q {
                    let li = p.lse_off + lse_row(b, h, rr);
                    lse[li] = select(p.neg_inf, (mr{m}[{hh}] + log2(l2[{hh}])) * p.ln2, l2[{hh}] > 0.0);
                }
            }
            //#end
        }
        //#unroll d $DT
        {
            let e = elems(of{m}_{d});
            //#unroll i 8
            {
                let rr = srow0 + {m}u * 16u + qr + ROFF[{i}];
                if rr < p.seq_q {
                    let oi = q_row(b, h, rr) * D + {d}u * 16u + qc + COFF[{i}];
                    o[p.o_off + oi] = f16(e[{i}] * inv[ROFF[{i}] / 8u]);
                }
            }
            //#end
        }
        //#end
    }
    //#end
}
