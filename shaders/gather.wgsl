// Gather rows of a (batch, rows, heads, width) view into another such view, with a
// row map, a head slice on each side and a dtype conversion:
//
//   dst[b, i, j, e] = src[b, row(i), j, e]     (fill where row(i) is NONE)
//
// Each side addresses element (b, seg, t, j, e) as `at(side, b, seg, t, j) + e`
// (side_common.wgsl; in units of the bound element type, a scalar or a vec4). The row map decides the
// destination (seg, t) of row i and the source (seg, t) it reads:
//   mode 0 identity        dst (0, i)            src (0, i)
//   mode 1 index buffer    dst (0, i)            src (0, idx[i]); idx[i] = NONE fills
//   mode 2 dilated gather  dst (i / m, i % m)    src (0, s*w + o + t*r) with s = i / m, t = i % m
//   mode 3 dilated scatter dst (0, i)            src (i / w, (i%w - o) / r) if i%w - o >= 0 is a
//                                                multiple of r below m*r, else fill
// Modes 2 and 3 are LongNet's dilated selection: inside each segment of w positions,
// positions o, o + r, o + 2r, ... (m of them); the compact side holds segment s's
// selected rows at (seg s, t). One invocation per destination element.
//
// Template names: ENABLE, SRC, DST, DST_S (scalar type of DST), WG.
$ENABLE

alias Src = $SRC;
alias Dst = $DST;
alias DstScalar = $DST_S;

const NONE: u32 = 0xffffffffu;

//#include side_common

struct Params {
    batch: u32,
    rows: u32,
    heads: u32,
    width: u32,
    mode: u32,
    w: u32,
    r: u32,
    o: u32,
    m: u32,
    fill: f32,
    _pad0: u32,
    _pad1: u32,
    src: Side,
    dst: Side,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<Src>;
@group(0) @binding(3) var<storage, read_write> dst: array<Dst>;

@compute @workgroup_size($WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = gid.x + gid.y * nwg.x * $WGu;
    if n >= p.batch * p.rows * p.heads * p.width {
        return;
    }
    let e = n % p.width;
    let bij = n / p.width;
    let j = bij % p.heads;
    let bi = bij / p.heads;
    let i = bi % p.rows;
    let b = bi / p.rows;

    var dseg = 0u;
    var dt = i;
    var sseg = 0u;
    var st = i;
    var fill = false;
    switch p.mode {
        case 1u: {
            st = idx[i];
            fill = st == NONE;
        }
        case 2u: {
            dseg = i / p.m;
            dt = i % p.m;
            st = dseg * p.w + p.o + dt * p.r;
        }
        case 3u: {
            sseg = i / p.w;
            let q = i % p.w;
            st = (q - p.o) / p.r;
            fill = q < p.o || (q - p.o) % p.r != 0u || st >= p.m;
        }
        default: {}
    }
    let di = at(p.dst, b, dseg, dt, j) + e;
    if fill {
        dst[di] = Dst(DstScalar(p.fill));
        return;
    }
    let si = at(p.src, b, sseg, st, j) + e;
    dst[di] = Dst(src[si]);
}
