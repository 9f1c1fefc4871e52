// O accessors of the flash kernels that write `o: array<Out>` element by element
// (included by flash_io and by flash_decode, which binds its own q, k and v): four
// consecutive elements of O at element offset f, in f32 (resuming from an earlier key
// chunk) and back in the output type.
fn load_o4(f: u32) -> vec4<f32> {
    return vec4<f32>(f32(o[f]), f32(o[f + 1u]), f32(o[f + 2u]), f32(o[f + 3u]));
}

fn store_o4(f: u32, x: vec4<f32>) {
    o[f] = Out(x.x);
    o[f + 1u] = Out(x.y);
    o[f + 2u] = Out(x.z);
    o[f + 3u] = Out(x.w);
}
