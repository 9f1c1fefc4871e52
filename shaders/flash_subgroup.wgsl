// Flash attention, subgroup tier (needs SUBGROUP; f16 storage needs SHADER_F16).
//
// R consecutive invocations (inside one subgroup) share one query row and split its
// head dimension: lane r owns the vec4 columns r, r+R, r+2R, ... of q and of the O
// accumulator. A score is a per-lane partial dot product summed across the R lanes
// with subgroupShuffleXor (a butterfly: every lane ends with the full sum), so the
// row max and sum of the online softmax need no workgroup memory. K and V tiles of BK
// keys are staged in workgroup memory (f32) and shared by the BQ rows of the workgroup.
//
// Each row group of R lanes owns M consecutive query rows (register tiling): every
// vec4 of K or V read from workgroup memory is used for M rows, which divides the
// workgroup-memory traffic per multiply-add by M (the limit of the M = 1 kernel).
//
// Same parameters, bindings, key range and accumulate mode as the portable tier.
// Template names: ENABLE, IN, OUT, HEAD_DIM, R, C (= HEAD_DIM / 4 / R), LOG2LANES
// (= log2 R), M, BQ (rows per workgroup, a multiple of M), BK.
// Hot loops over registers are unrolled by the template (`//#unroll`), so private
// arrays are only ever indexed by constants.
$ENABLE

const R: u32 = $Ru;
const C: u32 = $Cu;           // vec4 columns per lane (D4 / R)
const M: u32 = $Mu;           // query rows per row group
const WG: u32 = BQ / M * R;
const LANES: u32 = R;

//#include flash_common
// q, k, v as vec4 units: head_dim and every window offset are multiples of 4.
alias Qkv = vec4<In>;
//#include flash_io

var<workgroup> ks: array<vec4<f32>, BK * D4>;
var<workgroup> vs: array<vec4<f32>, BK * D4>;

//#include lanes_common

// Rescale threshold of the running max (log2 units).
const RESCALE: f32 = 8.0;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.y;
    let b = wg.z;
    let kvh = h / (p.heads / p.kv_heads);
    let lane = lid % R;
    let row0 = wg.x * BQ;
    // Rows row + 0 .. row + M - 1 belong to this lane's row group.
    let row = row0 + (lid / R) * M;

    var qr: array<vec4<f32>, M * C>;
    var acc: array<vec4<f32>, M * C>;
    var mx: array<f32, M>;
    var l: array<f32, M>;
    var rk: array<u32, M>;
    //#unroll m $M
    {
        let srow = min(row + {m}u, p.seq_q - 1u);
        let qbase = p.q_off + ((b * p.seq_q + srow) * p.heads + h) * D;
        let obase = p.o_off + ((b * p.seq_q + srow) * p.heads + h) * D;
        let prev = lse[p.lse_off + (b * p.heads + h) * p.seq_q + srow];
        let resume = p.accumulate != 0u && prev > -1.0e30;
        mx[{m}] = NEG_BIG;
        l[{m}] = 0.0;
        if resume {
            mx[{m}] = prev * LOG2E;
            l[{m}] = 1.0;
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

    // Key ranges [t0, t1) with partial index pi (one per mask span, or the whole range).
    //#use SPANS
    for (var t = t0; t < t1; t += BK) {
        for (var i = lid; i < BK * D4; i += WG) {
            let key = t + i / D4;
            var kx = vec4<f32>(0.0);
            var vx = vec4<f32>(0.0);
            if key < p.k_end {
                let e = (b * p.seq_k + key) * kv_row_stride + kvh * D + 4u * (i % D4);
                let ke = p.k_off + e;
                let ve = p.v_off + e;
                kx = vec4<f32>(k[ke / 4u]);
                vx = vec4<f32>(v[ve / 4u]);
            }
            ks[i] = kx;
            vs[i] = vx;
        }
        workgroupBarrier();

        // Every lane of a row group takes part in the shuffles together (rows past
        // seq_q compute on a clamped row and throw the result away), so no lane of a
        // subgroup is inactive during a subgroup operation of its group.
        if lim > t || row >= p.seq_q {
            var s: array<f32, M * BK>;
            var tb: array<vec2<u32>, M>;
            var rlim: array<u32, M>;
            //#unroll m $M
            tb[{m}] = tile_bits(row + {m}u, t, pi);
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
                    let kx = ks[{j}u * D4 + lane + {c}u * R];
                    //#unroll m $M
                    part[{m}] = fma(qr[{m}u * C + {c}u], kx, part[{m}]);
                    //#end
                }
                //#end
                //#unroll m $M
                s[{m}u * BK + {j}u] = select(NEG_BIG, lanes_sum(part[{m}].x + part[{m}].y + part[{m}].z + part[{m}].w), visible(t, {j}u, rlim[{m}], tb[{m}]));
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
                    let vx = vs[{j}u * D4 + lane + {c}u * R];
                    //#unroll m $M
                    acc[{m}u * C + {c}u] = fma(vec4<f32>(pj[{m}]), vx, acc[{m}u * C + {c}u]);
                    //#end
                }
                //#end
            }
            //#end
        }
        workgroupBarrier();
    }
    }

    //#unroll m $M
    if row + {m}u < p.seq_q {
        let r = row + {m}u;
        let obase = p.o_off + ((b * p.seq_q + r) * p.heads + h) * D;
        let li = p.lse_off + (b * p.heads + h) * p.seq_q + r;
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
