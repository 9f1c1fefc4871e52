// flash_matrix[("BK", "16"), ("CPL", "16"), ("DT", "4"), ("EPL", "8"), ("HEAD_DIM", "64"), ("IN", "f16"), ("KREG", "1152"), ("KSTR", "72"), ("KT", "1"), ("LOG2LPR", "0"), ("LPR", "1"), ("MQ", "2"), ("FPS", "1"), ("NPF", "2"), ("PREG", "768"), ("PS", "24"), ("RS", "32"), ("SG", "32"), ("SPLIT", "0"), ("SREG", "640"), ("SS", "20"), ("W", "4"), ("SCALE_POS", "1"), ("WIDE", "1"), ("UNPACK", "1"), ("SPARSE", "0"), ("ROLLN", "0"), ("TREE", "1"), ("MREF", "1"), ("PIPE", "1")]
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

const D: u32 = 64u;
const RS: u32 = 32u;
const W: u32 = 4u;
const SG: u32 = 32u;
const LPR: u32 = 1u;
const BK: u32 = 16u;
const SS: u32 = 20u;
const PS: u32 = 24u;
const SREG: u32 = 640u;
const CPL: u32 = 16u;
const PREG: u32 = 768u;
const KSTR: u32 = 72u;
const KREG: u32 = 1152u;
const D4: u32 = D / 4u;
const DT: u32 = 4u;
const KT: u32 = 1u;
const FPS: u32 = 1u;
const WG: u32 = W * SG;
const BQ: u32 = W * RS;
const RESCALE: f32 = 8.0;
// MREF: how far (log2 units) a row's max may rise above its reference in one pass.
const PLIM: f32 = 15.0;
// Scale of P in the split kernel (2^(15 - RESCALE)).
const PSPLIT: f32 = 128.0;
const NONE: u32 = 0xffffffffu;

// Shared by every flash kernel (pasted where a kernel says `//#include flash_common`).
// The parameter block mirrors `kernels::flash::FlashParams` field by field.

const LOG2E: f32 = 1.4426950408889634;
// Finite sentinel for "no score yet": exp2(NEG_BIG - finite) == 0, no inf arithmetic.
const NEG_BIG: f32 = -1.0e30;
// Partial-block index of a key span whose keys are all visible (no element mask).
const FULL: u32 = 0xffffffffu;

struct Params {
    seq_q: u32, seq_k: u32, heads: u32, kv_heads: u32,
    q_off: u32, k_off: u32, v_off: u32, o_off: u32,
    lse_off: u32, causal: u32, diag: i32, scale_log2: f32,
    q_pos0: u32, k_pos0: u32, neg_inf: f32, ln2: f32,
    k_begin: u32, k_end: u32, accumulate: u32, mask_log2b: u32,
    mask_nqb: u32, mask_heads: u32, mask_cols: u32, mask_words: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// End (exclusive) of the keys query row `row` of this chunk may see, within [0, k_end]:
// key j is visible iff k_pos0 + j <= q_pos0 + row + diag (causal), else all of them.
fn key_limit(row: u32) -> u32 {
    if p.causal == 0u {
        return p.k_end;
    }
    let last = i32(p.q_pos0 + row) + p.diag - i32(p.k_pos0) + 1;
    return u32(clamp(last, 0, i32(p.k_end)));
}

fn tile_bits(row: u32, t: u32, pi: u32) -> vec2<u32> {
    return vec2<u32>(0xffffffffu);
}

// Whether key j (j < 64) of a tile is set in the tile's bits.
fn tile_bit(bits: vec2<u32>, j: u32) -> bool {
    return ((select(bits.y, bits.x, j < 32u) >> (j & 31u)) & 1u) != 0u;
}

// Whether key t + j (j < 64) of a tile is visible: below `lim` (causal limit and span
// end) and set in the tile's bits.
fn visible(t: u32, j: u32, lim: u32, bits: vec2<u32>) -> bool {
    return t + j < lim && tile_bit(bits, j);
}

// Opens the key-range scope of the portable and subgroup kernels (they close it with
// one extra `}` after their tile loop): one iteration per span of the query block's
// mask row (block-sparse), or one over [k_begin, kend). Defines t0, t1, pi and lim
// (= min(klim, t1)); expects h, row0, kend and klim.

@group(0) @binding(1) var<storage, read> q: array<f16>;
// f16 K and V read as 8-byte units of 4 elements (their offsets are multiples of 4: see
// flash::matrix_wide). With UNPACK (where the adapter has SHADER_F16_IN_F32) a unit is
// two u32 of two f16 each, written to workgroup memory through unpack2x16float and f16
// conversions (on an H100 7 % faster at head_dim 64 than vec4<f16> units, whose four
// 2-byte stores the driver does not merge).
@group(0) @binding(2) var<storage, read> k: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> v: array<vec2<u32>>;

// Element c (0..3) of an 8-byte unit of four f16.
fn unit_elem(u: vec2<u32>, c: u32) -> f16 {
    let a = unpack2x16float(select(u.y, u.x, c < 2u));
    return f16(select(a.y, a.x, c % 2u == 0u));
}
@group(0) @binding(4) var<storage, read_write> o: array<f16>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

// K and V tiles (BK keys, row stride KSTR), zero past the last key, shared by the W
// subgroups.
var<workgroup> kst: array<f16, KREG>;
var<workgroup> vst: array<f16, BK * KSTR>;
var<workgroup> ss: array<f32, W * SREG>;
var<workgroup> ps: array<f16, W * PREG>;
var<workgroup> rowv: array<f32, W * RS>;
// Set when any row of the workgroup raised its max in this tile (read uniformly).
// An array, not a scalar: on NVIDIA's Vulkan driver (580) a scalar workgroup variable
// shifts the cooperative-matrix view of the other workgroup arrays by one element
// (measured with examples/coop_probe.rs).
var<workgroup> rescale_flag: array<u32, 4>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.y;
    let b = wg.z;
    let kvh = h / (p.heads / p.kv_heads);
    let sg = lid / SG;
    let lane = lid % SG;
    let r = lane / LPR;
    let sub = lane % LPR;
    let srow0 = wg.x * BQ + sg * RS;
    let row = srow0 + r;
    let valid = row < p.seq_q;
    let safe_row = min(row, p.seq_q - 1u);
    let klim = key_limit(safe_row);
    // Workgroup-uniform end of the keys any row here may see (written inline: naga
    // treats a function call's result as non-uniform, and cooperative ops need
    // uniform control flow).
    let last_row = min(wg.x * BQ + BQ, p.seq_q) - 1u;
    let causal_end = u32(clamp(i32(p.q_pos0 + last_row) + p.diag - i32(p.k_pos0) + 1, 0, i32(p.k_end)));
    let kend = select(p.k_end, causal_end, p.causal != 0u);
    // Keys below free_end are visible to every row here (the causal limit of the
    // workgroup's first row), so full tiles below it need no mask.
    let causal_first = u32(clamp(i32(p.q_pos0 + wg.x * BQ) + p.diag - i32(p.k_pos0) + 1, 0, i32(p.k_end)));
    let free_end = select(p.k_end, causal_first, p.causal != 0u);
    let q_stride = p.heads * D;
    let kv_stride = p.kv_heads * D;
    let sbase = sg * SREG;
    let pbase = sg * PREG;
    let vrow = sg * RS;

    // Q fragments stay in registers for the whole run. A full block is loaded straight
    // from storage; the last, partial block is staged in the K area with zero rows past
    // seq_q, so no fragment ever reads outside the tensor.
    var qf0_0: coop_mat16x16<f16, A>;
    var of0_0 = coop_mat16x16<f32, C>();
    var qf0_1: coop_mat16x16<f16, A>;
    var of0_1 = coop_mat16x16<f32, C>();
    var qf0_2: coop_mat16x16<f16, A>;
    var of0_2 = coop_mat16x16<f32, C>();
    var qf0_3: coop_mat16x16<f16, A>;
    var of0_3 = coop_mat16x16<f32, C>();
    var qf1_0: coop_mat16x16<f16, A>;
    var of1_0 = coop_mat16x16<f32, C>();
    var qf1_1: coop_mat16x16<f16, A>;
    var of1_1 = coop_mat16x16<f32, C>();
    var qf1_2: coop_mat16x16<f16, A>;
    var of1_2 = coop_mat16x16<f32, C>();
    var qf1_3: coop_mat16x16<f16, A>;
    var of1_3 = coop_mat16x16<f32, C>();
    if wg.x * BQ + BQ <= p.seq_q {
        let qb = p.q_off + ((b * p.seq_q + srow0) * p.heads + h) * D;
        qf0_0 = coopLoadT<coop_mat16x16<f16, A>>(&q[qb + 0u * 16u * q_stride + 0u * 16u], q_stride);
        qf0_1 = coopLoadT<coop_mat16x16<f16, A>>(&q[qb + 0u * 16u * q_stride + 1u * 16u], q_stride);
        qf0_2 = coopLoadT<coop_mat16x16<f16, A>>(&q[qb + 0u * 16u * q_stride + 2u * 16u], q_stride);
        qf0_3 = coopLoadT<coop_mat16x16<f16, A>>(&q[qb + 0u * 16u * q_stride + 3u * 16u], q_stride);
        qf1_0 = coopLoadT<coop_mat16x16<f16, A>>(&q[qb + 1u * 16u * q_stride + 0u * 16u], q_stride);
        qf1_1 = coopLoadT<coop_mat16x16<f16, A>>(&q[qb + 1u * 16u * q_stride + 1u * 16u], q_stride);
        qf1_2 = coopLoadT<coop_mat16x16<f16, A>>(&q[qb + 1u * 16u * q_stride + 2u * 16u], q_stride);
        qf1_3 = coopLoadT<coop_mat16x16<f16, A>>(&q[qb + 1u * 16u * q_stride + 3u * 16u], q_stride);
    } else {
        // Each subgroup stages its rows 16 columns at a time in its own P region.
        for (var i = lane; i < RS * 4u; i += SG) {
            let rr = i / 4u;
            let grow = srow0 + rr;
            var x = vec4<f16>(0.0);
            if grow < p.seq_q {
                let e = ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + 4u * (i % 4u) + p.q_off;
                x = vec4<f16>(q[e], q[e + 1u], q[e + 2u], q[e + 3u]);
            }
            let dst = pbase + rr * PS + 4u * (i % 4u);
            ps[dst + 0u] = x[0];
            ps[dst + 1u] = x[1];
            ps[dst + 2u] = x[2];
            ps[dst + 3u] = x[3];
        }
        workgroupBarrier();
        qf0_0 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 0u * 16u * PS], PS);
        qf1_0 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 1u * 16u * PS], PS);
        workgroupBarrier();
        for (var i = lane; i < RS * 4u; i += SG) {
            let rr = i / 4u;
            let grow = srow0 + rr;
            var x = vec4<f16>(0.0);
            if grow < p.seq_q {
                let e = ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + 4u * (i % 4u) + p.q_off;
                x = vec4<f16>(q[e], q[e + 1u], q[e + 2u], q[e + 3u]);
            }
            let dst = pbase + rr * PS + 4u * (i % 4u);
            ps[dst + 0u] = x[0];
            ps[dst + 1u] = x[1];
            ps[dst + 2u] = x[2];
            ps[dst + 3u] = x[3];
        }
        workgroupBarrier();
        qf0_1 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 0u * 16u * PS], PS);
        qf1_1 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 1u * 16u * PS], PS);
        workgroupBarrier();
        for (var i = lane; i < RS * 4u; i += SG) {
            let rr = i / 4u;
            let grow = srow0 + rr;
            var x = vec4<f16>(0.0);
            if grow < p.seq_q {
                let e = ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + 4u * (i % 4u) + p.q_off;
                x = vec4<f16>(q[e], q[e + 1u], q[e + 2u], q[e + 3u]);
            }
            let dst = pbase + rr * PS + 4u * (i % 4u);
            ps[dst + 0u] = x[0];
            ps[dst + 1u] = x[1];
            ps[dst + 2u] = x[2];
            ps[dst + 3u] = x[3];
        }
        workgroupBarrier();
        qf0_2 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 0u * 16u * PS], PS);
        qf1_2 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 1u * 16u * PS], PS);
        workgroupBarrier();
        for (var i = lane; i < RS * 4u; i += SG) {
            let rr = i / 4u;
            let grow = srow0 + rr;
            var x = vec4<f16>(0.0);
            if grow < p.seq_q {
                let e = ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + 4u * (i % 4u) + p.q_off;
                x = vec4<f16>(q[e], q[e + 1u], q[e + 2u], q[e + 3u]);
            }
            let dst = pbase + rr * PS + 4u * (i % 4u);
            ps[dst + 0u] = x[0];
            ps[dst + 1u] = x[1];
            ps[dst + 2u] = x[2];
            ps[dst + 3u] = x[3];
        }
        workgroupBarrier();
        qf0_3 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 0u * 16u * PS], PS);
        qf1_3 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 1u * 16u * PS], PS);
        workgroupBarrier();
    }

    var m_used = NEG_BIG;
    var l = 0.0;
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
    of0_0 = coop_mat16x16<f32, C>();
    of0_1 = coop_mat16x16<f32, C>();
    of0_2 = coop_mat16x16<f32, C>();
    of0_3 = coop_mat16x16<f32, C>();
    of1_0 = coop_mat16x16<f32, C>();
    of1_1 = coop_mat16x16<f32, C>();
    of1_2 = coop_mat16x16<f32, C>();
    of1_3 = coop_mat16x16<f32, C>();

    // Full K/V tiles are copied to workgroup memory as 16x16 fragments (FPS per
    // subgroup for K and for V), loaded from storage one tile ahead so global-memory
    // latency overlaps the previous tile's math. The last, partial tile is staged
    // element by element with zeros past the last key. (Element-wise f16 stores to
    // workgroup memory are slow on NVIDIA; fragment stores are not.) Cooperative ops
    // need control flow that naga can prove uniform, so the full tiles run in the loop
    // and the partial tile in an epilogue with the same body (block TILE).
    let kv4 = p.kv_heads * D4;
    let kbase4 = p.k_off / 4u + b * p.seq_k * kv4 + kvh * D4;
    let vbase4 = p.v_off / 4u + b * p.seq_k * kv4 + kvh * D4;
    var kpf0 = vec2<u32>();
    var vpf0 = vec2<u32>();
    let wu0 = ((lid + 0u * WG) / D4) * kv4 + (lid + 0u * WG) % D4;
    var kpf1 = vec2<u32>();
    var vpf1 = vec2<u32>();
    let wu1 = ((lid + 1u * WG) / D4) * kv4 + (lid + 1u * WG) % D4;
    // First key of the full tile already prefetched into kpf/vpf (NONE: none).
    var pre = NONE;
    {
        let t0 = p.k_begin;
        let t1 = kend;
        let pi = FULL;
        let nt0 = 0u;
        let next_full = false;
    let lim = min(klim, t1);
    let full_end = t0 + (max(t1, t0) - t0) / BK * BK;
    // The full tiles run in two phases: those before mask_start, which no row of the
    // workgroup sees only in part (below free_end, and the span has no element mask),
    // with a softmax that applies no mask (mask_on false), then the rest with it.
    let mask_start = select(t0, min(full_end, t0 + (max(free_end, t0) - t0) / BK * BK), pi == FULL);
    // (`for` runs at most once here: an `if` on values derived from the span loop's
    // counter would be non-uniform to naga, which does not track that the counter is
    // workgroup-uniform; a loop exit is not.)
    // Software-pipelined tile loop: the product S = Q K^T of the next tile is issued
    // while the softmax of this tile runs (independent work in one barrier interval, so
    // the tensor cores and the softmax's arithmetic overlap instead of taking turns), and
    // S needs no barrier of its own. K runs one tile ahead of V: the body for tile t
    // stores K(t+1) and V(t), prefetches K(t+2) and V(t+1) from storage (clamped to the
    // last full tile; the products of a tile past it are never used), and keeps S(t+1)
    // in registers until the softmax of t has read S(t) from workgroup memory.
    var t = t0;
    var s0_0 = coop_mat16x16<f32, C>();
    var s1_0 = coop_mat16x16<f32, C>();
    for (var once = full_end > t0; once; once = false) {
        let nt = t0;
        {
            let i = lid + 0u * WG;
            if i < BK * D4 {
                let u = nt * kv4 + wu0;
                kpf0 = k[kbase4 + u];
                vpf0 = v[vbase4 + u];
            }
        }
        {
            let i = lid + 1u * WG;
            if i < BK * D4 {
                let u = nt * kv4 + wu1;
                kpf1 = k[kbase4 + u];
                vpf1 = v[vbase4 + u];
            }
        }
        {
            let i = lid + 0u * WG;
            if i < BK * D4 {
                let so = 4u * ((i / D4) * (KSTR / 4u) + i % D4);
                {
                    let kx = unpack2x16float(kpf0[0]);
                    kst[so + 2u * 0u] = f16(kx.x);
                    kst[so + 2u * 0u + 1u] = f16(kx.y);
                }
                {
                    let kx = unpack2x16float(kpf0[1]);
                    kst[so + 2u * 1u] = f16(kx.x);
                    kst[so + 2u * 1u + 1u] = f16(kx.y);
                }
            }
        }
        {
            let i = lid + 1u * WG;
            if i < BK * D4 {
                let so = 4u * ((i / D4) * (KSTR / 4u) + i % D4);
                {
                    let kx = unpack2x16float(kpf1[0]);
                    kst[so + 2u * 0u] = f16(kx.x);
                    kst[so + 2u * 0u + 1u] = f16(kx.y);
                }
                {
                    let kx = unpack2x16float(kpf1[1]);
                    kst[so + 2u * 1u] = f16(kx.x);
                    kst[so + 2u * 1u + 1u] = f16(kx.y);
                }
            }
        }
        let tk = min(t0 + BK, full_end - BK);
        {
            let i = lid + 0u * WG;
            if i < BK * D4 {
                kpf0 = k[kbase4 + tk * kv4 + wu0];
            }
        }
        {
            let i = lid + 1u * WG;
            if i < BK * D4 {
                kpf1 = k[kbase4 + tk * kv4 + wu1];
            }
        }
        workgroupBarrier();
        s0_0 = coop_mat16x16<f32, C>();
        s1_0 = coop_mat16x16<f32, C>();
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[0u * 16u * KSTR + 0u * 16u], KSTR);
            s0_0 = coopMultiplyAdd(qf0_0, kf, s0_0);
            s1_0 = coopMultiplyAdd(qf1_0, kf, s1_0);
        }
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[0u * 16u * KSTR + 1u * 16u], KSTR);
            s0_0 = coopMultiplyAdd(qf0_1, kf, s0_0);
            s1_0 = coopMultiplyAdd(qf1_1, kf, s1_0);
        }
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[0u * 16u * KSTR + 2u * 16u], KSTR);
            s0_0 = coopMultiplyAdd(qf0_2, kf, s0_0);
            s1_0 = coopMultiplyAdd(qf1_2, kf, s1_0);
        }
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[0u * 16u * KSTR + 3u * 16u], KSTR);
            s0_0 = coopMultiplyAdd(qf0_3, kf, s0_0);
            s1_0 = coopMultiplyAdd(qf1_3, kf, s1_0);
        }
        coopStoreT(s0_0, &ss[sbase + 0u * 16u * SS + 0u * 16u], SS);
        coopStoreT(s1_0, &ss[sbase + 1u * 16u * SS + 0u * 16u], SS);
        workgroupBarrier();
    }
    {
        let mask_on = 0u == 1u;
        let pend = select(mask_start, full_end, mask_on);
        for (; t < pend;) {
            for (; t < pend; t += BK) {
        {
            let i = lid + 0u * WG;
            if i < BK * D4 {
                let so = 4u * ((i / D4) * (KSTR / 4u) + i % D4);
                {
                    let kx = unpack2x16float(kpf0[0]);
                    let vx = unpack2x16float(vpf0[0]);
                    kst[so + 2u * 0u] = f16(kx.x);
                    kst[so + 2u * 0u + 1u] = f16(kx.y);
                    vst[so + 2u * 0u] = f16(vx.x);
                    vst[so + 2u * 0u + 1u] = f16(vx.y);
                }
                {
                    let kx = unpack2x16float(kpf0[1]);
                    let vx = unpack2x16float(vpf0[1]);
                    kst[so + 2u * 1u] = f16(kx.x);
                    kst[so + 2u * 1u + 1u] = f16(kx.y);
                    vst[so + 2u * 1u] = f16(vx.x);
                    vst[so + 2u * 1u + 1u] = f16(vx.y);
                }
            }
        }
        {
            let i = lid + 1u * WG;
            if i < BK * D4 {
                let so = 4u * ((i / D4) * (KSTR / 4u) + i % D4);
                {
                    let kx = unpack2x16float(kpf1[0]);
                    let vx = unpack2x16float(vpf1[0]);
                    kst[so + 2u * 0u] = f16(kx.x);
                    kst[so + 2u * 0u + 1u] = f16(kx.y);
                    vst[so + 2u * 0u] = f16(vx.x);
                    vst[so + 2u * 0u + 1u] = f16(vx.y);
                }
                {
                    let kx = unpack2x16float(kpf1[1]);
                    let vx = unpack2x16float(vpf1[1]);
                    kst[so + 2u * 1u] = f16(kx.x);
                    kst[so + 2u * 1u + 1u] = f16(kx.y);
                    vst[so + 2u * 1u] = f16(vx.x);
                    vst[so + 2u * 1u + 1u] = f16(vx.y);
                }
            }
        }
                let tk = min(t + 2u * BK, full_end - BK);
                let tv = min(t + BK, full_end - BK);
        {
            let i = lid + 0u * WG;
            if i < BK * D4 {
                kpf0 = k[kbase4 + tk * kv4 + wu0];
            }
        }
        {
            let i = lid + 1u * WG;
            if i < BK * D4 {
                kpf1 = k[kbase4 + tk * kv4 + wu1];
            }
        }
        {
            let i = lid + 0u * WG;
            if i < BK * D4 {
                vpf0 = v[vbase4 + tv * kv4 + wu0];
            }
        }
        {
            let i = lid + 1u * WG;
            if i < BK * D4 {
                vpf1 = v[vbase4 + tv * kv4 + wu1];
            }
        }
                workgroupBarrier();
        s0_0 = coop_mat16x16<f32, C>();
        s1_0 = coop_mat16x16<f32, C>();
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[0u * 16u * KSTR + 0u * 16u], KSTR);
            s0_0 = coopMultiplyAdd(qf0_0, kf, s0_0);
            s1_0 = coopMultiplyAdd(qf1_0, kf, s1_0);
        }
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[0u * 16u * KSTR + 1u * 16u], KSTR);
            s0_0 = coopMultiplyAdd(qf0_1, kf, s0_0);
            s1_0 = coopMultiplyAdd(qf1_1, kf, s1_0);
        }
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[0u * 16u * KSTR + 2u * 16u], KSTR);
            s0_0 = coopMultiplyAdd(qf0_2, kf, s0_0);
            s1_0 = coopMultiplyAdd(qf1_2, kf, s1_0);
        }
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[0u * 16u * KSTR + 3u * 16u], KSTR);
            s0_0 = coopMultiplyAdd(qf0_3, kf, s0_0);
            s1_0 = coopMultiplyAdd(qf1_3, kf, s1_0);
        }
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
        // Four partial maxima and sums (shorter dependency chains).
        var tm = array<f32, 4>(NEG_BIG, NEG_BIG, NEG_BIG, NEG_BIG);
        var ls = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
        {
            let c = cf + 0u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[0] = select(p.neg_inf, ss[srow + c], seen);
            tm[0 % 4] = max(tm[0 % 4], sv[0]);
        }
        {
            let c = cf + 1u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[1] = select(p.neg_inf, ss[srow + c], seen);
            tm[1 % 4] = max(tm[1 % 4], sv[1]);
        }
        {
            let c = cf + 2u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[2] = select(p.neg_inf, ss[srow + c], seen);
            tm[2 % 4] = max(tm[2 % 4], sv[2]);
        }
        {
            let c = cf + 3u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[3] = select(p.neg_inf, ss[srow + c], seen);
            tm[3 % 4] = max(tm[3 % 4], sv[3]);
        }
        {
            let c = cf + 4u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[4] = select(p.neg_inf, ss[srow + c], seen);
            tm[4 % 4] = max(tm[4 % 4], sv[4]);
        }
        {
            let c = cf + 5u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[5] = select(p.neg_inf, ss[srow + c], seen);
            tm[5 % 4] = max(tm[5 % 4], sv[5]);
        }
        {
            let c = cf + 6u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[6] = select(p.neg_inf, ss[srow + c], seen);
            tm[6 % 4] = max(tm[6 % 4], sv[6]);
        }
        {
            let c = cf + 7u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[7] = select(p.neg_inf, ss[srow + c], seen);
            tm[7 % 4] = max(tm[7 % 4], sv[7]);
        }
        {
            let c = cf + 8u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[8] = select(p.neg_inf, ss[srow + c], seen);
            tm[8 % 4] = max(tm[8 % 4], sv[8]);
        }
        {
            let c = cf + 9u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[9] = select(p.neg_inf, ss[srow + c], seen);
            tm[9 % 4] = max(tm[9 % 4], sv[9]);
        }
        {
            let c = cf + 10u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[10] = select(p.neg_inf, ss[srow + c], seen);
            tm[10 % 4] = max(tm[10 % 4], sv[10]);
        }
        {
            let c = cf + 11u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[11] = select(p.neg_inf, ss[srow + c], seen);
            tm[11 % 4] = max(tm[11 % 4], sv[11]);
        }
        {
            let c = cf + 12u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[12] = select(p.neg_inf, ss[srow + c], seen);
            tm[12 % 4] = max(tm[12 % 4], sv[12]);
        }
        {
            let c = cf + 13u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[13] = select(p.neg_inf, ss[srow + c], seen);
            tm[13 % 4] = max(tm[13 % 4], sv[13]);
        }
        {
            let c = cf + 14u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[14] = select(p.neg_inf, ss[srow + c], seen);
            tm[14 % 4] = max(tm[14 % 4], sv[14]);
        }
        {
            let c = cf + 15u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[15] = select(p.neg_inf, ss[srow + c], seen);
            tm[15 % 4] = max(tm[15 % 4], sv[15]);
        }
        var tmax = max(max(tm[0], tm[1]), max(tm[2], tm[3]));
        var off = LPR / 2u;
        // In log2 units; a row with no visible key in this tile keeps NEG_BIG.
        tmax = select(NEG_BIG, tmax * p.scale_log2, tmax > NEG_BIG);
        // A fixed reference per row: the max of its first tile with a visible key. A tile
        // whose max exceeds it by more than PLIM marks the row (P would leave f16's
        // range), and the workgroup runs its keys again with the exact max (see MREF).
        m_true = max(m_true, tmax);
        m_used = select(m_used, tmax, m_used == NEG_BIG);
        over = over || tmax > m_used + PLIM;
        var lsum = 0.0;
        let prow = pbase + r * PS;
        // Masked scores are NEG_BIG, so exp2(NEG_BIG - m) is 0 once the row has a finite
        // max; before that (m_used still NEG_BIG) subtract 0 instead.
        let mz = select(m_used, 0.0, m_used == NEG_BIG);
        {
            let c = cf + 0u;
            let pv = exp2(fma(sv[0], p.scale_log2, -mz));
            ls[0 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 1u;
            let pv = exp2(fma(sv[1], p.scale_log2, -mz));
            ls[1 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 2u;
            let pv = exp2(fma(sv[2], p.scale_log2, -mz));
            ls[2 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 3u;
            let pv = exp2(fma(sv[3], p.scale_log2, -mz));
            ls[3 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 4u;
            let pv = exp2(fma(sv[4], p.scale_log2, -mz));
            ls[4 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 5u;
            let pv = exp2(fma(sv[5], p.scale_log2, -mz));
            ls[5 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 6u;
            let pv = exp2(fma(sv[6], p.scale_log2, -mz));
            ls[6 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 7u;
            let pv = exp2(fma(sv[7], p.scale_log2, -mz));
            ls[7 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 8u;
            let pv = exp2(fma(sv[8], p.scale_log2, -mz));
            ls[8 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 9u;
            let pv = exp2(fma(sv[9], p.scale_log2, -mz));
            ls[9 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 10u;
            let pv = exp2(fma(sv[10], p.scale_log2, -mz));
            ls[10 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 11u;
            let pv = exp2(fma(sv[11], p.scale_log2, -mz));
            ls[11 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 12u;
            let pv = exp2(fma(sv[12], p.scale_log2, -mz));
            ls[12 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 13u;
            let pv = exp2(fma(sv[13], p.scale_log2, -mz));
            ls[13 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 14u;
            let pv = exp2(fma(sv[14], p.scale_log2, -mz));
            ls[14 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 15u;
            let pv = exp2(fma(sv[15], p.scale_log2, -mz));
            ls[15 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        lsum = (ls[0] + ls[1]) + (ls[2] + ls[3]);
        off = LPR / 2u;
        l += lsum;
        // @SM1
        // @DEBUG_AFTER_P
                workgroupBarrier();
        coopStoreT(s0_0, &ss[sbase + 0u * 16u * SS + 0u * 16u], SS);
        coopStoreT(s1_0, &ss[sbase + 1u * 16u * SS + 0u * 16u], SS);
        // 3. O += P V.
        // @PV0
        {
            let n = 0u;
            let pf0 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 0u * 16u * PS + n * 16u], PS);
            let pf1 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 1u * 16u * PS + n * 16u], PS);
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + 0u * 16u], KSTR);
                of0_0 = coopMultiplyAdd(pf0, vf, of0_0);
                of1_0 = coopMultiplyAdd(pf1, vf, of1_0);
            }
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + 1u * 16u], KSTR);
                of0_1 = coopMultiplyAdd(pf0, vf, of0_1);
                of1_1 = coopMultiplyAdd(pf1, vf, of1_1);
            }
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + 2u * 16u], KSTR);
                of0_2 = coopMultiplyAdd(pf0, vf, of0_2);
                of1_2 = coopMultiplyAdd(pf1, vf, of1_2);
            }
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + 3u * 16u], KSTR);
                of0_3 = coopMultiplyAdd(pf0, vf, of0_3);
                of1_3 = coopMultiplyAdd(pf1, vf, of1_3);
            }
        }
        // @PV1
        workgroupBarrier();
            }
        }
    }
    {
        let mask_on = 1u == 1u;
        let pend = select(mask_start, full_end, mask_on);
        for (; t < pend;) {
            for (; t < pend; t += BK) {
        {
            let i = lid + 0u * WG;
            if i < BK * D4 {
                let so = 4u * ((i / D4) * (KSTR / 4u) + i % D4);
                {
                    let kx = unpack2x16float(kpf0[0]);
                    let vx = unpack2x16float(vpf0[0]);
                    kst[so + 2u * 0u] = f16(kx.x);
                    kst[so + 2u * 0u + 1u] = f16(kx.y);
                    vst[so + 2u * 0u] = f16(vx.x);
                    vst[so + 2u * 0u + 1u] = f16(vx.y);
                }
                {
                    let kx = unpack2x16float(kpf0[1]);
                    let vx = unpack2x16float(vpf0[1]);
                    kst[so + 2u * 1u] = f16(kx.x);
                    kst[so + 2u * 1u + 1u] = f16(kx.y);
                    vst[so + 2u * 1u] = f16(vx.x);
                    vst[so + 2u * 1u + 1u] = f16(vx.y);
                }
            }
        }
        {
            let i = lid + 1u * WG;
            if i < BK * D4 {
                let so = 4u * ((i / D4) * (KSTR / 4u) + i % D4);
                {
                    let kx = unpack2x16float(kpf1[0]);
                    let vx = unpack2x16float(vpf1[0]);
                    kst[so + 2u * 0u] = f16(kx.x);
                    kst[so + 2u * 0u + 1u] = f16(kx.y);
                    vst[so + 2u * 0u] = f16(vx.x);
                    vst[so + 2u * 0u + 1u] = f16(vx.y);
                }
                {
                    let kx = unpack2x16float(kpf1[1]);
                    let vx = unpack2x16float(vpf1[1]);
                    kst[so + 2u * 1u] = f16(kx.x);
                    kst[so + 2u * 1u + 1u] = f16(kx.y);
                    vst[so + 2u * 1u] = f16(vx.x);
                    vst[so + 2u * 1u + 1u] = f16(vx.y);
                }
            }
        }
                let tk = min(t + 2u * BK, full_end - BK);
                let tv = min(t + BK, full_end - BK);
        {
            let i = lid + 0u * WG;
            if i < BK * D4 {
                kpf0 = k[kbase4 + tk * kv4 + wu0];
            }
        }
        {
            let i = lid + 1u * WG;
            if i < BK * D4 {
                kpf1 = k[kbase4 + tk * kv4 + wu1];
            }
        }
        {
            let i = lid + 0u * WG;
            if i < BK * D4 {
                vpf0 = v[vbase4 + tv * kv4 + wu0];
            }
        }
        {
            let i = lid + 1u * WG;
            if i < BK * D4 {
                vpf1 = v[vbase4 + tv * kv4 + wu1];
            }
        }
                workgroupBarrier();
        s0_0 = coop_mat16x16<f32, C>();
        s1_0 = coop_mat16x16<f32, C>();
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[0u * 16u * KSTR + 0u * 16u], KSTR);
            s0_0 = coopMultiplyAdd(qf0_0, kf, s0_0);
            s1_0 = coopMultiplyAdd(qf1_0, kf, s1_0);
        }
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[0u * 16u * KSTR + 1u * 16u], KSTR);
            s0_0 = coopMultiplyAdd(qf0_1, kf, s0_0);
            s1_0 = coopMultiplyAdd(qf1_1, kf, s1_0);
        }
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[0u * 16u * KSTR + 2u * 16u], KSTR);
            s0_0 = coopMultiplyAdd(qf0_2, kf, s0_0);
            s1_0 = coopMultiplyAdd(qf1_2, kf, s1_0);
        }
        {
            let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[0u * 16u * KSTR + 3u * 16u], KSTR);
            s0_0 = coopMultiplyAdd(qf0_3, kf, s0_0);
            s1_0 = coopMultiplyAdd(qf1_3, kf, s1_0);
        }
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
        // Four partial maxima and sums (shorter dependency chains).
        var tm = array<f32, 4>(NEG_BIG, NEG_BIG, NEG_BIG, NEG_BIG);
        var ls = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
        {
            let c = cf + 0u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[0] = select(p.neg_inf, ss[srow + c], seen);
            tm[0 % 4] = max(tm[0 % 4], sv[0]);
        }
        {
            let c = cf + 1u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[1] = select(p.neg_inf, ss[srow + c], seen);
            tm[1 % 4] = max(tm[1 % 4], sv[1]);
        }
        {
            let c = cf + 2u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[2] = select(p.neg_inf, ss[srow + c], seen);
            tm[2 % 4] = max(tm[2 % 4], sv[2]);
        }
        {
            let c = cf + 3u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[3] = select(p.neg_inf, ss[srow + c], seen);
            tm[3 % 4] = max(tm[3 % 4], sv[3]);
        }
        {
            let c = cf + 4u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[4] = select(p.neg_inf, ss[srow + c], seen);
            tm[4 % 4] = max(tm[4 % 4], sv[4]);
        }
        {
            let c = cf + 5u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[5] = select(p.neg_inf, ss[srow + c], seen);
            tm[5 % 4] = max(tm[5 % 4], sv[5]);
        }
        {
            let c = cf + 6u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[6] = select(p.neg_inf, ss[srow + c], seen);
            tm[6 % 4] = max(tm[6 % 4], sv[6]);
        }
        {
            let c = cf + 7u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[7] = select(p.neg_inf, ss[srow + c], seen);
            tm[7 % 4] = max(tm[7 % 4], sv[7]);
        }
        {
            let c = cf + 8u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[8] = select(p.neg_inf, ss[srow + c], seen);
            tm[8 % 4] = max(tm[8 % 4], sv[8]);
        }
        {
            let c = cf + 9u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[9] = select(p.neg_inf, ss[srow + c], seen);
            tm[9 % 4] = max(tm[9 % 4], sv[9]);
        }
        {
            let c = cf + 10u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[10] = select(p.neg_inf, ss[srow + c], seen);
            tm[10 % 4] = max(tm[10 % 4], sv[10]);
        }
        {
            let c = cf + 11u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[11] = select(p.neg_inf, ss[srow + c], seen);
            tm[11 % 4] = max(tm[11 % 4], sv[11]);
        }
        {
            let c = cf + 12u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[12] = select(p.neg_inf, ss[srow + c], seen);
            tm[12 % 4] = max(tm[12 % 4], sv[12]);
        }
        {
            let c = cf + 13u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[13] = select(p.neg_inf, ss[srow + c], seen);
            tm[13 % 4] = max(tm[13 % 4], sv[13]);
        }
        {
            let c = cf + 14u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[14] = select(p.neg_inf, ss[srow + c], seen);
            tm[14 % 4] = max(tm[14 % 4], sv[14]);
        }
        {
            let c = cf + 15u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[15] = select(p.neg_inf, ss[srow + c], seen);
            tm[15 % 4] = max(tm[15 % 4], sv[15]);
        }
        var tmax = max(max(tm[0], tm[1]), max(tm[2], tm[3]));
        var off = LPR / 2u;
        // In log2 units; a row with no visible key in this tile keeps NEG_BIG.
        tmax = select(NEG_BIG, tmax * p.scale_log2, tmax > NEG_BIG);
        // A fixed reference per row: the max of its first tile with a visible key. A tile
        // whose max exceeds it by more than PLIM marks the row (P would leave f16's
        // range), and the workgroup runs its keys again with the exact max (see MREF).
        m_true = max(m_true, tmax);
        m_used = select(m_used, tmax, m_used == NEG_BIG);
        over = over || tmax > m_used + PLIM;
        var lsum = 0.0;
        let prow = pbase + r * PS;
        // Masked scores are NEG_BIG, so exp2(NEG_BIG - m) is 0 once the row has a finite
        // max; before that (m_used still NEG_BIG) subtract 0 instead.
        let mz = select(m_used, 0.0, m_used == NEG_BIG);
        {
            let c = cf + 0u;
            let pv = exp2(fma(sv[0], p.scale_log2, -mz));
            ls[0 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 1u;
            let pv = exp2(fma(sv[1], p.scale_log2, -mz));
            ls[1 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 2u;
            let pv = exp2(fma(sv[2], p.scale_log2, -mz));
            ls[2 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 3u;
            let pv = exp2(fma(sv[3], p.scale_log2, -mz));
            ls[3 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 4u;
            let pv = exp2(fma(sv[4], p.scale_log2, -mz));
            ls[4 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 5u;
            let pv = exp2(fma(sv[5], p.scale_log2, -mz));
            ls[5 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 6u;
            let pv = exp2(fma(sv[6], p.scale_log2, -mz));
            ls[6 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 7u;
            let pv = exp2(fma(sv[7], p.scale_log2, -mz));
            ls[7 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 8u;
            let pv = exp2(fma(sv[8], p.scale_log2, -mz));
            ls[8 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 9u;
            let pv = exp2(fma(sv[9], p.scale_log2, -mz));
            ls[9 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 10u;
            let pv = exp2(fma(sv[10], p.scale_log2, -mz));
            ls[10 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 11u;
            let pv = exp2(fma(sv[11], p.scale_log2, -mz));
            ls[11 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 12u;
            let pv = exp2(fma(sv[12], p.scale_log2, -mz));
            ls[12 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 13u;
            let pv = exp2(fma(sv[13], p.scale_log2, -mz));
            ls[13 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 14u;
            let pv = exp2(fma(sv[14], p.scale_log2, -mz));
            ls[14 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 15u;
            let pv = exp2(fma(sv[15], p.scale_log2, -mz));
            ls[15 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        lsum = (ls[0] + ls[1]) + (ls[2] + ls[3]);
        off = LPR / 2u;
        l += lsum;
        // @SM1
        // @DEBUG_AFTER_P
                workgroupBarrier();
        coopStoreT(s0_0, &ss[sbase + 0u * 16u * SS + 0u * 16u], SS);
        coopStoreT(s1_0, &ss[sbase + 1u * 16u * SS + 0u * 16u], SS);
        // 3. O += P V.
        // @PV0
        {
            let n = 0u;
            let pf0 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 0u * 16u * PS + n * 16u], PS);
            let pf1 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 1u * 16u * PS + n * 16u], PS);
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + 0u * 16u], KSTR);
                of0_0 = coopMultiplyAdd(pf0, vf, of0_0);
                of1_0 = coopMultiplyAdd(pf1, vf, of1_0);
            }
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + 1u * 16u], KSTR);
                of0_1 = coopMultiplyAdd(pf0, vf, of0_1);
                of1_1 = coopMultiplyAdd(pf1, vf, of1_1);
            }
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + 2u * 16u], KSTR);
                of0_2 = coopMultiplyAdd(pf0, vf, of0_2);
                of1_2 = coopMultiplyAdd(pf1, vf, of1_2);
            }
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + 3u * 16u], KSTR);
                of0_3 = coopMultiplyAdd(pf0, vf, of0_3);
                of1_3 = coopMultiplyAdd(pf1, vf, of1_3);
            }
        }
        // @PV1
        workgroupBarrier();
            }
        }
    }

    pre = select(NONE, nt0, full_end > t0 && next_full);

    for (var once = full_end < t1; once; once = false) {
        let t = full_end;
        if lid == 0u {
            rescale_flag[0] = 0u;
        }
        for (var i = lid; i < BK * D; i += WG) {
            let key = t + i / D;
            var kx = f16(0.0);
            var vx = f16(0.0);
            if key < p.k_end {
                let e = (b * p.seq_k + key) * kv_stride + kvh * D + i % D;
                kx = unit_elem(k[p.k_off / 4u + e / 4u], e % 4u);
                vx = unit_elem(v[p.v_off / 4u + e / 4u], e % 4u);
            }
            kst[(i / D) * KSTR + i % D] = kx;
            vst[(i / D) * KSTR + i % D] = vx;
        }
        workgroupBarrier();
        let mask_on = true;

        // 1. S = Q K^T for this tile, stored row-major at stride SS. (ROLLN: the loop
        //    over the tile's 16-key blocks stays a loop, fewer fragments live at once.)
        // @S0
        {
            let n = 0u;
            var s0 = coop_mat16x16<f32, C>();
            var s1 = coop_mat16x16<f32, C>();
            {
                let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[n * 16u * KSTR + 0u * 16u], KSTR);
                s0 = coopMultiplyAdd(qf0_0, kf, s0);
                s1 = coopMultiplyAdd(qf1_0, kf, s1);
            }
            {
                let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[n * 16u * KSTR + 1u * 16u], KSTR);
                s0 = coopMultiplyAdd(qf0_1, kf, s0);
                s1 = coopMultiplyAdd(qf1_1, kf, s1);
            }
            {
                let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[n * 16u * KSTR + 2u * 16u], KSTR);
                s0 = coopMultiplyAdd(qf0_2, kf, s0);
                s1 = coopMultiplyAdd(qf1_2, kf, s1);
            }
            {
                let kf = coopLoad<coop_mat16x16<f16, B>>(&kst[n * 16u * KSTR + 3u * 16u], KSTR);
                s0 = coopMultiplyAdd(qf0_3, kf, s0);
                s1 = coopMultiplyAdd(qf1_3, kf, s1);
            }
            coopStoreT(s0, &ss[sbase + 0u * 16u * SS + n * 16u], SS);
            coopStoreT(s1, &ss[sbase + 1u * 16u * SS + n * 16u], SS);
        }
        // @S1
        workgroupBarrier();
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
        // Four partial maxima and sums (shorter dependency chains).
        var tm = array<f32, 4>(NEG_BIG, NEG_BIG, NEG_BIG, NEG_BIG);
        var ls = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
        {
            let c = cf + 0u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[0] = select(p.neg_inf, ss[srow + c], seen);
            tm[0 % 4] = max(tm[0 % 4], sv[0]);
        }
        {
            let c = cf + 1u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[1] = select(p.neg_inf, ss[srow + c], seen);
            tm[1 % 4] = max(tm[1 % 4], sv[1]);
        }
        {
            let c = cf + 2u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[2] = select(p.neg_inf, ss[srow + c], seen);
            tm[2 % 4] = max(tm[2 % 4], sv[2]);
        }
        {
            let c = cf + 3u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[3] = select(p.neg_inf, ss[srow + c], seen);
            tm[3 % 4] = max(tm[3 % 4], sv[3]);
        }
        {
            let c = cf + 4u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[4] = select(p.neg_inf, ss[srow + c], seen);
            tm[4 % 4] = max(tm[4 % 4], sv[4]);
        }
        {
            let c = cf + 5u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[5] = select(p.neg_inf, ss[srow + c], seen);
            tm[5 % 4] = max(tm[5 % 4], sv[5]);
        }
        {
            let c = cf + 6u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[6] = select(p.neg_inf, ss[srow + c], seen);
            tm[6 % 4] = max(tm[6 % 4], sv[6]);
        }
        {
            let c = cf + 7u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[7] = select(p.neg_inf, ss[srow + c], seen);
            tm[7 % 4] = max(tm[7 % 4], sv[7]);
        }
        {
            let c = cf + 8u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[8] = select(p.neg_inf, ss[srow + c], seen);
            tm[8 % 4] = max(tm[8 % 4], sv[8]);
        }
        {
            let c = cf + 9u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[9] = select(p.neg_inf, ss[srow + c], seen);
            tm[9 % 4] = max(tm[9 % 4], sv[9]);
        }
        {
            let c = cf + 10u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[10] = select(p.neg_inf, ss[srow + c], seen);
            tm[10 % 4] = max(tm[10 % 4], sv[10]);
        }
        {
            let c = cf + 11u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[11] = select(p.neg_inf, ss[srow + c], seen);
            tm[11 % 4] = max(tm[11 % 4], sv[11]);
        }
        {
            let c = cf + 12u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[12] = select(p.neg_inf, ss[srow + c], seen);
            tm[12 % 4] = max(tm[12 % 4], sv[12]);
        }
        {
            let c = cf + 13u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[13] = select(p.neg_inf, ss[srow + c], seen);
            tm[13 % 4] = max(tm[13 % 4], sv[13]);
        }
        {
            let c = cf + 14u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[14] = select(p.neg_inf, ss[srow + c], seen);
            tm[14 % 4] = max(tm[14 % 4], sv[14]);
        }
        {
            let c = cf + 15u;
            let seen = !mask_on || (c < nv && tile_bit(tb, c));
            // Raw scores (scale > 0: the max commutes with the scale, applied below once
            // per row and per score inside the exponent's FMA); -inf where masked, so the
            // exponent is -inf for any positive scale.
            sv[15] = select(p.neg_inf, ss[srow + c], seen);
            tm[15 % 4] = max(tm[15 % 4], sv[15]);
        }
        var tmax = max(max(tm[0], tm[1]), max(tm[2], tm[3]));
        var off = LPR / 2u;
        // In log2 units; a row with no visible key in this tile keeps NEG_BIG.
        tmax = select(NEG_BIG, tmax * p.scale_log2, tmax > NEG_BIG);
        // A fixed reference per row: the max of its first tile with a visible key. A tile
        // whose max exceeds it by more than PLIM marks the row (P would leave f16's
        // range), and the workgroup runs its keys again with the exact max (see MREF).
        m_true = max(m_true, tmax);
        m_used = select(m_used, tmax, m_used == NEG_BIG);
        over = over || tmax > m_used + PLIM;
        var lsum = 0.0;
        let prow = pbase + r * PS;
        // Masked scores are NEG_BIG, so exp2(NEG_BIG - m) is 0 once the row has a finite
        // max; before that (m_used still NEG_BIG) subtract 0 instead.
        let mz = select(m_used, 0.0, m_used == NEG_BIG);
        {
            let c = cf + 0u;
            let pv = exp2(fma(sv[0], p.scale_log2, -mz));
            ls[0 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 1u;
            let pv = exp2(fma(sv[1], p.scale_log2, -mz));
            ls[1 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 2u;
            let pv = exp2(fma(sv[2], p.scale_log2, -mz));
            ls[2 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 3u;
            let pv = exp2(fma(sv[3], p.scale_log2, -mz));
            ls[3 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 4u;
            let pv = exp2(fma(sv[4], p.scale_log2, -mz));
            ls[4 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 5u;
            let pv = exp2(fma(sv[5], p.scale_log2, -mz));
            ls[5 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 6u;
            let pv = exp2(fma(sv[6], p.scale_log2, -mz));
            ls[6 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 7u;
            let pv = exp2(fma(sv[7], p.scale_log2, -mz));
            ls[7 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 8u;
            let pv = exp2(fma(sv[8], p.scale_log2, -mz));
            ls[8 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 9u;
            let pv = exp2(fma(sv[9], p.scale_log2, -mz));
            ls[9 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 10u;
            let pv = exp2(fma(sv[10], p.scale_log2, -mz));
            ls[10 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 11u;
            let pv = exp2(fma(sv[11], p.scale_log2, -mz));
            ls[11 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 12u;
            let pv = exp2(fma(sv[12], p.scale_log2, -mz));
            ls[12 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 13u;
            let pv = exp2(fma(sv[13], p.scale_log2, -mz));
            ls[13 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 14u;
            let pv = exp2(fma(sv[14], p.scale_log2, -mz));
            ls[14 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        {
            let c = cf + 15u;
            let pv = exp2(fma(sv[15], p.scale_log2, -mz));
            ls[15 % 4] += pv;
            ps[prow + c] = f16(pv);
        }
        lsum = (ls[0] + ls[1]) + (ls[2] + ls[3]);
        off = LPR / 2u;
        l += lsum;
        // @SM1
        // @DEBUG_AFTER_P
        workgroupBarrier();
        // 3. O += P V.
        // @PV0
        {
            let n = 0u;
            let pf0 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 0u * 16u * PS + n * 16u], PS);
            let pf1 = coopLoadT<coop_mat16x16<f16, A>>(&ps[pbase + 1u * 16u * PS + n * 16u], PS);
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + 0u * 16u], KSTR);
                of0_0 = coopMultiplyAdd(pf0, vf, of0_0);
                of1_0 = coopMultiplyAdd(pf1, vf, of1_0);
            }
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + 1u * 16u], KSTR);
                of0_1 = coopMultiplyAdd(pf0, vf, of0_1);
                of1_1 = coopMultiplyAdd(pf1, vf, of1_1);
            }
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + 2u * 16u], KSTR);
                of0_2 = coopMultiplyAdd(pf0, vf, of0_2);
                of1_2 = coopMultiplyAdd(pf1, vf, of1_2);
            }
            {
                let vf = coopLoadT<coop_mat16x16<f16, B>>(&vst[n * 16u * KSTR + 3u * 16u], KSTR);
                of0_3 = coopMultiplyAdd(pf0, vf, of0_3);
                of1_3 = coopMultiplyAdd(pf1, vf, of1_3);
            }
        }
        // @PV1
        workgroupBarrier();
    }
    }


    // The f16 kernel's full K/V tiles: KV_LOAD fetches the tile whose first key is nt
    // (K_LOAD and V_LOAD: tk and tv), KV_STORE writes them to kst/vst; WIDE as 4-element
    // units, else as fragments (kpf/vpf, FPS of K and of V per subgroup). (coopLoad from storage becomes scalar 2-byte loads on NVIDIA's
    // driver, yet plain loads with element stores measured slower: BENCHMARKS.md.)
    // Wide staging: invocation unit i of a tile (NPF per invocation) is elements
    // 4 (i % D4) .. +3 of the tile's key i / D4, one 8-byte load from storage and four
    // element stores at a 8-byte aligned offset of kst/vst (the rows are as in storage).
    // Unit indices: kbase4/vbase4 (the tensor's batch and head) + the tile's first key x
    // kv4 (the row stride in units) + wu{f} (the unit within the tile), nt / tk / tv the
    // tile's first key. The store offset is written as 4 x (...) (H100: 1-2 % faster at
    // head_dim 128 than (i / D4) * KSTR + 4 (i % D4)).

    // One key tile: S = Q K^T, online softmax, O += P V (t = first key of the tile):
    // TILE_S, then RESCALE_O when a row's max moved, then TILE_PV.



    // Rescale O where a row's max moved (rare after the first tiles): round trip through
    // this subgroup's S region, now free. Rows that kept their max have alpha = 1. Run
    // under a workgroup-uniform decision, as cooperative ops require.


    if over {
        rescale_flag[1] = 1u;
    }
    if workgroupUniformLoad(&rescale_flag)[1] == 0u {
        break;
    }
    }

    // Outputs: O = acc / l (0 for rows that saw no key), LSE = (m + log2 l) ln 2.
    if sub == 0u {
        rowv[vrow + r] = select(0.0, 1.0 / l, l > 0.0);
        if valid {
            let li = p.lse_off + (b * p.heads + h) * p.seq_q + row;
            lse[li] = select(p.neg_inf, (m_used + log2(l)) * p.ln2, l > 0.0);
        }
    }
    workgroupBarrier();
    coopStoreT(of0_0, &ss[sbase], 16u);
    workgroupBarrier();
    {
        let el = lane + 0u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 1u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 2u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 3u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 4u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 5u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 6u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 7u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    workgroupBarrier();
    coopStoreT(of0_1, &ss[sbase], 16u);
    workgroupBarrier();
    {
        let el = lane + 0u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 1u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 2u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 3u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 4u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 5u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 6u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 7u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    workgroupBarrier();
    coopStoreT(of0_2, &ss[sbase], 16u);
    workgroupBarrier();
    {
        let el = lane + 0u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 1u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 2u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 3u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 4u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 5u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 6u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 7u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    workgroupBarrier();
    coopStoreT(of0_3, &ss[sbase], 16u);
    workgroupBarrier();
    {
        let el = lane + 0u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 1u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 2u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 3u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 4u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 5u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 6u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 7u * SG;
        let rr = 0u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    workgroupBarrier();
    coopStoreT(of1_0, &ss[sbase], 16u);
    workgroupBarrier();
    {
        let el = lane + 0u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 1u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 2u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 3u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 4u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 5u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 6u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 7u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 0u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    workgroupBarrier();
    coopStoreT(of1_1, &ss[sbase], 16u);
    workgroupBarrier();
    {
        let el = lane + 0u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 1u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 2u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 3u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 4u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 5u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 6u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 7u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 1u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    workgroupBarrier();
    coopStoreT(of1_2, &ss[sbase], 16u);
    workgroupBarrier();
    {
        let el = lane + 0u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 1u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 2u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 3u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 4u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 5u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 6u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 7u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 2u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    workgroupBarrier();
    coopStoreT(of1_3, &ss[sbase], 16u);
    workgroupBarrier();
    {
        let el = lane + 0u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 1u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 2u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 3u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 4u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 5u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 6u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    {
        let el = lane + 7u * SG;
        let rr = 1u * 16u + el / 16u;
        let grow = srow0 + rr;
        if grow < p.seq_q {
            o[p.o_off + ((b * p.seq_q + grow) * p.heads + h) * D + 3u * 16u + el % 16u] = f16(ss[sbase + el] * rowv[vrow + rr]);
        }
    }
    workgroupBarrier();
}
