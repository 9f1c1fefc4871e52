// The element types, shape constants and tensor bindings of the flash kernels that
// read `In` and write `Out` element by element (portable, subgroup shuffle, subgroup
// tiled); the uniform block is binding 0 (flash_common), masks 6 and 7. Template names:
// IN, OUT, HEAD_DIM, BQ (query rows per workgroup), BK (keys per tile).
alias In = $IN;
alias Out = $OUT;

const D: u32 = $HEAD_DIMu;
const D4: u32 = D / 4u;
const BQ: u32 = $BQu;
const BK: u32 = $BKu;

@group(0) @binding(1) var<storage, read> q: array<In>;
@group(0) @binding(2) var<storage, read> k: array<In>;
@group(0) @binding(3) var<storage, read> v: array<In>;
@group(0) @binding(4) var<storage, read_write> o: array<Out>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
