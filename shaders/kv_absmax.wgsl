// Max |k| and max |v| of each (batch, kv head) over keys [k_begin, k_end), for the
// matrix tier's split kernel (flash_matrix.wgsl with SPLIT), which scales K and V by
// powers of two from them. The maxima are kept as f32 bits: for non-negative floats
// the bit patterns order as the values, so atomicMax on them is a max of the values.
// out[2 (b kv_heads + h)] holds max |k|, the next word max |v|; the host zeroes `out`.
// Grid: (key blocks, kv heads, batch); a workgroup takes keys
// [k_begin + KPW wg.x, + KPW), then every groups * KPW keys further.

struct Params {
    seq_k: u32, kv_heads: u32, head_dim: u32, k_off: u32,
    v_off: u32, k_begin: u32, k_end: u32, groups: u32,
}

const WG: u32 = 256u;
const KPW: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<atomic<u32>>;

var<workgroup> wmax: array<atomic<u32>, 2>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.y;
    let b = wg.z;
    let row = p.kv_heads * p.head_dim;
    var km = 0.0;
    var vm = 0.0;
    for (var key0 = p.k_begin + wg.x * KPW; key0 < p.k_end; key0 += p.groups * KPW) {
        let n = min(KPW, p.k_end - key0) * p.head_dim;
        for (var i = lid; i < n; i += WG) {
            let e = (b * p.seq_k + key0 + i / p.head_dim) * row + h * p.head_dim + i % p.head_dim;
            km = max(km, abs(k[p.k_off + e]));
            vm = max(vm, abs(v[p.v_off + e]));
        }
    }
    atomicMax(&wmax[0], bitcast<u32>(km));
    atomicMax(&wmax[1], bitcast<u32>(vm));
    workgroupBarrier();
    if lid < 2u {
        atomicMax(&out[2u * (b * p.kv_heads + h) + lid], atomicLoad(&wmax[lid]));
    }
}
