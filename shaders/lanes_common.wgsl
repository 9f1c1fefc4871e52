// Butterfly reductions over a group of LANES consecutive lanes of one subgroup (LANES
// a power of two <= the subgroup size, LOG2LANES its log2; the kernel defines LANES):
// every lane of the group ends with the result. All lanes of the group must call.
fn lanes_sum(x: f32) -> f32 {
    var y = x;
    var off = LANES / 2u;
    //#unroll i $LOG2LANES
    y += subgroupShuffleXor(y, off);
    off >>= 1u;
    //#end
    return y;
}

fn lanes_max(x: f32) -> f32 {
    var y = x;
    var off = LANES / 2u;
    //#unroll i $LOG2LANES
    y = max(y, subgroupShuffleXor(y, off));
    off >>= 1u;
    //#end
    return y;
}
