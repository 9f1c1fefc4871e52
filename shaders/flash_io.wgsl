// The element types, shape constants, tensor bindings and O accessors of the flash kernels that
// read `In` and write `Out` element by element (portable, subgroup shuffle, subgroup
// tiled); the uniform block is binding 0 (flash_common), masks 6 and 7. Template names:
// IN, OUT, HEAD_DIM, BQ (query rows per workgroup), BK (keys per tile). The including
// kernel declares `alias Qkv = In;` (element-wise q, k, v) or `alias Qkv = vec4<In>;`
// (vec4 units: head_dim and every window offset are multiples of 4).
alias In = $IN;
alias Out = $OUT;

const D: u32 = $HEAD_DIMu;
const D4: u32 = D / 4u;
const BQ: u32 = $BQu;
const BK: u32 = $BKu;

@group(0) @binding(1) var<storage, read> q: array<Qkv>;
@group(0) @binding(2) var<storage, read> k: array<Qkv>;
@group(0) @binding(3) var<storage, read> v: array<Qkv>;
@group(0) @binding(4) var<storage, read_write> o: array<Out>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

// Four consecutive elements of O at element offset f, in f32 (resuming from an earlier
// key chunk) and back in the output type.
fn load_o4(f: u32) -> vec4<f32> {
    return vec4<f32>(f32(o[f]), f32(o[f + 1u]), f32(o[f + 2u]), f32(o[f + 3u]));
}

fn store_o4(f: u32, x: vec4<f32>) {
    o[f] = Out(x.x);
    o[f + 1u] = Out(x.y);
    o[f + 2u] = Out(x.z);
    o[f + 3u] = Out(x.w);
}
