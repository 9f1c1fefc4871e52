// Flash attention, matrix tier: Q·K^T and P·V on cooperative matrices (16x16x16,
// f16 operands, f32 accumulation), online softmax in f32. Needs
// EXPERIMENTAL_COOPERATIVE_MATRIX, SHADER_F16 and SUBGROUP, and f16 tensors.
//
// Each of the W subgroups of a workgroup owns RS = 16*MQ query rows. Per key tile of
// BK keys, a subgroup:
//   0. (all subgroups) stage the K and V tile in workgroup memory as f16, zero past
//      the last key, so fragments never read outside the tensors;
//   1. multiplies its Q fragments (kept in registers for the whole run) with K
//      fragments into S (f32), and stores S to its own region of workgroup memory;
//   2. turns S into P = exp2(S*scale*log2e - m) row by row, LPR lanes per row (each
//      on a contiguous run of columns), writing P as f16;
//   3. multiplies P with V fragments into the O accumulators.
// The split (f32) kernel, and the f16 one without MREF, raise the running max m of a row
// (and rescale O through workgroup memory) only when the tile max exceeds it by more
// than RESCALE (log2 units), so P <= 2^RESCALE and the O round trip is rare after the
// first tiles; the decision is workgroup-uniform (cooperative ops need uniform control
// flow), read through workgroupUniformLoad once per tile. The f16 kernel with MREF keeps
// m fixed at the max of the row's first tile with a visible key and runs the keys a
// second time, with m at the row's exact max, when a row's max rises more than PLIM
// above it (see MREF below). Fragment layouts are opaque in WGSL, so every
// element-wise step goes through workgroup memory.
//
// SPLIT (f32 tensors): every f32 operand x is carried as two f16 parts, x = hi + lo (hi
// = x cut to f16's 11 significant bits, lo = f16(x - hi)), and each product takes three
// multiply-adds, hi*hi + hi*lo + lo*hi (the lo*lo term is below f32 rounding of the
// sum), so the products keep about 22 bits; accumulation is f32, O's per 16-key block
// (see step 3). f16's range is kept by power-of-two scales: each query row by its own
// (max |q| of the row brought to [2^14, 2^15)), K and V by one each per (batch, kv
// head), from their max |.| over the launch's keys (kv_absmax.wgsl, dispatched before),
// P by PSPLIT; the scales are undone exactly in the softmax (scores) and at the output
// (V and P). Large scales also keep the lo parts clear of f16 subnormals, which NVIDIA's
// driver flushes (a NumPy model of the flush: O off by 9e-5 with P unscaled, 1e-6 with
// it scaled). The K/V
// tiles are converted element by element while staged (no f16 fragments to load from f32
// tensors).
//
// Same parameters and bindings as the other tiers (key range k_begin..k_end; the
// accumulate flag is not supported here: the host never splits keys for this tier).
// Template names: HEAD_DIM, DT (= HEAD_DIM/16), MQ, RS, W, SG, LPR, LOG2LPR, BK, KT
// (= BK/16), CPL (= BK/LPR), SS, PS, SREG, PREG, EPL (= 256/SG), KSTR, KREG,
// FPS (= KT*DT/W, K and V fragments each subgroup copies per tile), IN (tensor
// element type: f16, or f32 with SPLIT), SPLIT, NPF (split kernel: vec4 of K and of V
// each invocation loads per tile, ceil(BK*HEAD_DIM/4 / (W*SG))). Switches: PIPE, WIDE,
// UNPACK (see where they are used), SCALE_POS (f16 kernel, scale > 0: the softmax
// takes the max of the raw scores and scales inside the exponent's FMA), TREE (four
// partial max/sum chains per row), SPARSE, ROLLN.
enable f16;
enable wgpu_cooperative_matrix;

const D: u32 = $HEAD_DIMu;
const RS: u32 = $RSu;
const W: u32 = $Wu;
const SG: u32 = $SGu;
const LPR: u32 = $LPRu;
const BK: u32 = $BKu;
const SS: u32 = $SSu;
const PS: u32 = $PSu;
const SREG: u32 = $SREGu;
const CPL: u32 = $CPLu;
const PREG: u32 = $PREGu;
const KSTR: u32 = $KSTRu;
const KREG: u32 = $KREGu;
const D4: u32 = D / 4u;
const DT: u32 = $DTu;
const KT: u32 = $KTu;
const FPS: u32 = $FPSu;
const WG: u32 = W * SG;
const BQ: u32 = W * RS;
const RESCALE: f32 = 8.0;
// MREF: how far (log2 units) a row's max may rise above its reference in one pass.
const PLIM: f32 = 15.0;
// Scale of P in the split kernel (2^(15 - RESCALE)).
const PSPLIT: f32 = 128.0;
const NONE: u32 = 0xffffffffu;

//#include flash_common
@group(0) @binding(1) var<storage, read> q: array<$IN>;
//#if WIDE
// f16 K and V read as 8-byte units of 4 elements (their offsets are multiples of 4: see
// flash::matrix_wide). With UNPACK (where the adapter has SHADER_F16_IN_F32) a unit is
// two u32 of two f16 each, written to workgroup memory through unpack2x16float and f16
// conversions (on an H100 7 % faster at head_dim 64 than vec4<f16> units, whose four
// 2-byte stores the driver does not merge).
//#if UNPACK
@group(0) @binding(2) var<storage, read> k: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> v: array<vec2<u32>>;

// Element c (0..3) of an 8-byte unit of four f16.
fn unit_elem(u: vec2<u32>, c: u32) -> f16 {
    let a = unpack2x16float(select(u.y, u.x, c < 2u));
    return f16(select(a.y, a.x, c % 2u == 0u));
}
//#else
@group(0) @binding(2) var<storage, read> k: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f16>>;

fn unit_elem(u: vec4<f16>, c: u32) -> f16 {
    return u[c];
}
//#endif
//#else
@group(0) @binding(2) var<storage, read> k: array<$IN>;
@group(0) @binding(3) var<storage, read> v: array<$IN>;
//#endif
@group(0) @binding(4) var<storage, read_write> o: array<$IN>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

// K and V tiles (BK keys, row stride KSTR), zero past the last key, shared by the W
// subgroups.
var<workgroup> kst: array<f16, KREG>;
var<workgroup> vst: array<f16, BK * KSTR>;
var<workgroup> ss: array<f32, W * SREG>;
var<workgroup> ps: array<f16, W * PREG>;
var<workgroup> rowv: array<f32, W * RS>;
//#if SPLIT
// The lo parts of the K and V tiles and of P (kst, vst and ps hold the hi parts).
var<workgroup> kst2: array<f16, KREG>;
var<workgroup> vst2: array<f16, BK * KSTR>;
var<workgroup> ps2: array<f16, W * PREG>;
// Max |k| and max |v| (f32 bits) of each (batch, kv head) over the launch's keys, from
// kv_absmax.wgsl, dispatched just before.
//#if SPARSE
@group(0) @binding(8) var<storage, read> kvmax: array<u32>;
//#else
@group(0) @binding(6) var<storage, read> kvmax: array<u32>;
//#endif

// Power-of-two exponent that brings a max |x| to [2^14, 2^15) (0 for 0), within the
// range where 2^e and 2^-e stay normal f32.
fn split_shift(mx: f32) -> i32 {
    if mx == 0.0 {
        return 0;
    }
    let e = i32((bitcast<u32>(mx) >> 23u) & 0xffu) - 127;
    return clamp(14 - e, -100, 100);
}

// The hi part of x as f32: x with its 13 low mantissa bits cleared, so f16(hi) is
// exact (in f16's normal range) and x - hi is exact in f32. Bit operations, not
// x - f32(f16(x)): a compiler may fold that round trip to zero (NVIDIA's did: the lo
// parts vanished and the results were only f16-accurate).
fn hi4(x: vec4<f32>) -> vec4<f32> {
    return bitcast<vec4<f32>>(bitcast<vec4<u32>>(x) & vec4<u32>(0xffffe000u));
}

fn hi1(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) & 0xffffe000u);
}

//#endif
// Set when any row of the workgroup raised its max in this tile (read uniformly).
// An array, not a scalar: on NVIDIA's Vulkan driver (580) a scalar workgroup variable
// shifts the cooperative-matrix view of the other workgroup arrays by one element
// (measured with examples/coop_probe.rs).
var<workgroup> rescale_flag: array<u32, 4>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    //#use GRID_HEADS
    let sg = lid / SG;
    let lane = lid % SG;
    let r = lane / LPR;
    let sub = lane % LPR;
    let srow0 = qtile * BQ + sg * RS;
    let row = srow0 + r;
    let valid = row < p.seq_q;
    let safe_row = min(row, p.seq_q - 1u);
    let klim = key_limit(safe_row);
    //#use TILE_KEY_RANGE
    let q_stride = p.heads * D;
    let kv_stride = p.kv_heads * D;
    let sbase = sg * SREG;
    let pbase = sg * PREG;
    let vrow = sg * RS;

    // Q fragments stay in registers for the whole run. A full block is loaded straight
    // from storage; the last, partial block is staged in the K area with zero rows past
    // seq_q, so no fragment ever reads outside the tensor.
    //#unroll m $MQ
    //#unroll d $DT
    var qf{m}_{d}: coop_mat16x16<f16, A>;
    var of{m}_{d} = coop_mat16x16<f32, C>();
    //#if SPLIT
    var ql{m}_{d}: coop_mat16x16<f16, A>;
    //#endif
    //#end
    //#end
//#if SPLIT
    // Scales: K and V from their maxima over the launch's keys, then each query row's
    // (its LPR lanes reduce the row's max |q|).
    let ksh = split_shift(bitcast<f32>(kvmax[2u * (bq * p.kv_heads + kvh)]));
    let vsh = split_shift(bitcast<f32>(kvmax[2u * (bq * p.kv_heads + kvh) + 1u]));
    var qmx = 0.0;
    for (var c = sub; c < D; c += LPR) {
        qmx = max(qmx, abs(q[p.q_off + q_row(bq, h, safe_row) * D + c]));
    }
    var qoff = LPR / 2u;
    //#unroll i $LOG2LPR
    qmx = max(qmx, subgroupShuffleXor(qmx, qoff));
    qoff >>= 1u;
    //#end
    let qsh = split_shift(qmx);
    if sub == 0u {
        rowv[vrow + r] = exp2(f32(qsh));
    }
    workgroupBarrier();
    let kscale = exp2(f32(ksh));
    let vscale = exp2(f32(vsh));
    // Scores of this lane's row in log2 units: S' * scale * log2(e) * 2^-(qsh + ksh).
    let sfac = p.scale_log2 * exp2(f32(max(-(qsh + ksh), -126)));
    // Each subgroup stages its rows 16 columns at a time in its own P regions, hi
    // parts in ps and lo parts in ps2, scaled by the row's factor.
    //#unroll d $DT
    for (var i = lane; i < RS * 4u; i += SG) {
        let rr = i / 4u;
        let grow = srow0 + rr;
        var x = vec4<f32>(0.0);
        if grow < p.seq_q {
            let e = q_row(bq, h, grow) * D + {d}u * 16u + 4u * (i % 4u) + p.q_off;
            x = vec4<f32>(q[e], q[e + 1u], q[e + 2u], q[e + 3u]) * rowv[vrow + rr];
        }
        let xh = hi4(x);
        let hi = vec4<f16>(xh);
        let lo = vec4<f16>(x - xh);
        let dst = pbase + rr * PS + 4u * (i % 4u);
        //#unroll c 4
        ps[dst + {c}u] = hi[{c}];
        ps2[dst + {c}u] = lo[{c}];
        //#end
    }
    workgroupBarrier();
    //#unroll m $MQ
    qf{m}_{d} = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + {m}u * 16u * PS], PS);
    ql{m}_{d} = coopLoadT<coop_mat16x16<f16, A>>(&ps2[pbase + {m}u * 16u * PS], PS);
    //#end
    workgroupBarrier();
    //#end
//#else
    // (`&`, not `&&`: naga treats a short-circuit's result as non-uniform, and the
    // cooperative loads need uniform control flow. Packed rows, p.fold > 1, are not
    // evenly strided in Q, so they take the staged path.)
    if (qtile * BQ + BQ <= p.seq_q) & (p.fold == 1u) {
        let qb = p.q_off + q_row(bq, h, srow0) * D;
        //#unroll m $MQ
        //#unroll d $DT
        qf{m}_{d} = coopLoadT<coop_mat16x16<f16, A>>(&q[qb + {m}u * 16u * q_stride + {d}u * 16u], q_stride);
        //#end
        //#end
    } else {
        // Each subgroup stages its rows 16 columns at a time in its own P region.
        //#unroll d $DT
        for (var i = lane; i < RS * 4u; i += SG) {
            let rr = i / 4u;
            let grow = srow0 + rr;
            var x = vec4<f16>(0.0);
            if grow < p.seq_q {
                let e = q_row(bq, h, grow) * D + {d}u * 16u + 4u * (i % 4u) + p.q_off;
                x = vec4<f16>(q[e], q[e + 1u], q[e + 2u], q[e + 3u]);
            }
            let dst = pbase + rr * PS + 4u * (i % 4u);
            //#unroll c 4
            ps[dst + {c}u] = x[{c}];
            //#end
        }
        workgroupBarrier();
        //#unroll m $MQ
        qf{m}_{d} = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + {m}u * 16u * PS], PS);
        //#end
        workgroupBarrier();
        //#end
    }
//#endif

    var m_used = NEG_BIG;
    var l = 0.0;
    //#if MREF
    // MREF (f16): no rescale of O inside the loops. Each row's P is taken against a fixed
    // reference max (m_used, set at its first tile with a visible key), so P needs no
    // per-tile workgroup decision (the flag of the lazy rescale cost two barriers per
    // tile). A row whose later max exceeds the reference by more than PLIM (log2 units,
    // P <= 2^PLIM in f16) sets `over`; the workgroup then runs all its keys a second time
    // with the reference at the row's exact max (m_true), where no P exceeds 1. Keys far
    // below the reference lose no more than with the lazy rescale: the reference is a
    // score of the row, so never above its max.
    var m_true = NEG_BIG;
    var over = false;
    for (var run = 0u; run < 2u; run++) {
    m_used = m_true;
    l = 0.0;
    over = false;
    if lid == 0u {
        rescale_flag[1] = 0u;
    }
    //#unroll m $MQ
    //#unroll d $DT
    of{m}_{d} = coop_mat16x16<f32, C>();
    //#end
    //#end
    //#endif

    // Full K/V tiles are copied to workgroup memory as 16x16 fragments (FPS per
    // subgroup for K and for V), loaded from storage one tile ahead so global-memory
    // latency overlaps the previous tile's math. The last, partial tile is staged
    // element by element with zeros past the last key. (Element-wise f16 stores to
    // workgroup memory are slow on NVIDIA; fragment stores are not.) Cooperative ops
    // need control flow that naga can prove uniform, so the full tiles run in the loop
    // and the partial tile in an epilogue with the same body (block TILE).
    //#if SPLIT
    //#else
    //#if WIDE
    let kv4 = p.kv_heads * D4;
    let kbase4 = p.k_off / 4u + kv0 * kv4 + kvh * D4;
    let vbase4 = p.v_off / 4u + kv0 * kv4 + kvh * D4;
    //#unroll f $NPF
    //#if UNPACK
    var kpf{f} = vec2<u32>();
    var vpf{f} = vec2<u32>();
    //#else
    var kpf{f} = vec4<f16>();
    var vpf{f} = vec4<f16>();
    //#endif
    let wu{f} = ((lid + {f}u * WG) / D4) * kv4 + (lid + {f}u * WG) % D4;
    //#end
    //#else
    //#unroll f $FPS
    var kpf{f}: coop_mat16x16<f16, B>;
    var vpf{f}: coop_mat16x16<f16, B>;
    //#end
    //#endif
    //#endif
    // First key of the full tile already prefetched into kpf/vpf (NONE: none).
    //#if SPLIT
    //#else
    var pre = NONE;
    //#endif
    //#if SPARSE
    // Block mask: the steps below run once per active key span of this query block.
    //#use MATRIX_SPANS
        // The next span's first full tile, prefetched during this span's last one.
        let next_full = e + 1u < e_end && nt0 + BK <= nt1;
    //#else
    {
        let t0 = p.k_begin;
        let t1 = kend;
        let pi = FULL;
        let nt0 = 0u;
        let next_full = false;
    //#endif
    let lim = min(klim, t1);
    //#if SPLIT
    // One loop over all tiles, the last one partial: the K/V tile for keys [t, t + BK)
    // is converted from registers loaded one tile ahead (NPF vec4 of K and of V per
    // invocation), so global-memory latency overlaps the previous tile's math.
    //#unroll f $NPF
    var kr{f} = vec4<f32>(0.0);
    var vr{f} = vec4<f32>(0.0);
    //#end
    //#use LOAD_SPLIT_T0
    for (var t = t0; t < t1; t += BK) {
        //#use FLAG_RESET
        //#use STAGE_SPLIT
        //#use LOAD_SPLIT_NEXT
        workgroupBarrier();
        let mask_on = true;
        //#use TILE
    }
    //#else
    let full_end = t0 + (max(t1, t0) - t0) / BK * BK;
    // The full tiles run in two phases: those before mask_start, which no row of the
    // workgroup sees only in part (below free_end, and the span has no element mask),
    // with a softmax that applies no mask (mask_on false), then the rest with it.
    let mask_start = select(t0, min(full_end, t0 + (max(free_end, t0) - t0) / BK * BK), pi == FULL);
    // (`for` runs at most once here: an `if` on values derived from the span loop's
    // counter would be non-uniform to naga, which does not track that the counter is
    // workgroup-uniform; a loop exit is not.)
    //#if PIPE
    // Software-pipelined tile loop: the product S = Q K^T of the next tile is issued
    // while the softmax of this tile runs (independent work in one barrier interval, so
    // the tensor cores and the softmax's arithmetic overlap instead of taking turns), and
    // S needs no barrier of its own. K runs one tile ahead of V: the body for tile t
    // stores K(t+1) and V(t), prefetches K(t+2) and V(t+1) from storage (clamped to the
    // last full tile; the products of a tile past it are never used), and keeps S(t+1)
    // in registers until the softmax of t has read S(t) from workgroup memory.
    var t = t0;
    //#unroll m $MQ
    //#unroll n $KT
    var s{m}_{n} = coop_mat16x16<f32, C>();
    //#end
    //#end
    for (var once = full_end > t0; once; once = false) {
        let nt = t0;
        //#use KV_LOAD
        //#use K_STORE
        let tk = min(t0 + BK, full_end - BK);
        //#use K_LOAD
        workgroupBarrier();
        //#use S_MMA
        //#use S_STORE
        workgroupBarrier();
    }
    //#unroll ph 2
    {
        let mask_on = {ph}u == 1u;
        let pend = select(mask_start, full_end, mask_on);
        for (; t < pend;) {
            for (; t < pend; t += BK) {
                //#use FLAG_RESET
                //#use KV_STORE
                let tk = min(t + 2u * BK, full_end - BK);
                let tv = min(t + BK, full_end - BK);
                //#use K_LOAD
                //#use V_LOAD
                workgroupBarrier();
                //#use S_MMA
                //#use SOFTMAX
                //#use P_READY
                //#use S_STORE
                //#use TILE_PV
            }
            //#if MREF
            //#else
            for (var once = t < pend; once; once = false) {
                //#use RESCALE_O
                //#use S_STORE
                //#use TILE_PV
                t += BK;
            }
            //#endif
        }
    }
    //#end
    //#else
    for (var once = full_end > t0 && pre != t0; once; once = false) {
        let nt = t0;
        //#use KV_LOAD
    }

    // The rescale of O stays out of the hot loop (its code there cost 18 % at head_dim
    // 128 on an H100, though rarely run: BENCHMARKS.md): a tile whose row maxima moved
    // leaves the inner loop with its P ready, O is rescaled and the tile finished below,
    // and the inner loop goes on with the next tile.
    var t = t0;
    //#unroll ph 2
    {
        let mask_on = {ph}u == 1u;
        let pend = select(mask_start, full_end, mask_on);
        for (; t < pend;) {
            for (; t < pend; t += BK) {
                //#use FLAG_RESET
                // 0. Store the prefetched tile for keys [t, t + BK), then prefetch the
                //    next one (the last iteration reloads the last full tile; it is not
                //    used).
                // @ST0
                //#use KV_STORE
                let nt = select(select(full_end - BK, nt0, next_full), t + BK, t + BK < full_end);
                //#use KV_LOAD
                // @ST1
                workgroupBarrier();
                //#use TILE_S
                //#use P_READY
                //#use TILE_PV
            }
            //#if MREF
            //#else
            for (var once = t < pend; once; once = false) {
                //#use RESCALE_O
                //#use TILE_PV
                t += BK;
            }
            //#endif
        }
    }
    //#end

    //#endif

    pre = select(NONE, nt0, full_end > t0 && next_full);

    for (var once = full_end < t1; once; once = false) {
        let t = full_end;
        //#use FLAG_RESET
        for (var i = lid; i < BK * D; i += WG) {
            let key = t + i / D;
            var kx = f16(0.0);
            var vx = f16(0.0);
            if key < p.k_end {
                let e = (kv0 + key) * kv_stride + kvh * D + i % D;
                //#if WIDE
                kx = unit_elem(k[p.k_off / 4u + e / 4u], e % 4u);
                vx = unit_elem(v[p.v_off / 4u + e / 4u], e % 4u);
                //#else
                kx = k[p.k_off + e];
                vx = v[p.v_off + e];
                //#endif
            }
            kst[(i / D) * KSTR + i % D] = kx;
            vst[(i / D) * KSTR + i % D] = vx;
        }
        workgroupBarrier();
        let mask_on = true;
        //#use TILE
    }
    //#endif
    }

    //#if SPLIT
    // Staging of the K/V tile of keys [t, t + BK) as scaled hi and lo f16 parts, zero
    // past the last key.
    //#define STAGE_SPLIT
        //#unroll f $NPF
        {
            let i = lid + {f}u * WG;
            if i < BK * D4 {
                let kx = kr{f} * kscale;
                let vx = vr{f} * vscale;
                let kxh = hi4(kx);
                let vxh = hi4(vx);
                let kh = vec4<f16>(kxh);
                let kl = vec4<f16>(kx - kxh);
                let vh = vec4<f16>(vxh);
                let vl = vec4<f16>(vx - vxh);
                let so = (i / D4) * KSTR + 4u * (i % D4);
                //#unroll c 4
                kst[so + {c}u] = kh[{c}];
                kst2[so + {c}u] = kl[{c}];
                vst[so + {c}u] = vh[{c}];
                vst2[so + {c}u] = vl[{c}];
                //#end
            }
        }
        //#end
    //#enddef
    // Loads this invocation's share of the K/V tile at key `tl` into kr/vr (zero past
    // the last key).
    //#define LOAD_SPLIT
        //#unroll f $NPF
        {
            let i = lid + {f}u * WG;
            let key = tl + i / D4;
            kr{f} = vec4<f32>(0.0);
            vr{f} = vec4<f32>(0.0);
            if i < BK * D4 && key < p.k_end {
                let e = (kv0 + key) * kv_stride + kvh * D + 4u * (i % D4);
                kr{f} = vec4<f32>(k[p.k_off + e], k[p.k_off + e + 1u], k[p.k_off + e + 2u], k[p.k_off + e + 3u]);
                vr{f} = vec4<f32>(v[p.v_off + e], v[p.v_off + e + 1u], v[p.v_off + e + 2u], v[p.v_off + e + 3u]);
            }
        }
        //#end
    //#enddef
    //#define LOAD_SPLIT_T0
    {
        let tl = t0;
        //#use LOAD_SPLIT
    }
    //#enddef
    //#define LOAD_SPLIT_NEXT
        if t + BK < t1 {
            let tl = t + BK;
            //#use LOAD_SPLIT
        }
    //#enddef
    //#endif

    //#if SPLIT
    //#else
    // The f16 kernel's full K/V tiles: KV_LOAD fetches the tile whose first key is nt
    // (K_LOAD and V_LOAD: tk and tv), KV_STORE writes them to kst/vst; WIDE as 4-element
    // units, else as fragments (kpf/vpf, FPS of K and of V per subgroup). (coopLoad from storage becomes scalar 2-byte loads on NVIDIA's
    // driver, yet plain loads with element stores measured slower: BENCHMARKS.md.)
    //#if WIDE
    // Wide staging: invocation unit i of a tile (NPF per invocation) is elements
    // 4 (i % D4) .. +3 of the tile's key i / D4, one 8-byte load from storage and four
    // element stores at a 8-byte aligned offset of kst/vst (the rows are as in storage).
    // Unit indices: kbase4/vbase4 (the tensor's batch and head) + the tile's first key x
    // kv4 (the row stride in units) + wu{f} (the unit within the tile), nt / tk / tv the
    // tile's first key. The store offset is written as 4 x (...) (H100: 1-2 % faster at
    // head_dim 128 than (i / D4) * KSTR + 4 (i % D4)).
    //#define KV_LOAD
        //#unroll f $NPF
        {
            let i = lid + {f}u * WG;
            if i < BK * D4 {
                let u = nt * kv4 + wu{f};
                kpf{f} = k[kbase4 + u];
                vpf{f} = v[vbase4 + u];
            }
        }
        //#end
    //#enddef
    //#define KV_STORE
        //#unroll f $NPF
        {
            let i = lid + {f}u * WG;
            if i < BK * D4 {
                let so = 4u * ((i / D4) * (KSTR / 4u) + i % D4);
                //#if UNPACK
                //#use KV_UNITS_STORE
                //#else
                //#unroll c 4
                kst[so + {c}u] = kpf{f}[{c}];
                vst[so + {c}u] = vpf{f}[{c}];
                //#end
                //#endif
            }
        }
        //#end
    //#enddef
    //#define K_LOAD
        //#unroll f $NPF
        {
            let i = lid + {f}u * WG;
            if i < BK * D4 {
                kpf{f} = k[kbase4 + tk * kv4 + wu{f}];
            }
        }
        //#end
    //#enddef
    //#define V_LOAD
        //#unroll f $NPF
        {
            let i = lid + {f}u * WG;
            if i < BK * D4 {
                vpf{f} = v[vbase4 + tv * kv4 + wu{f}];
            }
        }
        //#end
    //#enddef
    //#define K_STORE
        //#unroll f $NPF
        {
            let i = lid + {f}u * WG;
            if i < BK * D4 {
                let so = 4u * ((i / D4) * (KSTR / 4u) + i % D4);
                //#if UNPACK
                //#unroll c 2
                {
                    let kx = unpack2x16float(kpf{f}[{c}]);
                    kst[so + 2u * {c}u] = f16(kx.x);
                    kst[so + 2u * {c}u + 1u] = f16(kx.y);
                }
                //#end
                //#else
                //#unroll c 4
                kst[so + {c}u] = kpf{f}[{c}];
                //#end
                //#endif
            }
        }
        //#end
    //#enddef
    //#else
    //#define KV_LOAD
        let kbn = (kv0 + nt) * kv_stride + kvh * D;
        //#unroll f $FPS
        {
            let fi = sg * FPS + {f}u;
            let fo = (fi / DT) * 16u * kv_stride + (fi % DT) * 16u;
            kpf{f} = coopLoad<coop_mat16x16<f16, B>>(&k[p.k_off + kbn + fo], kv_stride);
            vpf{f} = coopLoadT<coop_mat16x16<f16, B>>(&v[p.v_off + kbn + fo], kv_stride);
        }
        //#end
    //#enddef
    //#define KV_STORE
        //#unroll f $FPS
        {
            let fi = sg * FPS + {f}u;
            let so = (fi / DT) * 16u * KSTR + (fi % DT) * 16u;
            coopStore(kpf{f}, &kst[so], KSTR);
            coopStoreT(vpf{f}, &vst[so], KSTR);
        }
        //#end
    //#enddef
    // The pipelined loop's (PIPE) separate K and V loads (tiles at tk and tv), the
    // store of K alone, and S = Q K^T kept in registers (s{m}_{n}) until S_STORE.
    //#define K_LOAD
        let kbk = (kv0 + tk) * kv_stride + kvh * D;
        //#unroll f $FPS
        {
            let fi = sg * FPS + {f}u;
            let fo = (fi / DT) * 16u * kv_stride + (fi % DT) * 16u;
            kpf{f} = coopLoad<coop_mat16x16<f16, B>>(&k[p.k_off + kbk + fo], kv_stride);
        }
        //#end
    //#enddef
    //#define V_LOAD
        let kbv = (kv0 + tv) * kv_stride + kvh * D;
        //#unroll f $FPS
        {
            let fi = sg * FPS + {f}u;
            let fo = (fi / DT) * 16u * kv_stride + (fi % DT) * 16u;
            vpf{f} = coopLoadT<coop_mat16x16<f16, B>>(&v[p.v_off + kbv + fo], kv_stride);
        }
        //#end
    //#enddef
    //#define K_STORE
        //#unroll f $FPS
        {
            let fi = sg * FPS + {f}u;
            let so = (fi / DT) * 16u * KSTR + (fi % DT) * 16u;
            coopStore(kpf{f}, &kst[so], KSTR);
        }
        //#end
    //#enddef
    //#endif
    //#define S_MMA
        //#unroll n $KT
        //#unroll m $MQ
        s{m}_{n} = coop_mat16x16<f32, C>();
        //#end
        //#unroll d $DT
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[{n}u * 16u * KSTR + {d}u * 16u], KSTR);
            //#unroll m $MQ
            s{m}_{n} = coopMultiplyAdd(qf{m}_{d}, kf, s{m}_{n});
            //#end
        }
        //#end
        //#end
    //#enddef
    //#define S_STORE
        //#unroll n $KT
        //#unroll m $MQ
        coopStoreT(s{m}_{n}, &ss[sbase + {m}u * 16u * SS + {n}u * 16u], SS);
        //#end
        //#end
    //#enddef
    //#endif

    // The per-tile rescale flag (without MREF; the split kernel never has it): cleared at
    // the start of a tile; after the softmax, in the f16 loops, a tile whose row maxima
    // moved leaves the inner loop, where O is rescaled and the tile finished (P_READY).
    // With MREF a barrier makes P visible instead.
    //#define FLAG_RESET
        //#if MREF
        //#else
        if lid == 0u {
            rescale_flag[0] = 0u;
        }
        //#endif
    //#enddef
    //#define P_READY
        //#if MREF
        workgroupBarrier();
        //#else
        if workgroupUniformLoad(&rescale_flag)[0] != 0u {
            break;
        }
        //#endif
    //#enddef

    // One key tile: S = Q K^T, online softmax, O += P V (t = first key of the tile):
    // TILE_S, then RESCALE_O when a row's max moved, then TILE_PV.
    //#define TILE
        //#use TILE_S
        //#if MREF
        workgroupBarrier();
        //#else
        if workgroupUniformLoad(&rescale_flag)[0] != 0u {
            //#use RESCALE_O
        }
        //#endif
        //#use TILE_PV
    //#enddef

    //#define TILE_S

        // 1. S = Q K^T for this tile, stored row-major at stride SS. (ROLLN: the loop
        //    over the tile's 16-key blocks stays a loop, fewer fragments live at once.)
        // @S0
        //#if ROLLN
        for (var n = 0u; n < KT; n++) {
        //#else
        //#unroll nn $KT
        {
            let n = {nn}u;
        //#endif
            //#unroll m $MQ
            var s{m} = coop_mat16x16<f32, C>();
            //#end
            //#unroll d $DT
            {
                let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[n * 16u * KSTR + {d}u * 16u], KSTR);
                //#if SPLIT
                let kfl = coopLoad<coop_mat16x16<f16, B>>(&kst2[n * 16u * KSTR + {d}u * 16u], KSTR);
                //#unroll m $MQ
                s{m} = coopMultiplyAdd(ql{m}_{d}, kf, s{m});
                s{m} = coopMultiplyAdd(qf{m}_{d}, kfl, s{m});
                //#end
                //#endif
                //#unroll m $MQ
                s{m} = coopMultiplyAdd(qf{m}_{d}, kf, s{m});
                //#end
            }
            //#end
            //#unroll m $MQ
            coopStoreT(s{m}, &ss[sbase + {m}u * 16u * SS + n * 16u], SS);
            //#end
        }
        //#if ROLLN
        //#else
        //#end
        //#endif
        // @S1
        workgroupBarrier();
        //#use SOFTMAX
    //#enddef

    //#define SOFTMAX
        // 2. Online softmax on this tile, LPR lanes per row.
        // @SM0
        let srow = sbase + r * SS;
        // This lane's columns: one contiguous run of CPL, so its S reads and P writes
        // are contiguous too (the driver merges them into 16- and 8-byte accesses).
        let cf = sub * CPL;
        let tb = tile_bits(row, t, pi);
        // Keys t + c of this tile the row may see: c < nv (and the block mask's bit).
        let nv = max(lim, t) - t;
        var sv: array<f32, CPL>;
        //#if TREE
        // Four partial maxima and sums (shorter dependency chains).
        var tm = array<f32, 4>(NEG_BIG, NEG_BIG, NEG_BIG, NEG_BIG);
        var ls = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
        //#else
        var tmax = NEG_BIG;
        //#endif
        //#unroll i $CPL
        {
            let c = cf + {i}u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            //#if SPLIT
            sv[{i}] = select(NEG_BIG, ss[srow + c] * sfac, seen);
            //#else
            //#if SCALE_POS
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[{i}] = select(p.neg_inf, ss[srow + c], seen);
            //#else
            sv[{i}] = select(NEG_BIG, ss[srow + c] * p.scale_log2, seen);
            //#endif
            //#endif
            //#if TREE
            tm[{i} % 4] = max(tm[{i} % 4], sv[{i}]);
            //#else
            tmax = max(tmax, sv[{i}]);
            //#endif
        }
        //#end
        //#if TREE
        var tmax = max(max(tm[0], tm[1]), max(tm[2], tm[3]));
        //#endif
        var off = LPR / 2u;
        //#unroll i $LOG2LPR
        tmax = max(tmax, subgroupShuffleXor(tmax, off));
        off >>= 1u;
        //#end
        //#if SCALE_POS
        // In log2 units; a row with no visible key in this tile keeps NEG_BIG.
        tmax = select(NEG_BIG, tmax * p.scale_log2, tmax > NEG_BIG);
        //#endif
        //#if MREF
        // A fixed reference per row: the max of its first tile with a visible key. A tile
        // whose max exceeds it by more than PLIM marks the row (P would leave f16's
        // range), and the workgroup runs its keys again with the exact max (see MREF).
        m_true = max(m_true, tmax);
        m_used = select(m_used, tmax, m_used == NEG_BIG);
        over = over || tmax > m_used + PLIM;
        //#else
        let m_new = max(m_used, tmax);
        let need = m_new > m_used + RESCALE;
        var alpha = 1.0;
        if need {
            alpha = exp2(m_used - m_new);
            m_used = m_new;
            rescale_flag[0] = 1u;
        }
        //#endif
        var lsum = 0.0;
        let prow = pbase + r * PS;
        // Masked scores are NEG_BIG, so exp2(NEG_BIG - m) is 0 once the row has a finite
        // max; before that (m_used still NEG_BIG) subtract 0 instead.
        let mz = select(m_used, 0.0, m_used == NEG_BIG);
        //#unroll i $CPL
        {
            let c = cf + {i}u;
            //#if SCALE_POS
            let pv = exp2(fma(sv[{i}], p.scale_log2, -mz));
            //#else
            let pv = exp2(sv[{i}] - mz);
            //#endif
            //#if TREE
            ls[{i} % 4] += pv;
            //#else
            lsum += pv;
            //#endif
            //#if SPLIT
            // P scaled by PSPLIT (P <= 2^RESCALE, so P * PSPLIT <= 2^15): drivers may
            // flush f16 subnormals, which would drop the lo part of every P < 2^-3.
            let px = pv * PSPLIT;
            let ph = hi1(px);
            ps[prow + c] = f16(ph);
            ps2[prow + c] = f16(px - ph);
            //#else
            ps[prow + c] = f16(pv);
            //#endif
        }
        //#end
        //#if TREE
        lsum = (ls[0] + ls[1]) + (ls[2] + ls[3]);
        //#endif
        off = LPR / 2u;
        //#unroll i $LOG2LPR
        lsum += subgroupShuffleXor(lsum, off);
        off >>= 1u;
        //#end
        //#if MREF
        l += lsum;
        //#else
        l = l * alpha + lsum;
        if sub == 0u {
            rowv[vrow + r] = alpha;
        }
        //#endif
        // @SM1
        // @DEBUG_AFTER_P
    //#enddef

    // Rescale O where a row's max moved (rare after the first tiles): round trip through
    // this subgroup's S region, now free. Rows that kept their max have alpha = 1. Run
    // under a workgroup-uniform decision, as cooperative ops require.
    //#define RESCALE_O
            //#unroll m $MQ
            //#unroll d $DT
            coopStoreT(of{m}_{d}, &ss[sbase], 16u);
            workgroupBarrier();
            //#unroll e $EPL
            {
                let el = lane + {e}u * SG;
                ss[sbase + el] *= rowv[vrow + {m}u * 16u + el / 16u];
            }
            //#end
            workgroupBarrier();
            of{m}_{d} = coopLoadT<coop_mat16x16<f32, C>>(&ss[sbase], 16u);
            workgroupBarrier();
            //#end
            //#end
    //#enddef

    //#define TILE_PV
        // 3. O += P V.
        // @PV0
        //#if ROLLN
        for (var n = 0u; n < KT; n++) {
        //#else
        //#unroll nn $KT
        {
            let n = {nn}u;
        //#endif
            //#unroll m $MQ
            let pf{m} = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + {m}u * 16u * PS + n * 16u], PS);
            //#if SPLIT
            let pfl{m} = coopLoadT<coop_mat16x16<f16, A>>(&ps2[pbase + {m}u * 16u * PS + n * 16u], PS);
            //#endif
            //#end
            //#unroll d $DT
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + {d}u * 16u], KSTR);
                //#if SPLIT
                // The three products of this 16-key block go to a fresh accumulator,
                // added to O by an ordinary (round-to-nearest) f32 add: NVIDIA's tensor
                // cores truncate when they accumulate, and over N keys the bias grew as
                // N * 2^-24 (6e-5 relative error at N=16384 when O was the accumulator).
                let vfl = coopLoadT<coop_mat16x16<f16, B>>(&vst2[n * 16u * KSTR + {d}u * 16u], KSTR);
                //#unroll m $MQ
                {
                    var pvt = coopMultiplyAdd(pfl{m}, vf, coop_mat16x16<f32, C>());
                    pvt = coopMultiplyAdd(pf{m}, vfl, pvt);
                    pvt = coopMultiplyAdd(pf{m}, vf, pvt);
                    of{m}_{d} = of{m}_{d} + pvt;
                }
                //#end
                //#else
                //#unroll m $MQ
                of{m}_{d} = coopMultiplyAdd(pf{m}, vf, of{m}_{d});
                //#end
                //#endif
            }
            //#end
        }
        //#if ROLLN
        //#else
        //#end
        //#endif
        // @PV1
        workgroupBarrier();
    //#enddef

    //#if MREF
    if over {
        rescale_flag[1] = 1u;
    }
    if workgroupUniformLoad(&rescale_flag)[1] == 0u {
        break;
    }
    }
    //#endif

    // Outputs: O = acc / l (0 for rows that saw no key), LSE = (m + log2 l) ln 2.
    if sub == 0u {
        //#if SPLIT
        rowv[vrow + r] = select(0.0, 1.0 / l, l > 0.0) / (vscale * PSPLIT);
        //#else
        rowv[vrow + r] = select(0.0, 1.0 / l, l > 0.0);
        //#endif
        if valid {
            let li = p.lse_off + lse_row(b, h, row);
            lse[li] = select(p.neg_inf, (m_used + log2(l)) * p.ln2, l > 0.0);
        }
    }
    workgroupBarrier();
    //#unroll m $MQ
    //#unroll d $DT
    coopStoreT(of{m}_{d}, &ss[sbase], 16u);
    workgroupBarrier();
    //#unroll e $EPL
    {
        let el = lane + {e}u * SG;
        let rr = {m}u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + q_row(b, h, grow) * D + {d}u * 16u + el % 16u] = $IN(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    //#end
    workgroupBarrier();
    //#end
    //#end
}
