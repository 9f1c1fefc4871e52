// Flash attention, subgroup tier (needs SUBGROUP; f16 storage needs SHADER_F16).
//
// R consecutive invocations (inside one subgroup) share one query row and split its
// head dimension: lane r owns the vec4 columns r, r+R, r+2R, ... of q and of the O
// accumulator. A score is a per-lane partial dot product summed across the R lanes
// with subgroupShuffleXor (a butterfly: every lane ends with the full sum), so the
// row max and sum of the online softmax need no workgroup memory. K and V are staged
// in workgroup memory (f32) and shared by the BQ rows of the workgroup, KS = NSUB BK
// keys per barrier, every invocation's loads of a staging round (SCH vec4 units of K
// and of V) issued before its stores; the rows walk the staged keys in NSUB tiles of
// BK. (On an H100 the batched loads took head_dim 128 from 49 to 40 ms at N=16384 f32.
// The host stages KS D 8 <= 16 KiB: 24 KiB gained nothing, and workgroup memory over
// ~24 KiB cost whole workgroups per SM there, 1.5-1.75x.)
//
// Each row group of R lanes owns M consecutive query rows (register tiling): every
// vec4 of K or V read from workgroup memory is used for M rows, which divides the
// workgroup-memory traffic per multiply-add by M (the limit of the M = 1 kernel).
//
// Same parameters, bindings, key range and accumulate mode as the portable tier.
// Template names: ENABLE, IN, OUT, HEAD_DIM, R, C (= HEAD_DIM / 4 / R), LOG2LANES
// (= log2 R), M, BQ (rows per workgroup, a multiple of M), BK, NSUB, SCH, and the RS
// names below (RS, Q, LPR, LOG2LPR, RSk, HALFk, M4 = M / 4, and the switches UNM, RSP, PIPE,
// PSM, TAIL, EARLY and DBUF).
// Hot loops over registers are unrolled by the template (`//#unroll`), so private
// arrays are only ever indexed by constants.
$ENABLE

const R: u32 = $Ru;
const C: u32 = $Cu;           // vec4 columns per lane (D4 / R)
const M: u32 = $Mu;           // query rows per row group
const WG: u32 = BQ / M * R;
const LANES: u32 = R;
//#if RS
const Q: u32 = $Qu;           // full scores per lane per tile after the reduce-scatter
const LPR: u32 = $LPRu;       // lanes that share a row's scores (BK / Q)
//#endif

// RSP (1 only with RS): lane L of a row group computes in its score slot (m, j) the
// score of row m ^ mr (mr = L / LPR, the row it ends with): the rounds over the lane
// bits of mr (partner distance >= LPR, pair distance >= BK: they pair rows) then keep the
// lower half on every lane (the partner's upper half holds the same rows' scores) and
// need no selects; the rows only decide which Q row each qr slot holds, so this costs
// nothing. The rounds over the LPR lanes of a row (they pair keys) keep their selects:
// permuting keys too (slot j holding key j ^ j0, as the eighteenth session's RSP did)
// made the K addresses lane-dependent and ran slower on an H100.
const RSP: u32 = $RSPu;

//#include flash_common
// q, k, v as vec4 units: head_dim and every window offset are multiples of 4.
alias Qkv = vec4<In>;
//#include flash_io

const NSUB: u32 = $NSUBu;     // BK-key tiles per staged K/V tile
const KS: u32 = NSUB * BK;    // keys per staged K/V tile
const SCH: u32 = $SCHu;       // vec4 units of K and of V per invocation and staging round

// DBUF (PIPE only): two K/V areas, used by alternate tiles, so a tile needs one barrier
// (its staging barrier) instead of two: a tile's stores go to the area the tile before
// last read, and every invocation passed the previous tile's barrier after reading it.
// PSM's P area stays single, guarded by a subgroup barrier (each row group's part of it
// is written and read by that group's own lanes only).
const NBUF: u32 = 1u + $DBUFu;
var<workgroup> ks: array<vec4<f32>, NBUF * KS * D4>;
var<workgroup> vs: array<vec4<f32>, NBUF * KS * D4>;
//#if PSM
// PSM (PIPE, M a multiple of 4): each row group's P of the previous tile, written after
// the tile's closing barrier and read by the next tile's P·V (after its staging barrier)
// in place of M BK subgroupShuffles per lane: key j of group g's rows at vec4 g PG + j M / 4
// (+ 1 vec4 per group against bank conflicts between the groups of a subgroup).
const PG: u32 = BK * M / 4u + 1u;
var<workgroup> ps: array<vec4<f32>, BQ / M * PG>;
//#endif

//#include lanes_common

// Reduce-scatter round K (used where R >= 2^K, RSK): pairs (i, i + H) of the scores, H =
// M BK / 2^K, over lanes lane ^ (R >> K); the lane keeps the half its bit picks and adds
// its partner's values for it (with RSP the lower half in the rounds that pair rows: see
// RSP above).
//#define RS_ROUND
{
    let up = (lane & (R >> {K}u)) != 0u && (RSP == 0u || (R >> {K}u) < LPR);
    //#unroll i {H}
    s[{i}u] = select(s[{i}u], s[{i}u + {H}u], up) + subgroupShuffleXor(select(s[{i}u + {H}u], s[{i}u], up), R >> {K}u);
    //#end
}
//#enddef
// Stages KS keys of K from key kt0 (where kok) and of V from key vt0 (where vok), zero
// past k_end and where not asked for, into the area at vec4 sb of ks / vs: rounds of SCH
// vec4 units per invocation, all loads of a round (STAGE_LOAD, into kn / vn from unit
// i0) before its stores (STAGE_STORE).
//#define STAGE_KV
        for (var i0 = lid; i0 < KS * D4; i0 += WG * SCH) {
            var kn: array<vec4<f32>, SCH>;
            var vn: array<vec4<f32>, SCH>;
            //#use STAGE_LOAD
            //#use STAGE_STORE
        }
//#enddef
//#define STAGE_LOAD
            //#unroll u $SCH
            {
                let i = i0 + {u}u * WG;
                let kkey = kt0 + i / D4;
                let vkey = vt0 + i / D4;
                let col = kvh * D + 4u * (i % D4);
                kn[{u}] = vec4<f32>(0.0);
                vn[{u}] = vec4<f32>(0.0);
                if i < KS * D4 && kok && kkey < p.k_end {
                    kn[{u}] = vec4<f32>(k[(p.k_off + (kv0 + kkey) * kv_row_stride + col) / 4u]);
                }
                if i < KS * D4 && vok && vkey < p.k_end {
                    vn[{u}] = vec4<f32>(v[(p.v_off + (kv0 + vkey) * kv_row_stride + col) / 4u]);
                }
            }
            //#end
//#enddef
//#define STAGE_STORE
            //#unroll u $SCH
            if i0 + {u}u * WG < KS * D4 {
                ks[sb + i0 + {u}u * WG] = kn[{u}];
                vs[sb + i0 + {u}u * WG] = vn[{u}];
            }
            //#end
//#enddef
// TAIL (one staging round, SCH WG >= KS D4): the next staged tile's loads are issued at
// the end of this tile, before its closing barrier (the other warps' work then hides
// their latency), into kn / vn, and stored after it; with EARLY (PIPE only) right after
// this tile's Q·K^T instead, in both branches of the tile body, so the previous tile's
// P·V and the softmax hide them too. NEXT_LOAD: those loads for the tile at kt0 / vt0
// (where kok / vok).
//#define NEXT_LOAD
        //#if TAIL
        {
            let i0 = lid;
            //#use STAGE_LOAD
        }
        //#endif
//#enddef
// TAIL_FIRST: TAIL's registers and the loads of a span's first staged tile (V too where
// VOK: PIPE stages V one tile behind K).
//#define TAIL_FIRST
    //#if TAIL
    var kn: array<vec4<f32>, SCH>;
    var vn: array<vec4<f32>, SCH>;
    {
        let kt0 = t0;
        let kok = true;
        let vt0 = t0;
        let vok = {VOK};
        //#use NEXT_LOAD
    }
    //#endif
//#enddef
// PIPE_NEXT: NEXT_LOAD for the tile after t (V one tile behind K).
//#define PIPE_NEXT
        {
            let kt0 = t + BK;
            let kok = t + BK < t1;
            let vt0 = t;
            let vok = t < t1;
            //#use NEXT_LOAD
        }
//#enddef
//#define STAGE_TILE
        //#if TAIL
        {
            let i0 = lid;
            //#use STAGE_STORE
        }
        //#else
        //#use STAGE_KV
        //#endif
//#enddef

// RS_QK: the scores of the tile of keys ts .. ts + BK - 1 (staged at kb), reduce-scattered:
// lane `lane` ends with its Q full scores in s[0 .. Q).
//#define RS_QK
            // Reduce-scatter (RS): each lane sums its partial dot products' vec4
            // components, then log2 R halving rounds over the group (the half a lane keeps
            // is chosen by its lane bit; it sends the other) leave lane `lane` with the
            // full scores Q lane .. Q lane + Q - 1 of the tile's M x BK (score n: row
            // n / BK, key n % BK) in s[0 .. Q). The softmax's exponentials run once per
            // score instead of on all R lanes; P.V takes each score from its lane by
            // subgroupShuffle.
            var s: array<f32, M * BK>;
            // Each score one scalar chain of multiply-adds over its vec4 columns'
            // components (M BK independent chains; no vec4 partial to sum up: on an H100,
            // f32 N=16384, 38.2 ms against 40.3 at head_dim 128, 8.30 against 8.60 at 32).
            //#unroll j $BK
            {
                //#unroll m $M
                s[{m}u * BK + {j}u] = 0.0;
                //#end
                let kj = kb + {j}u * D4 + lane;
                //#unroll c $C
                {
                    let kx = ks[kj + {c}u * R];
                    //#unroll m $M
                    {
                        let qv = qr[{m}u * C + {c}u];
                        s[{m}u * BK + {j}u] = fma(qv.w, kx.w, fma(qv.z, kx.z, fma(qv.y, kx.y, fma(qv.x, kx.x, s[{m}u * BK + {j}u]))));
                    }
                    //#end
                }
                //#end
            }
            //#end
            //#if RS1
            //#use RS_ROUND K=1 H=$HALF1
            //#endif
            //#if RS2
            //#use RS_ROUND K=2 H=$HALF2
            //#endif
            //#if RS3
            //#use RS_ROUND K=3 H=$HALF3
            //#endif
            //#if RS4
            //#use RS_ROUND K=4 H=$HALF4
            //#endif
            //#if RS5
            //#use RS_ROUND K=5 H=$HALF5
            //#endif
//#enddef

// RS_SOFTMAX: the own scores masked, the tile's row max, the lazy rescale, then
// s[0 .. Q) = P (exp2(s - max)) and their sum added to lo.
//#define RS_SOFTMAX
            // Mask the own scores; the tile's row max: own scores, the LPR lanes of the
            // row, then every row's to every lane of the group.
            let tbo = tile_bits(row + mr, ts, pi);
            let rlo = min(rko, t1);
            //#if UNM
            // UNM: a tile whose keys the row sees all (no block mask, below its limit)
            // skips the mask.
            if pi != FULL || ts + BK > rlo {
            //#endif
            //#unroll i $Q
            s[{i}u] = select(NEG_BIG, s[{i}u], visible(ts, j0 + {i}u, rlo, tbo));
            //#end
            //#if UNM
            }
            //#endif
            var mo = NEG_BIG;
            //#unroll i $Q
            mo = max(mo, s[{i}u]);
            //#end
            //#unroll i $LOG2LPR
            mo = max(mo, subgroupShuffleXor(mo, LPR >> ({i}u + 1u)));
            //#end
            // Lazy rescale (as below, per row, the same decision on every lane of the group).
            var mzo = 0.0;
            //#unroll m $M
            {
                let mt = subgroupShuffle(mo, gbase + {m}u * LPR);
                if mt > mx[{m}] + RESCALE {
                    let alpha = exp2(mx[{m}] - mt);
                    lo = select(lo, lo * alpha, mr == {m}u);
                    //#unroll c $C
                    acc[{m}u * C + {c}u] *= alpha;
                    //#end
                    mx[{m}] = mt;
                }
                mzo = select(mzo, select(mx[{m}], 0.0, mx[{m}] == NEG_BIG), mr == {m}u);
            }
            //#end
            //#unroll i $Q
            {
                s[{i}u] = exp2(s[{i}u] - mzo);
                lo += s[{i}u];
            }
            //#end
//#enddef

// RS_PV: O += P V for the tile staged at kb, P the lanes' own scores {P}[0 .. Q), each
// taken from its lane by subgroupShuffle (with PSM from workgroup memory instead).
//#define RS_PV
            //#unroll j $BK
            {
                var pj: array<f32, M>;
                //#if PSM
                // PSM: the group's P of key j, M rows in M / 4 vec4 of workgroup memory.
                var pq: array<vec4<f32>, M / 4u>;
                //#unroll q $M4
                pq[{q}] = ps[gi * PG + {j}u * (M / 4u) + {q}u];
                //#end
                //#unroll m $M
                pj[{m}] = pq[{m}u / 4u][{m}u % 4u];
                //#end
                //#else
                //#unroll m $M
                pj[{m}] = subgroupShuffle({P}[{j}u % Q], gbase + {m}u * LPR + {j}u / Q);
                //#end
                //#endif
                //#unroll c $C
                {
                    let vx = vs[kb + {j}u * D4 + lane + {c}u * R];
                    //#unroll m $M
                    acc[{m}u * C + {c}u] = fma(vec4<f32>(pj[{m}]), vx, acc[{m}u * C + {c}u]);
                    //#end
                }
                //#end
            }
            //#end
//#enddef

// Rescale threshold of the running max (log2 units).
const RESCALE: f32 = 8.0;

@compute @workgroup_size(WG)
//#if RS
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sgl: u32) {
//#else
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
//#endif
    //#use GRID_HEADS
    let lane = lid % R;
    let row0 = qtile * BQ;
    // Rows row + 0 .. row + M - 1 belong to this lane's row group.
    let row = row0 + (lid / R) * M;

    var qr: array<vec4<f32>, M * C>;
    var acc: array<vec4<f32>, M * C>;
    var mx: array<f32, M>;
    var l: array<f32, M>;
    var rk: array<u32, M>;
    //#if RS
    // RS: this lane's own scores are row mr's keys j0 .. j0 + Q - 1 of each tile; lo is
    // its partial row sum (over those keys), gbase the group's first subgroup lane (the
    // group's R invocations are R consecutive lanes of one subgroup, as the butterflies
    // assume).
    let mr = lane / LPR;
    let j0 = (lane % LPR) * Q;
    // RSP: the row permutation of this lane's score slots (see RSP above).
    let qperm = mr * RSP;
    let rko = key_limit(min(row + mr, p.seq_q - 1u));
    let gbase = sgl & ~(R - 1u);
    // The lane's row group within the workgroup (PSM's P area).
    let gi = lid / R;
    var lo = 0.0;
    //#else
    let qperm = 0u;
    //#endif
    //#unroll m $M
    {
        let srow = min(row + {m}u, p.seq_q - 1u);
        // RSP: Q row m ^ mr in qr slot m (see RSP above).
        let qrow = min(row + ({m}u ^ qperm), p.seq_q - 1u);
        let qbase = p.q_off + q_row(bq, h, qrow) * D;
        let obase = p.o_off + q_row(b, h, srow) * D;
        let prev = lse[p.lse_off + lse_row(b, h, srow)];
        let resume = p.accumulate != 0u && prev > -1.0e30;
        mx[{m}] = NEG_BIG;
        l[{m}] = 0.0;
        if resume {
            mx[{m}] = prev * LOG2E;
            l[{m}] = 1.0;
            //#if RS
            // The row's partial sums add up to 1 (the previous O is normalized).
            lo = select(lo, 1.0, mr == {m}u && lane % LPR == 0u);
            //#endif
        }
        rk[{m}] = key_limit(srow);
        //#unroll c $C
        {
            let e = 4u * (lane + {c}u * R);
            qr[{m}u * C + {c}u] = vec4<f32>(q[(qbase + e) / 4u]) * p.scale_log2;
            acc[{m}u * C + {c}u] = vec4<f32>(0.0);
            if resume {
                acc[{m}u * C + {c}u] = load_o4(obase + e);
            }
        }
        //#end
    }
    //#end

    let kend = key_limit(min(row0 + BQ, p.seq_q) - 1u);
    // The group's last row sees the most keys (SPANS reads klim for its `lim`, which
    // only gates whole tiles here; each row masks with its own limit).
    let klim = rk[M - 1u];
    let kv_row_stride = p.kv_heads * D;

    //#if DBUF
    // DBUF: tiles run so far (the low bit picks the K/V area).
    var it = 0u;
    //#endif
    // Key ranges [t0, t1) with partial index pi (one per mask span, or the whole range).
    //#use SPANS
    //#if PIPE
    // PIPE (RS, one BK-key tile per barrier: KS = BK): a row group's P·V of a tile runs in
    // the next tile's body, between that tile's Q·K^T and its reduce-scatter, so the
    // multiply-adds of both products and the reduce-scatter's and softmax's shuffles and
    // exponents share one basic block for the driver to interleave. V is staged one tile
    // behind K (one more round after a span's tiles takes its last P·V); pp holds the
    // P of the group's previous tile (the lane's own Q scores; zero where that tile was
    // skipped, or before the first).
    var pp: array<f32, Q>;
    //#unroll i $Q
    pp[{i}] = 0.0;
    //#end
    //#use TAIL_FIRST VOK=false
    for (var t = t0; t < t1 + BK; t += BK) {
        let kt0 = t;
        let kok = t < t1;
        let vt0 = t - BK;
        let vok = t > t0;
        //#if DBUF
        // DBUF: this tile's K/V area (alternating over every tile of every span).
        let kb = (it & 1u) * (KS * D4);
        it += 1u;
        //#else
        let kb = 0u;
        //#endif
        let sb = kb;
        //#if PSM
        //#if DBUF
        // The group's lanes have read the previous tile's P before it is overwritten.
        subgroupBarrier();
        //#endif
        // The previous tile's P (zero before the first), for this body's P·V.
        //#unroll i $Q
        ps[gi * PG + (j0 + {i}u) * (M / 4u) + mr / 4u][mr % 4u] = pp[{i}];
        //#end
        //#endif
        //#use STAGE_TILE
        workgroupBarrier();
        let ts = t;
        // As below: every lane of a row group takes part in the shuffles together.
        if kok && (lim > ts || row >= p.seq_q) {
            //#use RS_QK
            //#if EARLY
            //#use PIPE_NEXT
            //#endif
            //#use RS_PV P=pp
            //#use RS_SOFTMAX
            //#unroll i $Q
            pp[{i}] = s[{i}];
            //#end
        } else {
            //#if EARLY
            //#use PIPE_NEXT
            //#endif
            //#use RS_PV P=pp
            //#unroll i $Q
            pp[{i}] = 0.0;
            //#end
        }
        //#if EARLY
        //#else
        //#use PIPE_NEXT
        //#endif
        //#if DBUF
        //#else
        workgroupBarrier();
        //#endif
    }
    //#else
    //#use TAIL_FIRST VOK=true
    for (var t = t0; t < t1; t += KS) {
        let kt0 = t;
        let kok = true;
        let vt0 = t;
        let vok = true;
        let sb = 0u;
        //#use STAGE_TILE
        workgroupBarrier();

        // The staged keys in NSUB tiles of BK (those before t1): tile ts = t + BK u at
        // ks/vs offset kb.
        let nsub = min(NSUB, (t1 - t + BK - 1u) / BK);
        for (var u = 0u; u < nsub; u++) {
        let ts = t + u * BK;
        let kb = u * BK * D4;
        // Every lane of a row group takes part in the shuffles together (rows past
        // seq_q compute on a clamped row and throw the result away), so no lane of a
        // subgroup is inactive during a subgroup operation of its group.
        if lim > ts || row >= p.seq_q {
            //#if RS
            //#use RS_QK
            //#use RS_SOFTMAX
            //#use RS_PV P=s
            //#else
            var s: array<f32, M * BK>;
            var tb: array<vec2<u32>, M>;
            var rlim: array<u32, M>;
            //#unroll m $M
            tb[{m}] = tile_bits(row + {m}u, ts, pi);
            rlim[{m}] = min(rk[{m}], t1);
            //#end
            var part: array<vec4<f32>, M>;
            //#unroll j $BK
            {
                //#unroll m $M
                part[{m}] = vec4<f32>(0.0);
                //#end
                //#unroll c $C
                {
                    let kx = ks[kb + {j}u * D4 + lane + {c}u * R];
                    //#unroll m $M
                    part[{m}] = fma(qr[{m}u * C + {c}u], kx, part[{m}]);
                    //#end
                }
                //#end
                //#unroll m $M
                s[{m}u * BK + {j}u] = select(NEG_BIG, lanes_sum(part[{m}].x + part[{m}].y + part[{m}].z + part[{m}].w), visible(ts, {j}u, rlim[{m}], tb[{m}]));
                //#end
            }
            //#end
            var pj: array<f32, M>;
            // Lazy rescale, as in the matrix kernel: a row's max only rises (and its O and
            // l are rescaled) when the tile's max exceeds it by more than 2^RESCALE, so
            // P <= 2^RESCALE and the rescale is rare after the first tiles.
            var mz: array<f32, M>;
            //#unroll m $M
            {
                var mt = mx[{m}];
                //#unroll j $BK
                mt = max(mt, s[{m}u * BK + {j}u]);
                //#end
                if mt > mx[{m}] + RESCALE {
                    let alpha = exp2(mx[{m}] - mt);
                    l[{m}] *= alpha;
                    //#unroll c $C
                    acc[{m}u * C + {c}u] *= alpha;
                    //#end
                    mx[{m}] = mt;
                }
                // Masked scores are NEG_BIG, so exp2(NEG_BIG - mx) is 0 once the row has
                // a finite max; before that subtract 0 instead.
                mz[{m}] = select(mx[{m}], 0.0, mx[{m}] == NEG_BIG);
            }
            //#end
            //#unroll j $BK
            {
                //#unroll m $M
                pj[{m}] = exp2(s[{m}u * BK + {j}u] - mz[{m}]);
                l[{m}] += pj[{m}];
                //#end
                //#unroll c $C
                {
                    let vx = vs[kb + {j}u * D4 + lane + {c}u * R];
                    //#unroll m $M
                    acc[{m}u * C + {c}u] = fma(vec4<f32>(pj[{m}]), vx, acc[{m}u * C + {c}u]);
                    //#end
                }
                //#end
            }
            //#end
            //#endif
        }
        }
        {
            let kt0 = t + KS;
            let kok = t + KS < t1;
            let vt0 = t + KS;
            let vok = kok;
            //#use NEXT_LOAD
        }
        workgroupBarrier();
    }
    //#endif
    }

    //#if RS
    // Row sums: the LPR lanes of each row hold partial sums; every lane needs every row's.
    var lt = lo;
    //#unroll i $LOG2LPR
    lt += subgroupShuffleXor(lt, LPR >> ({i}u + 1u));
    //#end
    //#unroll m $M
    l[{m}] = subgroupShuffle(lt, gbase + {m}u * LPR);
    //#end
    //#endif
    //#unroll m $M
    if row + {m}u < p.seq_q {
        let r = row + {m}u;
        let obase = p.o_off + q_row(b, h, r) * D;
        let li = p.lse_off + lse_row(b, h, r);
        let inv = select(0.0, 1.0 / l[{m}], l[{m}] > 0.0);
        //#unroll c $C
        {
            let x = acc[{m}u * C + {c}u] * inv;
            let f = obase + 4u * (lane + {c}u * R);
            store_o4(f, x);
        }
        //#end
        if lane == 0u {
            lse[li] = select(p.neg_inf, (mx[{m}] + log2(l[{m}])) * p.ln2, l[{m}] > 0.0);
        }
    }
    //#end
}
