//! How fast the subgroup tier's tile loop can multiply-add when one operand of every
//! multiply-add comes from workgroup memory, apart from everything else the kernel does
//! (shuffles, the softmax, staging, barriers): BENCHMARKS.md, "What limits each tier".
//!
//! Each invocation of a 256-invocation workgroup holds M x C vec4 of "Q" and of "O" in
//! registers and, for each of 16 keys and each of its C columns, reads one vec4 of "K"
//! and multiply-adds it into its M rows (4 M FMAs per read), as `flash_subgroup.wgsl`
//! does with R lanes per row: the R lanes of a row group read R consecutive vec4 and the
//! groups of a subgroup read the same ones. Probes:
//!
//! * `reg`: the operand from registers instead (no workgroup memory): the FMA rate the
//!   loop could reach;
//! * `R=r M=m C=c`: workgroup memory with r lanes per group (the kernel's pattern at
//!   head_dim 4 r C: r = 8, M = 4, C = 4 is head_dim 128's (8,4,16));
//! * `R=32`: every lane of a subgroup reads its own vec4 (no reads shared between groups);
//! * `+ n shuffles per key`: the kernel's loop with its shuffles (the reduce-scatter's,
//!   the row max's) modelled as n subgroupShuffleXor per key;
//! * `L1`: "K" read from a 32 KiB storage buffer at the same addresses instead of from
//!   workgroup memory (every workgroup reads the same bytes, so the reads hit the L1
//!   cache): what a kernel that reads K/V straight from memory, with no staging and no
//!   barriers, would get from its loop.
//!
//! Prints each probe's GPU time (timestamp queries, median of 7 after 2 warm-ups) and
//! multiply-add rate in TFLOP/s (2 FLOPs per FMA).
//!
//! Results on an H200: BENCHMARKS.md, "The tile loop alone" and "The tile loop with K/V
//! read from memory instead of workgroup memory" (the L1 probes).
//!
//! `cargo run --release --example lds_probe [workgroups] [iterations]`
use ringattn::kernels::render;
use ringattn::timing::GpuTimer;
use ringattn::GpuContext;

const SRC: &str = r#"
@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
//#if GLOBAL
@group(0) @binding(1) var<storage, read> kg: array<vec4<f32>>;
//#endif
var<workgroup> sh: array<vec4<f32>, 2048>;
const WG: u32 = 256u;
const LANES: u32 = $LANESu;
const C: u32 = $Cu;
const ITERS: u32 = $ITERSu;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    for (var i = lid; i < 2048u; i += WG) {
        sh[i] = vec4<f32>(f32(i & 7u) * 0.125 - 0.4);
    }
    workgroupBarrier();
    let lane = lid % LANES;
    var q: array<vec4<f32>, $MC>;
    var acc: array<vec4<f32>, $MC>;
    var t = 0.0;
    //#unroll i $MC
    q[{i}] = vec4<f32>(f32(lid + {i}u) * 1e-3);
    acc[{i}] = vec4<f32>(0.0);
    //#end
    for (var it = 0u; it < ITERS; it++) {
        let base = (it * 16u * C * LANES) & 1023u;
        //#unroll j 16
        {
            //#unroll c $C
            {
                //#if SHARED
                let kx = sh[(base + {j}u * C * LANES + {c}u * LANES + lane) & 2047u];
                //#else
                //#if GLOBAL
                let kx = kg[(base + {j}u * C * LANES + {c}u * LANES + lane) & 2047u];
                //#else
                let kx = q[({j}u + {c}u) % $MCu];
                //#endif
                //#endif
                //#unroll m $M
                acc[{m}u * C + {c}u] = fma(q[{m}u * C + {c}u], kx, acc[{m}u * C + {c}u]);
                //#end
            }
            //#end
            //#unroll x $SHUF
            t += subgroupShuffleXor(acc[({j}u + {x}u) % $MCu].x, 1u << ({x}u % 3u));
            //#end
        }
        //#end
        //#unroll x $EXTRA
        {
            let px = sh[(base + 1024u + {x}u * LANES + lane) & 2047u];
            t += px.x * px.y + px.z * px.w;
        }
        //#end
    }
    var s = vec4<f32>(t);
    //#unroll i $MC
    s += acc[{i}];
    //#end
    out[wg.x * WG + lid] = s;
}
"#;

/// Where a probe's "K" comes from.
#[derive(Clone, Copy, PartialEq)]
enum Operand {
    Registers,
    Workgroup,
    /// A storage buffer (reads that hit the L1 cache).
    Storage,
}

/// One probe: its name, where "K" comes from, lanes per group, rows per group (M) and
/// vec4 columns per lane (C).
struct Probe {
    name: String,
    operand: Operand,
    lanes: u32,
    m: u32,
    c: u32,
    /// Shuffles per key and iteration (the reduce-scatter's and P's, one per 4 M C FMAs x
    /// that many).
    shuf: u32,
    /// Further 128-bit reads per 16 keys (PSM's P reads), each used for 2 multiply-adds.
    extra: u32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let ctx = GpuContext::new()?;
    let cpu = ctx.info().device_type == wgpu::DeviceType::Cpu;
    let workgroups = args.first().copied().unwrap_or(if cpu { 4 } else { 1056 });
    let iters = args.get(1).copied().unwrap_or(if cpu { 4 } else { 200 });
    println!("adapter: {}", ctx.describe());
    println!("{workgroups} workgroups of 256, {iters} iterations of 16 keys");
    use Operand::{Registers, Storage, Workgroup};
    let probe = |name: &str, operand, lanes, m, c| Probe { name: name.into(), operand, lanes, m, c, shuf: 0, extra: 0 };
    let shuffled = |name: &str, operand, lanes, m, c, shuf, extra| Probe { name: name.into(), operand, lanes, m, c, shuf, extra };
    let probes = [
        probe("reg (no workgroup memory), M=4 C=4", Registers, 8, 4, 4),
        probe("R=8 M=4 C=4 (head_dim 128's (8,4,16))", Workgroup, 8, 4, 4),
        probe("R=4 M=4 C=4 (head_dim 64's (4,4,16))", Workgroup, 4, 4, 4),
        probe("R=8 M=8 C=2 (twice the FMAs per read)", Workgroup, 8, 8, 2),
        probe("R=8 M=2 C=8 (half the FMAs per read)", Workgroup, 8, 2, 8),
        probe("R=32 M=4 C=4 (no reads shared between groups)", Workgroup, 32, 4, 4),
        probe("L1: R=8 M=4 C=4", Storage, 8, 4, 4),
        probe("L1: R=8 M=8 C=2", Storage, 8, 8, 2),
        probe("L1: R=32 M=4 C=4", Storage, 32, 4, 4),
        // The kernels' shuffles and P reads per 16 keys of one product (an iteration is
        // one product's 16 keys; P·V reads P, Q·K^T does not). (8,4,16) with PSM: 61
        // shuffles per 16-key tile of both products (the reduce-scatter's 56, the row
        // max's 1, the rescale's 4), ~2 per key and product, and 16 P reads per tile;
        // before PSM P took 64 shuffles more (125, ~4 per key). (16,8,8): 69 per 8-key
        // tile (60 + 1 + 8), ~4.3 per key and product, and 2 P reads per key.
        shuffled("R=8 M=4 C=4 + 2 shuffles per key, 8 P reads per 16 keys ((8,4,16)'s loop)", Workgroup, 8, 4, 4, 2, 8),
        shuffled("R=8 M=4 C=4 + 4 shuffles per key ((8,4,16)'s loop before PSM)", Workgroup, 8, 4, 4, 4, 0),
        shuffled("R=16 M=8 C=2 + 4 shuffles per key, 16 P reads per 16 keys ((16,8,8)'s loop)", Workgroup, 16, 8, 2, 4, 16),
        shuffled("R=16 M=8 C=2 + 8 shuffles per key", Workgroup, 16, 8, 2, 8, 0),
        shuffled("L1: R=8 M=4 C=4 + 2 shuffles per key, 8 P reads per 16 keys ((8,4,16)'s loop)", Storage, 8, 4, 4, 2, 8),
    ];
    let out = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("lds_probe out"),
        size: workgroups as u64 * 256 * 16,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    // "K" for the L1 probes: the values the workgroup-memory probes stage.
    let kdata: Vec<f32> = (0..2048 * 4).map(|i| ((i / 4) & 7) as f32 * 0.125 - 0.4).collect();
    let kbuf = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("lds_probe k"),
        size: 2048 * 16,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    ctx.queue().write_buffer(&kbuf, 0, bytemuck::cast_slice(&kdata));
    let timer = GpuTimer::new(&ctx);
    if timer.is_none() {
        println!("(no TIMESTAMP_QUERY: wall times of submit + wait)");
    }
    println!("| probe | FMAs per read | ms | TFLOP/s |\n|---|---:|---:|---:|");
    for p in &probes {
        let defines = vec![
            ("C", p.c.to_string()),
            ("ITERS", iters.to_string()),
            ("LANES", p.lanes.to_string()),
            ("M", p.m.to_string()),
            ("MC", (p.m * p.c).to_string()),
            ("SHARED", ((p.operand == Workgroup) as u32).to_string()),
            ("GLOBAL", ((p.operand == Storage) as u32).to_string()),
            ("SHUF", p.shuf.to_string()),
            ("EXTRA", p.extra.to_string()),
        ];
        let src = render(SRC, &defines);
        let desc = wgpu::ShaderModuleDescriptor { label: Some("lds_probe"), source: wgpu::ShaderSource::Wgsl(src.into()) };
        let module = if ctx.info().backend == wgpu::Backend::Vulkan {
            // SAFETY: every index is masked into its array's bounds (robust buffer
            // access covers the buffer on Vulkan), as the library's own kernels.
            let checks = wgpu::ShaderRuntimeChecks { bounds_checks: false, ..wgpu::ShaderRuntimeChecks::checked() };
            unsafe { ctx.device().create_shader_module_trusted(desc, checks) }
        } else {
            ctx.device().create_shader_module(desc)
        };
        let pipeline = ctx.device().create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("lds_probe"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let bg = ctx.device().create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: out.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: kbuf.as_entire_binding() },
            ][..if p.operand == Storage { 2 } else { 1 }],
        });
        let mut times = Vec::new();
        for rep in 0..9 {
            let mut enc = ctx.device().create_command_encoder(&Default::default());
            {
                let mut pass =
                    enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: timer.as_ref().map(|t| t.writes()) });
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(workgroups, 1, 1);
            }
            if let Some(t) = &timer {
                t.resolve(&mut enc);
            }
            let t0 = std::time::Instant::now();
            ctx.queue().submit([enc.finish()]);
            ctx.wait()?;
            let secs = match &timer {
                Some(t) => t.read_seconds(&ctx)?,
                None => t0.elapsed().as_secs_f64(),
            };
            if rep >= 2 {
                times.push(secs);
            }
        }
        times.sort_by(f64::total_cmp);
        let secs = times[times.len() / 2];
        let fmas = workgroups as f64 * 256.0 * iters as f64 * 16.0 * (p.c * p.m * 4) as f64;
        println!(
            "| {} | {} | {:.3} | {:.1} |",
            p.name,
            if p.operand == Registers { "-".into() } else { (4 * p.m).to_string() },
            secs * 1e3,
            2.0 * fmas / secs / 1e12
        );
    }
    Ok(())
}
