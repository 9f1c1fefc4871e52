// Shared by the kernels that address (batch, rows, heads, width) views with strides
// (pasted where a kernel says `//#include side_common`): gather.wgsl and
// dilated_merge.wgsl. Mirrors `kernels::gather::SideParams` on the host.
//
// A side addresses element (b, seg, t, j) as
//   off + b * batch + seg * seg_stride + t * row + head0 + j * head
// in units of its bound element type.
struct Side {
    off: u32,
    batch: u32,
    seg: u32,
    row: u32,
    head0: u32,
    head: u32,
    _pad0: u32,
    _pad1: u32,
}

fn at(s: Side, b: u32, seg: u32, row: u32, j: u32) -> u32 {
    return s.off + b * s.batch + seg * s.seg + row * s.row + s.head0 + j * s.head;
}
