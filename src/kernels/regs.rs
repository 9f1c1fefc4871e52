//! The matrix tier's register kernel (`flash_regs.wgsl`): the softmax works on the
//! cooperative-matrix fragments' own elements, in registers, instead of a round trip of
//! S and P through workgroup memory.
//!
//! WGSL gives no access to a fragment's elements, but SPIR-V does (`OpCompositeExtract`
//! and `OpCompositeInsert` on a cooperative matrix address the elements the invocation
//! holds). The kernel calls small WGSL helpers with placeholder bodies (`coop_lo_*`,
//! `coop_hi_*`: elements 0-3 and 4-7 as a vec4; `coop_make_*`: a fragment from two
//! vec4); [`spirv_coop_elements`] replaces their bodies in the SPIR-V that naga writes,
//! and the module goes to the driver through wgpu's SPIR-V passthrough (Vulkan).
//!
//! Which element of which invocation holds which (row, column) is implementation
//! defined. [`probe_layout`] asks the device once: it loads fragments of known values,
//! reads their elements back, and accepts the layout only when it has the shape the
//! kernel is written for ([`CoopLayout`]); otherwise the tier keeps its workgroup-memory
//! kernel (`flash_matrix.wgsl`).

use crate::context::GpuContext;

const OP_NAME: u32 = 5;
const OP_UNDEF: u32 = 1;
const OP_TYPE_VECTOR: u32 = 23;
const OP_FUNCTION: u32 = 54;
const OP_FUNCTION_PARAMETER: u32 = 55;
const OP_FUNCTION_END: u32 = 56;
const OP_DECORATE: u32 = 71;
const OP_COMPOSITE_CONSTRUCT: u32 = 80;
const OP_COMPOSITE_EXTRACT: u32 = 81;
const OP_COMPOSITE_INSERT: u32 = 82;
const OP_LABEL: u32 = 248;
const OP_RETURN_VALUE: u32 = 254;
const OP_LINE: u32 = 8;
const OP_NO_LINE: u32 = 317;
const OP_STORE: u32 = 62;
const OP_SELECTION_MERGE: u32 = 247;
const OP_BRANCH: u32 = 249;
const OP_BRANCH_CONDITIONAL: u32 = 250;
const OP_RETURN: u32 = 253;

fn op(count: usize, code: u32) -> u32 {
    ((count as u32) << 16) | code
}

/// The string literal starting at `words[0]` (nul-terminated, little-endian bytes).
fn literal(words: &[u32]) -> String {
    let mut bytes = Vec::new();
    'outer: for w in words {
        for b in w.to_le_bytes() {
            if b == 0 {
                break 'outer;
            }
            bytes.push(b);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What a placeholder function becomes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Helper {
    /// `coop_lo_*(m) -> vec4`: elements `first`..`first + 4` of fragment `m`.
    Extract { first: u32 },
    /// `coop_make_*(lo, hi) -> fragment`: elements 0-3 from `lo`, 4-7 from `hi`.
    Make,
}

fn helper(name: &str) -> Option<Helper> {
    if name.starts_with("coop_lo_") {
        Some(Helper::Extract { first: 0 })
    } else if name.starts_with("coop_hi_") {
        Some(Helper::Extract { first: 4 })
    } else if name.starts_with("coop_make_") {
        Some(Helper::Make)
    } else {
        None
    }
}

/// Replaces the bodies of the element helpers (`coop_lo_*`, `coop_hi_*`, `coop_make_*`,
/// see the module docs) in a SPIR-V module written by naga. Returns the patched module
/// and how many functions it rewrote; an error when a helper does not have the expected
/// signature (one cooperative matrix in and a 4-vector out, or two 4-vectors in).
pub fn spirv_coop_elements(words: &[u32]) -> Result<(Vec<u32>, usize), String> {
    let ins = crate::context::spirv_instructions(words)?;
    let opcode = |r: &std::ops::Range<usize>| words[r.start] & 0xffff;
    // Names and 4-vector types.
    let mut names = std::collections::HashMap::new();
    let mut vec4 = std::collections::HashMap::new();
    for r in &ins {
        let w = &words[r.clone()];
        match opcode(r) {
            OP_NAME if w.len() >= 3 => {
                names.insert(w[1], literal(&w[2..]));
            }
            OP_TYPE_VECTOR if w.len() == 4 && w[3] == 4 => {
                vec4.insert(w[1], w[2]);
            }
            _ => {}
        }
    }
    let mut bound = words[3];
    let mut fresh = || {
        bound += 1;
        bound - 1
    };
    let mut out: Vec<u32> = words[..5].to_vec();
    let mut removed = std::collections::HashSet::new();
    let mut patched = 0;
    let mut k = 0;
    while k < ins.len() {
        let w = &words[ins[k].clone()];
        k += 1;
        out.extend_from_slice(w);
        let Some((name, which)) = (opcode(&ins[k - 1]) == OP_FUNCTION).then(|| names.get(&w[2]).and_then(|n| Some((n, helper(n)?)))).flatten() else {
            continue;
        };
        let result_type = w[1];
        // Parameters are kept; the body is dropped up to OpFunctionEnd.
        let mut params = Vec::new();
        while k < ins.len() && opcode(&ins[k]) == OP_FUNCTION_PARAMETER {
            let p = &words[ins[k].clone()];
            params.push((p[1], p[2]));
            out.extend_from_slice(p);
            k += 1;
        }
        while k < ins.len() && opcode(&ins[k]) != OP_FUNCTION_END {
            // Result ids of the dropped body (names and decorations of them go too).
            let body = &words[ins[k].clone()];
            match opcode(&ins[k]) {
                OP_LABEL => {
                    removed.insert(body[1]);
                }
                // No result id.
                OP_STORE
                | OP_RETURN
                | OP_RETURN_VALUE
                | OP_BRANCH
                | OP_BRANCH_CONDITIONAL
                | OP_SELECTION_MERGE
                | crate::context::OP_LOOP_MERGE
                | OP_LINE
                | OP_NO_LINE => {}
                _ if body.len() >= 3 => {
                    removed.insert(body[2]);
                }
                _ => {}
            }
            k += 1;
        }
        out.push(op(2, OP_LABEL));
        out.push(fresh());
        match which {
            Helper::Extract { first } => {
                let (&[(_, m)], Some(&elem)) = (params.as_slice(), vec4.get(&result_type)) else {
                    return Err(format!("{name}: expected fn(coop_mat) -> vec4"));
                };
                let mut parts = Vec::new();
                for k in 0..4 {
                    let id = fresh();
                    out.extend_from_slice(&[op(5, OP_COMPOSITE_EXTRACT), elem, id, m, first + k]);
                    parts.push(id);
                }
                let r = fresh();
                out.extend_from_slice(&[op(7, OP_COMPOSITE_CONSTRUCT), result_type, r, parts[0], parts[1], parts[2], parts[3]]);
                out.extend_from_slice(&[op(2, OP_RETURN_VALUE), r]);
            }
            Helper::Make => {
                let &[(lo_t, lo), (hi_t, hi)] = params.as_slice() else {
                    return Err(format!("{name}: expected fn(vec4, vec4) -> coop_mat"));
                };
                let (Some(&elem), Some(&elem_hi)) = (vec4.get(&lo_t), vec4.get(&hi_t)) else {
                    return Err(format!("{name}: expected fn(vec4, vec4) -> coop_mat"));
                };
                if elem != elem_hi {
                    return Err(format!("{name}: the two vectors differ in type"));
                }
                let mut acc = fresh();
                out.extend_from_slice(&[op(3, OP_UNDEF), result_type, acc]);
                for (src, first) in [(lo, 0), (hi, 4)] {
                    for k in 0..4 {
                        let x = fresh();
                        out.extend_from_slice(&[op(5, OP_COMPOSITE_EXTRACT), elem, x, src, k]);
                        let next = fresh();
                        out.extend_from_slice(&[op(6, OP_COMPOSITE_INSERT), result_type, next, x, acc, first + k]);
                        acc = next;
                    }
                }
                out.extend_from_slice(&[op(2, OP_RETURN_VALUE), acc]);
            }
        }
        patched += 1;
    }
    out[3] = bound;
    // Drop debug names and decorations of the removed body's ids.
    let mut clean = out[..5].to_vec();
    for r in crate::context::spirv_instructions(&out)? {
        let w = &out[r];
        if !(matches!(w[0] & 0xffff, OP_NAME | OP_DECORATE) && w.len() >= 2 && removed.contains(&w[1])) {
            clean.extend_from_slice(w);
        }
    }
    Ok((clean, patched))
}

/// Where the elements of a 16x16 fragment live, as the probe found them on a device with
/// 32-invocation subgroups: element `i` of the f32 accumulator (C) held by invocation `L`
/// is at row `L / 4 + roff[i]` and column `2 (L % 4) + coff[i]`; element `j` of an f16
/// A operand is at the place of accumulator element `perm[j]` of the same invocation.
/// (So the four invocations `L` with the same `L / 4` share their rows, and P can be
/// built from S element by element.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoopLayout {
    pub roff: [u32; 8],
    pub coff: [u32; 8],
    pub perm: [u32; 8],
}

impl CoopLayout {
    /// Checks a probed layout: `c[L * 8 + i]` and `a[L * 8 + i]` are the row-major
    /// positions (row * 16 + column) of element `i` of invocation `L` in an accumulator
    /// and an A fragment. `None` when it does not have the shape described above.
    pub fn from_positions(c: &[u32], a: &[u32]) -> Option<CoopLayout> {
        if c.len() != 256 || a.len() != 256 {
            return None;
        }
        let mut roff = [0; 8];
        let mut coff = [0; 8];
        for i in 0..8 {
            let (r, col) = (c[i] / 16, c[i] % 16);
            roff[i] = r;
            coff[i] = col;
            if !(r == 0 || r == 8) || !matches!(col, 0 | 1 | 8 | 9) {
                return None;
            }
        }
        let at = |l: u32, i: usize| (l / 4 + roff[i]) * 16 + 2 * (l % 4) + coff[i];
        let mut seen = [false; 256];
        for l in 0..32u32 {
            for i in 0..8 {
                let e = c[l as usize * 8 + i];
                if e != at(l, i) || seen[e as usize] {
                    return None;
                }
                seen[e as usize] = true;
            }
        }
        let mut perm = [0; 8];
        for (j, pj) in perm.iter_mut().enumerate() {
            *pj = (0..8).find(|&i| c[i] == a[j])? as u32;
        }
        for l in 0..32usize {
            for j in 0..8 {
                if a[l * 8 + j] != c[l * 8 + perm[j] as usize] {
                    return None;
                }
            }
        }
        Some(CoopLayout { roff, coff, perm })
    }
}

/// The probe shader: element positions of an accumulator and of an A fragment loaded
/// row-major from known values, and both fragments rebuilt from their elements (the
/// second through a product with the identity).
const PROBE: &str = r#"
enable f16;
enable wgpu_cooperative_matrix;
@group(0) @binding(0) var<storage, read> cin: array<f32>;
@group(0) @binding(1) var<storage, read> ain: array<f16>;
@group(0) @binding(2) var<storage, read_write> res: array<f32>;
fn coop_lo_c(m: coop_mat16x16<f32, C>) -> vec4<f32> { return vec4<f32>(); }
fn coop_hi_c(m: coop_mat16x16<f32, C>) -> vec4<f32> { return vec4<f32>(); }
fn coop_lo_a(m: coop_mat16x16<f16, A>) -> vec4<f16> { return vec4<f16>(); }
fn coop_hi_a(m: coop_mat16x16<f16, A>) -> vec4<f16> { return vec4<f16>(); }
fn coop_make_c(lo: vec4<f32>, hi: vec4<f32>) -> coop_mat16x16<f32, C> { return coop_mat16x16<f32, C>(); }
fn coop_make_a(lo: vec4<f16>, hi: vec4<f16>) -> coop_mat16x16<f16, A> { return coop_mat16x16<f16, A>(); }
@compute @workgroup_size(32)
fn main(@builtin(local_invocation_index) lane: u32) {
    let c = coopLoadT<coop_mat16x16<f32, C>>(&cin[0], 16u);
    let a = coopLoadT<coop_mat16x16<f16, A>>(&ain[0], 16u);
    let clo = coop_lo_c(c);
    let chi = coop_hi_c(c);
    let alo = coop_lo_a(a);
    let ahi = coop_hi_a(a);
    for (var i = 0u; i < 4u; i++) {
        res[lane * 8u + i] = clo[i];
        res[lane * 8u + 4u + i] = chi[i];
        res[256u + lane * 8u + i] = f32(alo[i]);
        res[256u + lane * 8u + 4u + i] = f32(ahi[i]);
    }
    let id = coopLoad<coop_mat16x16<f16, B>>(&ain[256], 16u);
    coopStoreT(coop_make_c(clo, chi), &res[512], 16u);
    coopStoreT(coopMultiplyAdd(coop_make_a(alo, ahi), id, coop_mat16x16<f32, C>()), &res[768], 16u);
}
"#;

/// Kernels whose SPIR-V gets [`spirv_coop_elements`] (built only through the
/// passthrough, see [`GpuContext::pipeline`]).
pub const ELEMENT_KERNELS: &[&str] = &["flash_regs", "coop_layout_probe"];

/// Whether the device can build element-access kernels at all: Vulkan, SPIR-V
/// passthrough, cooperative matrices, f16 and subgroups of exactly 32 invocations.
pub fn element_access_possible(ctx: &GpuContext) -> bool {
    let caps = ctx.capabilities();
    let f = ctx.device().features();
    ctx.info().backend == wgpu::Backend::Vulkan
        && f.contains(wgpu::Features::PASSTHROUGH_SHADERS | wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX | wgpu::Features::SHADER_F16)
        && caps.has_coop_16x16_f16_f32()
        && caps.subgroup_min_size == 32
        && caps.subgroup_max_size == 32
}

/// The device's fragment element layout (probed once per context, see the module
/// docs), or `None` where element access is not possible, the layout is not one the
/// register kernel handles, or the driver rejected the kernel ([`give_up`]).
pub fn coop_layout(ctx: &GpuContext) -> Option<CoopLayout> {
    if ctx.regs_failed.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    *ctx.coop_layout.get_or_init(|| {
        if !element_access_possible(ctx) {
            return None;
        }
        match probe_layout(ctx) {
            Ok(l) => l,
            Err(e) => {
                if std::env::var_os("RINGATTN_DEBUG").is_some() {
                    eprintln!("ringattn: cooperative-matrix layout probe failed: {e}");
                }
                None
            }
        }
    })
}

/// Stops using the register kernel on this context after a failure to build it (the
/// matrix tier then runs `flash_matrix.wgsl`); `RINGATTN_DEBUG` prints the error.
pub fn give_up(ctx: &GpuContext, err: &crate::error::Error) {
    ctx.regs_failed.store(true, std::sync::atomic::Ordering::Relaxed);
    if std::env::var_os("RINGATTN_DEBUG").is_some() {
        eprintln!("ringattn: register kernel not used: {err}");
    }
}

/// Runs the probe shader and checks what it returns ([`CoopLayout::from_positions`]
/// and exact round trips).
pub fn probe_layout(ctx: &GpuContext) -> crate::error::Result<Option<CoopLayout>> {
    use crate::kernels::Slot::*;
    use wgpu::BufferUsages as U;
    let layout = ctx.layout("coop_layout_probe", &[Read, Read, ReadWrite]);
    let key = crate::context::PipelineKey { kernel: "coop_layout_probe", defines: Vec::new() };
    let pipeline = ctx.pipeline(&key, &layout.1, || PROBE.to_string())?;
    let cvals: Vec<f32> = (0..256).map(|e| e as f32).collect();
    let mut avals: Vec<half::f16> = (0..256).map(|e| half::f16::from_f32(e as f32)).collect();
    avals.extend((0..256).map(|e| half::f16::from_f32(if e / 16 == e % 16 { 1.0 } else { 0.0 })));
    let cin = ctx.create_buffer("probe c", 1024, U::STORAGE | U::COPY_DST)?;
    let ain = ctx.create_buffer("probe a", 1024, U::STORAGE | U::COPY_DST)?;
    let res = ctx.create_buffer("probe out", 4096, U::STORAGE | U::COPY_DST | U::COPY_SRC)?;
    ctx.write_bytes(&cin, 0, bytemuck::cast_slice(&cvals))?;
    ctx.write_bytes(&ain, 0, bytemuck::cast_slice(&avals))?;
    ctx.write_bytes(&res, 0, bytemuck::cast_slice(&[f32::NAN; 1024]))?;
    let bind = ctx.device().create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("coop layout probe"),
        layout: &layout.0,
        entries: &[
            wgpu::BindGroupEntry { binding: 0, resource: cin.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: ain.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 2, resource: res.as_entire_binding() },
        ],
    });
    ctx.submit_with("coop layout probe", |enc| {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("coop layout probe"), timestamp_writes: None });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(1, 1, 1);
        Ok(())
    })?;
    let out: Vec<f32> = bytemuck::cast_slice(&ctx.read_bytes(&res, 0, 4096)?).to_vec();
    let place = |x: f32| ((0.0..256.0).contains(&x) && x.fract() == 0.0).then_some(x as u32);
    let c: Option<Vec<u32>> = out[..256].iter().map(|&x| place(x)).collect();
    let a: Option<Vec<u32>> = out[256..512].iter().map(|&x| place(x)).collect();
    let exact = out[512..].iter().enumerate().all(|(i, &x)| x == (i % 256) as f32);
    if std::env::var_os("RINGATTN_DEBUG").is_some() {
        eprintln!("ringattn: coop layout probe: C {:?}\n A {:?}\n round trips exact: {exact}", &out[..16], &out[256..272]);
    }
    Ok(match (c, a, exact) {
        (Some(c), Some(a), true) => CoopLayout::from_positions(&c, &a),
        _ => None,
    })
}

/// The register kernel's switches (see `flash_regs.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegsSwitches {
    /// Built for a softmax scale > 0 (SCALE_POS).
    pub scale_pos: bool,
    /// The running max moves only by more than 2^8 (LAZY; off by default,
    /// `RINGATTN_REGS_LAZY=1` on).
    pub lazy: bool,
    /// Two K/V buffers, one barrier per tile (DBUF; `RINGATTN_REGS_DBUF=0` off).
    pub dbuf: bool,
    /// Under a block mask (SPARSE: the tiles walk the mask's active key spans).
    pub sparse: bool,
}

/// Template substitutions of `flash_regs.wgsl` for head_dim `d`, tiles `cfg` (mq, w,
/// bk) and the probed layout, dense or under a block mask (`sparse`), with the switches
/// from the environment.
pub fn regs_defines(
    d: usize,
    cfg: &crate::kernels::flash::TileConfig,
    layout: &CoopLayout,
    scale_pos: bool,
    sparse: bool,
) -> Vec<(&'static str, String)> {
    regs_defines_with(d, cfg, layout, RegsSwitches { scale_pos, lazy: lazy_rescale(), dbuf: double_buffered(), sparse })
}

/// [`regs_defines`] with explicit switches (the shader tests render every variant).
pub fn regs_defines_with(d: usize, cfg: &crate::kernels::flash::TileConfig, layout: &CoopLayout, sw: RegsSwitches) -> Vec<(&'static str, String)> {
    let list = |v: &[u32; 8]| v.iter().map(|x| format!("{x}u")).collect::<Vec<_>>().join(", ");
    let flag = |b: bool| (b as u32).to_string();
    let wg = cfg.w * 32;
    vec![
        ("BK", cfg.bk.to_string()),
        ("COFF", list(&layout.coff)),
        ("DBUF", flag(sw.dbuf)),
        ("DT", (d / 16).to_string()),
        ("HEAD_DIM", d.to_string()),
        ("KSTR", (d + 8).to_string()),
        ("KT", (cfg.bk / 16).to_string()),
        ("LAZY", flag(sw.lazy)),
        ("MQ", cfg.mq.to_string()),
        ("NPF", (cfg.bk * d as u32 / 4).div_ceil(wg).to_string()),
        ("PERM", list(&layout.perm)),
        ("ROFF", list(&layout.roff)),
        ("SCALE_POS", flag(sw.scale_pos)),
        ("SPARSE", flag(sw.sparse)),
        ("W", cfg.w.to_string()),
    ]
}

/// Whether the register kernel moves a row's running max only when it rises by more
/// than 2^8 (LAZY, `RINGATTN_REGS_LAZY=1`). Off by default: moving it on every rise
/// (O rescaled every tile, no branch) measured 1-4 % faster non-causal and 5-13 %
/// causal on an H100 and 4-5 % on an H200 (BENCHMARKS.md, twelfth session).
fn lazy_rescale() -> bool {
    std::env::var("RINGATTN_REGS_LAZY").ok().as_deref().map(str::trim) == Some("1")
}

/// Whether the register kernel keeps two K/V buffers (DBUF: one barrier per tile;
/// `RINGATTN_REGS_DBUF=0` one buffer and two barriers).
fn double_buffered() -> bool {
    std::env::var("RINGATTN_REGS_DBUF").ok().as_deref().map(str::trim) != Some("0")
}

/// Workgroup memory of the register kernel (the K and V tiles), bytes.
pub fn regs_workgroup_bytes(d: usize, bk: u32) -> u32 {
    (1 + double_buffered() as u32) * 2 * bk * (d as u32 + 8) * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout of NVIDIA's mma.m16n8k16 fragments (two 16x8 halves).
    fn nv_positions() -> Vec<u32> {
        let mut v = Vec::new();
        for l in 0..32u32 {
            for i in 0..8u32 {
                let r = l / 4 + 8 * ((i >> 1) & 1);
                let c = 2 * (l % 4) + (i & 1) + 8 * (i >> 2);
                v.push(r * 16 + c);
            }
        }
        v
    }

    #[test]
    fn layout_accepts_quad_rows_and_a_permutation() {
        let c = nv_positions();
        let l = CoopLayout::from_positions(&c, &c).unwrap();
        assert_eq!(l.roff, [0, 0, 8, 8, 0, 0, 8, 8]);
        assert_eq!(l.coff, [0, 1, 0, 1, 8, 9, 8, 9]);
        assert_eq!(l.perm, [0, 1, 2, 3, 4, 5, 6, 7]);
        // A with elements 2,3 and 4,5 swapped: a permutation of the same places.
        let mut a = c.clone();
        for lane in 0..32 {
            a.swap(lane * 8 + 2, lane * 8 + 4);
            a.swap(lane * 8 + 3, lane * 8 + 5);
        }
        let l = CoopLayout::from_positions(&c, &a).unwrap();
        assert_eq!(l.perm, [0, 1, 4, 5, 2, 3, 6, 7]);
    }

    /// The probe shader's six helpers get element-access bodies; the module stays well
    /// formed (every instruction inside the module, ids below the new bound, functions
    /// closed) and nothing else changes.
    #[test]
    fn helpers_get_element_access_bodies() {
        let spirv = crate::context::vulkan_spirv_named(PROBE, true, true).unwrap();
        let (words, n) = spirv_coop_elements(&spirv.words).unwrap();
        assert_eq!(n, 6);
        let bound = words[3];
        assert!(bound > spirv.words[3]);
        let (mut open, mut extracts, mut inserts) = (false, 0, 0);
        for r in crate::context::spirv_instructions(&words).expect("well formed") {
            match words[r.start] & 0xffff {
                OP_FUNCTION => {
                    assert!(!open);
                    open = true;
                }
                OP_FUNCTION_END => {
                    assert!(open);
                    open = false;
                }
                OP_COMPOSITE_EXTRACT => extracts += 1,
                OP_COMPOSITE_INSERT => inserts += 1,
                OP_LABEL => assert!(words[r.start + 1] < bound),
                _ => {}
            }
        }
        assert!(!open);
        // Four lo/hi helpers x 4 extracts, two make helpers x 8 (extract + insert).
        assert!(extracts >= 4 * 4 + 2 * 8, "{extracts} extracts");
        assert!(inserts >= 2 * 8, "{inserts} inserts");
        // A module without helpers is returned as it was.
        let plain = crate::context::vulkan_spirv_named("@compute @workgroup_size(1) fn main() {}", true, true).unwrap();
        assert_eq!(spirv_coop_elements(&plain.words).unwrap(), (plain.words.clone(), 0));
        // Without names the helpers cannot be found.
        let unnamed = crate::context::vulkan_spirv(PROBE, true, true).unwrap();
        assert_eq!(spirv_coop_elements(&unnamed.words).unwrap().1, 0);
    }

    #[test]
    fn layout_rejects_other_shapes() {
        let c = nv_positions();
        // Row-major by invocation (8 consecutive elements): not quad rows.
        let linear: Vec<u32> = (0..256).collect();
        assert!(CoopLayout::from_positions(&linear, &linear).is_none());
        // A holding other places than C.
        let mut a = c.clone();
        a.swap(0, 8);
        assert!(CoopLayout::from_positions(&c, &a).is_none());
        // A duplicated element.
        let mut d = c.clone();
        d[9] = d[8];
        assert!(CoopLayout::from_positions(&d, &d).is_none());
        assert!(CoopLayout::from_positions(&c[..128], &c[..128]).is_none());
    }
}
