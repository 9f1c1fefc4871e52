// Shared by every flash kernel (pasted where a kernel says `//#include flash_common`).
// The parameter block mirrors `kernels::flash::FlashParams` field by field.

const LOG2E: f32 = 1.4426950408889634;
// Finite sentinel for "no score yet": exp2(NEG_BIG - finite) == 0, no inf arithmetic.
const NEG_BIG: f32 = -1.0e30;
// Partial-block index of a key span whose keys are all visible (no element mask).
const FULL: u32 = 0xffffffffu;

struct Params {
    seq_q: u32, seq_k: u32, heads: u32, kv_heads: u32,
    q_off: u32, k_off: u32, v_off: u32, o_off: u32,
    lse_off: u32, causal: u32, diag: i32, scale_log2: f32,
    q_pos0: u32, k_pos0: u32, neg_inf: f32, ln2: f32,
    k_begin: u32, k_end: u32, accumulate: u32, mask_log2b: u32,
    mask_nqb: u32, mask_heads: u32, mask_cols: u32, mask_words: u32,
    rev_tiles: u32, mask_log2q: u32, mask_order: u32, fold: u32,
    parts: u32, part_keys: u32, zb: u32, pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// GQA packing (p.fold > 1; dense decode launches, kernels::flash::gqa_fold): grid head h
// is K/V head h, and its rows are the p.fold query heads that share it, row r being
// token r / p.fold of query head h * p.fold + r % p.fold, so each K/V tile read serves
// them all. p.seq_q then counts the launch's rows (tokens x p.fold) and p.heads its grid
// heads (the K/V heads). p.fold is 1 otherwise, where a row is a token and q_row,
// lse_row and row_token reduce to the plain layout. Every kernel reads and writes Q, O
// and LSE through them, and its key range through key_limit or TILE_KEY_RANGE.

// Token position of chunk row `row` within the chunk.
fn row_token(row: u32) -> u32 {
    return row / p.fold;
}

// Index of chunk row `row` of grid head h, batch b, in the [batch, tokens, query heads]
// rows of Q and O (times D for the element offset, before q_off / o_off).
fn q_row(b: u32, h: u32, row: u32) -> u32 {
    return (b * (p.seq_q / p.fold) + row / p.fold) * (p.heads * p.fold) + h * p.fold + row % p.fold;
}

// Index of that row in LSE ([batch, query heads, tokens]; before lse_off).
fn lse_row(b: u32, h: u32, row: u32) -> u32 {
    return (b * p.heads * p.fold + h * p.fold + row % p.fold) * (p.seq_q / p.fold) + row / p.fold;
}

// End (exclusive) of the keys query row `row` of this chunk may see, within [0, k_end]:
// key j is visible iff k_pos0 + j <= q_pos0 + row_token(row) + diag (causal), else all
// of them.
fn key_limit(row: u32) -> u32 {
    if p.causal == 0u {
        return p.k_end;
    }
    let last = i32(p.q_pos0 + row_token(row)) + p.diag - i32(p.k_pos0) + 1;
    return u32(clamp(last, 0, i32(p.k_end)));
}

//#if SPARSE
// Block mask (kernels::flash, mask.rs) in the coordinates of the whole problem: chunk
// row i is mask row q_pos0 + i, chunk key j is mask column k_pos0 + j. Key blocks are
// 2^mask_log2b keys wide; a mask row holds 2^mask_log2q queries (one block, or several
// merged: BlockMask::tall_factor). mask_meta holds the row pointers (mask_heads *
// mask_nqb + 1 of them), then from mask_cols on one (first key block, block count,
// partial index) triple per span of active blocks (runs of full blocks are merged into
// one span; a partial block is a span of its own); a partial block's element mask is
// mask_words words of mask_bits, bit qi * 2^mask_log2b + ki (qi: the query within its
// mask row).
@group(0) @binding(6) var<storage, read> mask_meta: array<u32>;
@group(0) @binding(7) var<storage, read> mask_bits: array<u32>;

// Entries [x, y) of the mask row holding chunk rows [row0, row0 + BQ) of head h (the
// host guarantees a workgroup's rows lie in one mask row).
fn mask_row(h: u32, row0: u32) -> vec2<u32> {
    let qb = (p.q_pos0 + row0) >> p.mask_log2q;
    let r = select(0u, h, p.mask_heads > 1u) * p.mask_nqb + qb;
    return vec2<u32>(mask_meta[r], mask_meta[r + 1u]);
}

// Chunk keys [x, y) of span e, clipped to [0, k_end), and its partial index (FULL: no
// element mask).
fn mask_span(e: u32) -> vec3<u32> {
    let m = p.mask_cols + 3u * e;
    let s = i32(mask_meta[m] << p.mask_log2b) - i32(p.k_pos0);
    let lo = u32(clamp(s, 0, i32(p.k_end)));
    let hi = u32(clamp(s + i32(mask_meta[m + 1u] << p.mask_log2b), 0, i32(p.k_end)));
    return vec3<u32>(lo, hi, mask_meta[m + 2u]);
}

// Visibility bits of chunk keys [t, t + 64) for chunk row `row` in span `pi` (all set
// for a full span), read once per tile. Bits past the block are garbage; callers also
// test the key against the span end.
fn tile_bits(row: u32, t: u32, pi: u32) -> vec2<u32> {
    if pi == FULL {
        return vec2<u32>(0xffffffffu);
    }
    let mq = (1u << p.mask_log2q) - 1u;
    let mb = (1u << p.mask_log2b) - 1u;
    let bit = (((p.q_pos0 + row) & mq) << p.mask_log2b) + ((p.k_pos0 + t) & mb);
    let last = arrayLength(&mask_bits) - 1u;
    let w = pi * p.mask_words + (bit >> 5u);
    let w0 = mask_bits[min(w, last)];
    let w1 = mask_bits[min(w + 1u, last)];
    let w2 = mask_bits[min(w + 2u, last)];
    let sh = bit & 31u;
    if sh == 0u {
        return vec2<u32>(w0, w1);
    }
    return vec2<u32>((w0 >> sh) | (w1 << (32u - sh)), (w1 >> sh) | (w2 << (32u - sh)));
}
//#else
fn tile_bits(row: u32, t: u32, pi: u32) -> vec2<u32> {
    return vec2<u32>(0xffffffffu);
}
//#endif

// Whether key j (j < 64) of a tile is set in the tile's bits.
fn tile_bit(bits: vec2<u32>, j: u32) -> bool {
    return ((select(bits.y, bits.x, j < 32u) >> (j & 31u)) & 1u) != 0u;
}

// Whether key t + j (j < 64) of a tile is visible: below `lim` (causal limit and span
// end) and set in the tile's bits.
fn visible(t: u32, j: u32, lim: u32, bits: vec2<u32>) -> bool {
    return t + j < lim && tile_bit(bits, j);
}

// The launch grid of every flash kernel: workgroup (x, y, b) runs query tile qtile of
// head h of batch element b; kvh is the K/V head of h's group (GQA). The GPU starts
// workgroups roughly in index order, x first:
// - rev_tiles 0: index order, x = qtile, y = h;
// - rev_tiles 1 (causal launches): x = tiles - 1 - qtile, y = h: the tiles from the last
//   (the last rows see the most keys), per head, so the shortest fill the end of the
//   launch;
// - rev_tiles 2 (causal launches; the GRID_T build, grid transposed): x = h, y = tiles
//   - 1 - qtile: the same with each tile's heads together, so the longest tiles of every
//   head start first;
// - mask_order != 0 (launches over a whole block mask; the GRID_T build): the rank
//   x + heads * y takes the mask's rows longest first over all heads (mask.rs lists
//   them: head * mask_nqb + row), a row's tiles and (a mask shared by the heads) its
//   heads together.
// h is wg.y or wg.x itself in each build: picked by a uniform flag in one build, it
// cost the register kernel 3-5 % (BENCHMARKS.md, twenty-eighth session).
//#define GRID_HEADS
    // b: the batch element of O and LSE; bq: that of Q; kv0: the K/V row of this
    // workgroup's key 0. A launch of key parts (p.parts > 1; kernels::flash, one dispatch
    // for every part of a key split) runs part wg.z / p.zb of batch element wg.z % p.zb
    // (p.zb: the launch's batch elements), whose keys start p.part_keys apart, and writes
    // it to O and LSE as batch element wg.z of a [parts x batch] scratch; otherwise
    // p.parts = 1 and all three are wg.z's own.
    let b = wg.z;
    let bq = wg.z % p.zb;
    let kv0 = bq * p.seq_k + (wg.z / p.zb) * p.part_keys;
    let g_tiles = (p.seq_q + BQ - 1u) / BQ;
//#if GRID_T
//#if SPARSE
    let g_rank = wg.x + p.heads * wg.y;
    let g_tpr = max((1u << p.mask_log2q) / BQ, 1u);
    let g_per = select(p.heads, 1u, p.mask_heads > 1u);
    let g_ent = mask_meta[min(p.mask_order + g_rank / (g_tpr * g_per), arrayLength(&mask_meta) - 1u)];
    let g_sub = g_rank % (g_tpr * g_per);
    let g_ord = p.mask_order != 0u;
    let h = select(wg.x, select(g_sub % g_per, g_ent / p.mask_nqb, p.mask_heads > 1u), g_ord);
    let qtile = select(g_tiles - 1u - wg.y, (g_ent % p.mask_nqb) * g_tpr + g_sub / g_per, g_ord);
//#else
    let h = wg.x;
    let qtile = g_tiles - 1u - wg.y;
//#endif
//#else
    let h = wg.y;
    let qtile = select(wg.x, g_tiles - 1u - wg.x, p.rev_tiles != 0u);
//#endif
    let kvh = h / (p.heads / p.kv_heads);
//#enddef

// Opens the key-range scope of the portable and subgroup kernels (they close it with
// one extra `}` after their tile loop): one iteration per span of the query block's
// mask row (block-sparse), or one over [k_begin, kend). Defines t0, t1, pi and lim
// (= min(klim, t1)); expects h, row0, kend and klim.
//#define SPANS
//#if SPARSE
    let er = mask_row(h, row0);
    for (var e = er.x; e < er.y; e++) {
        let span = mask_span(e);
        let t0 = max(span.x, p.k_begin);
        let t1 = min(span.y, kend);
        let pi = span.z;
//#else
    {
        let t0 = p.k_begin;
        let t1 = kend;
        let pi = FULL;
//#endif
        let lim = min(klim, t1);
//#enddef

// The matrix kernels' walk over the active key spans of their query block (mask_row
// and mask_span written inline: naga treats function results as non-uniform, and the
// loop bounds must be uniform for the cooperative ops). Opens the span loop (closed by
// the kernel) and defines, for span e: t0, t1 (its chunk keys, clipped to [k_begin,
// kend)), pi (its partial index) and nt0, nt1 (the next span's, for the prefetch of its
// first tile; meaningful where e + 1 < e_end). Expects h, qtile and kend.
//#define MATRIX_SPANS
    let mrow = select(0u, h, p.mask_heads > 1u) * p.mask_nqb + ((p.q_pos0 + qtile * BQ) >> p.mask_log2q);
    let e_end = mask_meta[mrow + 1u];
    for (var e = mask_meta[mrow]; e < e_end; e++) {
        let me = p.mask_cols + 3u * e;
        let kstart = i32(mask_meta[me] << p.mask_log2b) - i32(p.k_pos0);
        let t0 = max(u32(clamp(kstart, 0, i32(p.k_end))), p.k_begin);
        let t1 = min(u32(clamp(kstart + i32(mask_meta[me + 1u] << p.mask_log2b), 0, i32(p.k_end))), kend);
        let pi = mask_meta[me + 2u];
        let mn = me + 3u;
        let nstart = i32(mask_meta[min(mn, arrayLength(&mask_meta) - 1u)] << p.mask_log2b) - i32(p.k_pos0);
        let nt0 = max(u32(clamp(nstart, 0, i32(p.k_end))), p.k_begin);
        let nt1 = min(u32(clamp(nstart + i32(mask_meta[min(mn + 1u, arrayLength(&mask_meta) - 1u)] << p.mask_log2b), 0, i32(p.k_end))), kend);
//#enddef

// The workgroup-uniform key range of a BQ-row query tile (the matrix kernels; written
// inline, not as a function: naga treats a function's result as non-uniform, and
// cooperative ops need uniform control flow): keys below kend may be seen by some row
// of the tile, keys below free_end by every row (the causal limit of its first row), so
// full tiles below free_end need no mask. Expects qtile (GRID_HEADS).
//#define TILE_KEY_RANGE
    let last_row = min(qtile * BQ + BQ, p.seq_q) - 1u;
    let causal_end = u32(clamp(i32(p.q_pos0 + last_row / p.fold) + p.diag - i32(p.k_pos0) + 1, 0, i32(p.k_end)));
    let kend = select(p.k_end, causal_end, p.causal != 0u);
    let causal_first = u32(clamp(i32(p.q_pos0 + qtile * BQ / p.fold) + p.diag - i32(p.k_pos0) + 1, 0, i32(p.k_end)));
    let free_end = select(p.k_end, causal_first, p.causal != 0u);
//#enddef

// The matrix kernels' staging of one unit of K and of V (kpf{f}, vpf{f}: two u32 of two
// f16 each) at element `so` of kst / vst.
//#define KV_UNITS_STORE
                //#unroll c 2
                {
                    let kx = unpack2x16float(kpf{f}[{c}]);
                    let vx = unpack2x16float(vpf{f}[{c}]);
                    kst[so + 2u * {c}u] = f16(kx.x);
                    kst[so + 2u * {c}u + 1u] = f16(kx.y);
                    vst[so + 2u * {c}u] = f16(vx.x);
                    vst[so + 2u * {c}u + 1u] = f16(vx.y);
                }
                //#end
//#enddef
