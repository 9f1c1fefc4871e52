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

//#include flash_o4
