// Flash attention, subgroup tier, broadcast variant (needs SUBGROUP with a fixed
// subgroup size S; f16 storage needs SHADER_F16). Chosen on CPU adapters.
//
// Each invocation owns one query row, as in the portable tier, but K and V never pass
// through workgroup memory: for a tile of S keys, lane i loads key t+i into registers
// and the S rows of the subgroup read it with subgroupBroadcast(x, j) for a constant j.
// On SIMD CPUs (Mesa lavapipe) a constant-lane broadcast is one vector shuffle, where a
// workgroup-memory read becomes a per-lane gather; no barriers are needed either.
//
// Same parameters, bindings, key range and accumulate mode as the portable tier.
// Template names: ENABLE, IN, OUT, HEAD_DIM, D4 (= HEAD_DIM / 4), S, BQ (a multiple of S).
$ENABLE

alias In = $IN;
alias Out = $OUT;

const D: u32 = $HEAD_DIMu;
const D4: u32 = $D4u;
const S: u32 = $Su;
const BQ: u32 = $BQu;

//#include flash_common
// Tensors are bound as vec4 arrays: every offset and head_dim is a multiple of 4.
@group(0) @binding(1) var<storage, read> q: array<vec4<In>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<In>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<In>>;
@group(0) @binding(4) var<storage, read_write> o: array<vec4<Out>>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

@compute @workgroup_size(BQ)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    //#use GRID_HEADS
    let lane = lid % S;
    let row0 = qtile * BQ;
    let row = row0 + lid;
    let valid = row < p.seq_q;
    let safe_row = min(row, p.seq_q - 1u);

    // Offsets in vec4 units.
    let qbase = (p.q_off + q_row(bq, h, safe_row) * D) / 4u;
    let obase = (p.o_off + q_row(b, h, safe_row) * D) / 4u;
    let li = p.lse_off + lse_row(b, h, safe_row);

    var qr: array<vec4<f32>, D4>;
    var acc: array<vec4<f32>, D4>;
    // One tile row of K (then of V) per lane: K and V are never live together.
    var kv: array<vec4<f32>, D4>;
    var m = NEG_BIG;
    var l = 0.0;
    let prev = lse[li];
    let resume = p.accumulate != 0u && prev > -1.0e30;
    //#unroll d $D4
    qr[{d}] = vec4<f32>(q[qbase + {d}u]) * p.scale_log2;
    acc[{d}] = vec4<f32>(0.0);
    if resume {
        acc[{d}] = vec4<f32>(o[obase + {d}u]);
    }
    //#end
    if resume {
        m = prev * LOG2E;
        l = 1.0;
    }

    // Every lane runs every tile (broadcasts need the whole subgroup); rows past seq_q
    // mirror the last row and are not written.
    let kend = key_limit(min(row0 + BQ, p.seq_q) - 1u);
    let klim = key_limit(safe_row);
    let kv_row_stride = p.kv_heads * D;

    // Key ranges [t0, t1) with partial index pi (one per mask span, or the whole range).
    //#use SPANS
    for (var t = t0; t < t1; t += S) {
        let key = t + lane;
        let kb = (kv0 + min(key, p.k_end - 1u)) * kv_row_stride + kvh * D;
        let ke = (p.k_off + kb) / 4u;
        let ve = (p.v_off + kb) / 4u;
        //#unroll d $D4
        kv[{d}] = vec4<f32>(k[ke + {d}u]);
        //#end

        let tb = tile_bits(row, t, pi);
        var s: array<f32, S>;
        var dot4: vec4<f32>;
        //#unroll j $S
        dot4 = vec4<f32>(0.0);
        //#unroll d $D4
        dot4 += qr[{d}] * subgroupBroadcast(kv[{d}], {j}u);
        //#end
        s[{j}] = select(NEG_BIG, dot4.x + dot4.y + dot4.z + dot4.w, visible(t, {j}u, lim, tb));
        //#end
        var mt = m;
        //#unroll j $S
        mt = max(mt, s[{j}]);
        //#end
        let alpha = exp2(m - mt);
        l *= alpha;
        //#unroll d $D4
        acc[{d}] *= alpha;
        //#end
        //#unroll d $D4
        kv[{d}] = vec4<f32>(v[ve + {d}u]);
        //#end
        var pj: f32;
        //#unroll j $S
        // Masked keys weigh exactly 0 (also for a row that has seen no key yet, where
        // s and mt are both NEG_BIG).
        pj = select(0.0, exp2(s[{j}] - mt), s[{j}] != NEG_BIG);
        l += pj;
        //#unroll d $D4
        acc[{d}] += pj * subgroupBroadcast(kv[{d}], {j}u);
        //#end
        //#end
        m = mt;
    }
    }

    if valid {
        if l > 0.0 {
            let inv = 1.0 / l;
            for (var d = 0u; d < D4; d++) {
                o[obase + d] = vec4<Out>(acc[d] * inv);
            }
            lse[li] = (m + log2(l)) * p.ln2;
        } else {
            for (var d = 0u; d < D4; d++) {
                o[obase + d] = vec4<Out>(0.0);
            }
            lse[li] = p.neg_inf;
        }
    }
}
