//! Probes the cooperative-matrix layout conventions of the adapter: which memory
//! layout `coopLoad`/`coopLoadT` and `coopStore`/`coopStoreT` use. Prints which
//! interpretation matches. Needs an adapter with EXPERIMENTAL_COOPERATIVE_MATRIX.
use ringattn::GpuContext;
use wgpu::util::DeviceExt;

fn main() {
    let ctx = GpuContext::new().unwrap();
    println!("{}", ctx.describe());
    if !ctx.capabilities().has_coop_16x16_f16_f32() {
        println!("no coop");
        return;
    }
    let a: Vec<f32> = (0..256).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
    let b: Vec<f32> = (0..256).map(|i| ((i * 5 % 11) as f32) - 5.0).collect();
    let ah: Vec<half::f16> = a.iter().map(|&x| half::f16::from_f32(x)).collect();
    let bh: Vec<half::f16> = b.iter().map(|&x| half::f16::from_f32(x)).collect();
    let dev = ctx.device();
    let variants = [
        ("storage A/B/C", "let x = coopLoadT<coop_mat16x16<f16, A>>(&a[0], 16u);\n let y = coopLoad<coop_mat16x16<f16, B>>(&b[0], 16u);\n var z = coop_mat16x16<f32, C>();\n z = coopMultiplyAdd(x, y, z);\n coopStoreT(z, &c[0], 16u);"),
        ("C via workgroup", "let x = coopLoadT<coop_mat16x16<f16, A>>(&a[0], 16u);\n let y = coopLoad<coop_mat16x16<f16, B>>(&b[0], 16u);\n var z = coop_mat16x16<f32, C>();\n z = coopMultiplyAdd(x, y, z);\n coopStoreT(z, &wf[8], 20u);\n workgroupBarrier();\n for (var e = lid; e < 256u; e += 32u) { c[e] = wf[8u + (e / 16u) * 20u + e % 16u]; }"),
        ("A via workgroup", "for (var e = lid; e < 256u; e += 32u) { wh[16u + (e / 16u) * 24u + e % 16u] = a[e]; }\n workgroupBarrier();\n let x = coopLoadT<coop_mat16x16<f16, A>>(&wh[16], 24u);\n let y = coopLoad<coop_mat16x16<f16, B>>(&b[0], 16u);\n var z = coop_mat16x16<f32, C>();\n z = coopMultiplyAdd(x, y, z);\n coopStoreT(z, &c[0], 16u);"),
        ("C roundtrip", "let x = coopLoadT<coop_mat16x16<f16, A>>(&a[0], 16u);\n let y = coopLoad<coop_mat16x16<f16, B>>(&b[0], 16u);\n var z = coop_mat16x16<f32, C>();\n z = coopMultiplyAdd(x, y, z);\n coopStoreT(z, &wf[0], 16u);\n workgroupBarrier();\n let z2 = coopLoadT<coop_mat16x16<f32, C>>(&wf[0], 16u);\n coopStoreT(z2, &c[0], 16u);"),
        ("C via wg + flag", "if lid == 0u { flag = 1u; }\n let x = coopLoadT<coop_mat16x16<f16, A>>(&a[0], 16u);\n let y = coopLoad<coop_mat16x16<f16, B>>(&b[0], 16u);\n var z = coop_mat16x16<f32, C>();\n z = coopMultiplyAdd(x, y, z);\n coopStoreT(z, &wf[8], 20u);\n workgroupBarrier();\n for (var e = lid; e < 256u; e += 32u) { c[e] = wf[8u + (e / 16u) * 20u + e % 16u] + f32(flag) - 1.0; }"),
        ("C via wg + hflag", "if lid == 0u { hflag[0] = 1.0; }\n let x = coopLoadT<coop_mat16x16<f16, A>>(&a[0], 16u);\n let y = coopLoad<coop_mat16x16<f16, B>>(&b[0], 16u);\n var z = coop_mat16x16<f32, C>();\n z = coopMultiplyAdd(x, y, z);\n coopStoreT(z, &wf[8], 20u);\n workgroupBarrier();\n for (var e = lid; e < 256u; e += 32u) { c[e] = wf[8u + (e / 16u) * 20u + e % 16u] + hflag[0] - 1.0; }"),
        ("zero twice", "let x = coopLoadT<coop_mat16x16<f16, A>>(&a[0], 16u);\n let y = coopLoad<coop_mat16x16<f16, B>>(&b[0], 16u);\n var z = coop_mat16x16<f32, C>();\n z = coopMultiplyAdd(x, y, z);\n var w = coop_mat16x16<f32, C>();\n w = coopMultiplyAdd(x, y, w);\n coopStoreT(w, &c[0], 16u);"),
    ];
    for (name, body) in variants {
        let (la, lb, st) = (name, "", "");
        let src = format!("enable f16;\nenable wgpu_cooperative_matrix;\n@group(0) @binding(0) var<storage, read> a: array<f16>;\n@group(0) @binding(1) var<storage, read> b: array<f16>;\n@group(0) @binding(2) var<storage, read_write> c: array<f32>;\nvar<workgroup> hflag: array<f32, 3>;\nvar<workgroup> wf: array<f32, 512>;\nvar<workgroup> flag: u32;\nvar<workgroup> wh: array<f16, 512>;\n@compute @workgroup_size(32)\nfn main(@builtin(local_invocation_index) lid: u32) {{\n {body}\n}}\n");
        let m = dev.create_shader_module(wgpu::ShaderModuleDescriptor { label: None, source: wgpu::ShaderSource::Wgsl(src.into()) });
        let p = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: None,
            layout: None,
            module: &m,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let ba = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(&ah),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let bb = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(&bh),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let bc = ctx.create_buffer("c", 1024, wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC).unwrap();
        let bg = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &p.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: ba.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: bb.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: bc.as_entire_binding() },
            ],
        });
        let mut enc = dev.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&p);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(1, 1, 1);
        }
        ctx.queue().submit([enc.finish()]);
        let out: Vec<f32> = bytemuck::pod_collect_to_vec(&ctx.read_bytes(&bc, 0, 1024).unwrap());
        println!("{name}: first {:?}", &out[..4]);
        // Candidate interpretations: X[i][j] = a[i*16+j] (rm) or a[j*16+i] (cm).
        let get = |v: &Vec<f32>, rm: bool, i: usize, j: usize| if rm { v[i * 16 + j] } else { v[j * 16 + i] };
        for arm in [true, false] {
            for brm in [true, false] {
                for crm in [true, false] {
                    let mut ok = true;
                    for i in 0..16 {
                        for j in 0..16 {
                            let mut s = 0.0;
                            for kk in 0..16 {
                                s += get(&a, arm, i, kk) * get(&b, brm, kk, j);
                            }
                            if (get(&out, crm, i, j) - s).abs() > 1e-3 {
                                ok = false;
                            }
                        }
                    }
                    if ok {
                        println!(
                            "{la}{lb}{st}: A {} B {} C {}",
                            if arm { "row-major" } else { "col-major" },
                            if brm { "row-major" } else { "col-major" },
                            if crm { "row-major" } else { "col-major" }
                        );
                    }
                }
            }
        }
    }
}
