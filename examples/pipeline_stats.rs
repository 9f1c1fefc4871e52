//! What a Vulkan driver says about compiled kernels: registers, spills, workgroup
//! memory, instruction counts (`VK_KHR_pipeline_executable_properties`), the nearest
//! thing to a profiler the lent GPU machines have.
//!
//! ```sh
//! RINGATTN_DUMP_WGSL=/tmp/wgsl cargo run --release -- bench --seqs 4096 --reps 1
//! cargo run --release --example pipeline_stats -- [--adapter NVIDIA] /tmp/wgsl/*.wgsl
//! ```
//!
//! Each WGSL file (as the library renders it: `RINGATTN_DUMP_WGSL` in
//! `GpuContext::pipeline`) is translated to SPIR-V by naga with the options wgpu's Vulkan
//! backend uses (bounds-check policies, loop bounding, workgroup-memory zeroing), built
//! into a compute pipeline on a plain Vulkan device with every feature the adapter has,
//! and the driver's statistics of each of its executables are printed. wgpu's own
//! pipelines are built the same way but without the flag that keeps statistics, so the
//! numbers describe the same code, not the very same binary.
//!
//! `--dump DIR` also writes, per file, the driver's internal representations (NVIDIA's
//! driver 580 offers none) and its pipeline-cache blob (`NAME.cache.bin`); on NVIDIA
//! the blob holds the machine code, which `scripts/sass_from_cache.py` turns into
//! SASS with `nvdisasm` (BENCHMARKS.md, "Reading the driver's code").

#[cfg(host_import)]
fn main() {
    if let Err(e) = stats::run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(host_import))]
fn main() {
    eprintln!("pipeline_stats needs Vulkan (not on this target)");
}

#[cfg(host_import)]
mod stats {
    use ash::vk;
    use std::ffi::CStr;

    type Res<T> = Result<T, String>;

    pub fn run() -> Res<()> {
        let mut filter = std::env::var("RINGATTN_ADAPTER").unwrap_or_default();
        let mut files = Vec::new();
        let mut dump_dir: Option<String> = None;
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--adapter" => filter = args.next().ok_or("--adapter needs a name")?,
                "--dump" => dump_dir = Some(args.next().ok_or("--dump needs a directory")?),
                "-h" | "--help" => {
                    println!("usage: pipeline_stats [--adapter NAME] [--dump DIR] FILE.wgsl...");
                    return Ok(());
                }
                _ => files.push(a),
            }
        }
        if files.is_empty() {
            return Err("no WGSL files given (write them with RINGATTN_DUMP_WGSL=DIR and any ringattn command)".into());
        }
        let vk = Vulkan::open(&filter)?;
        println!("adapter: {}", vk.name);
        for f in &files {
            let src = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
            let title = src.lines().next().unwrap_or("").trim_start_matches("// ");
            println!("\n{f}\n  {}", title.chars().take(400).collect::<String>());
            let dump = dump_dir.as_ref().map(|d| format!("{d}/{}", std::path::Path::new(f).file_stem().and_then(|n| n.to_str()).unwrap_or("kernel")));
            match vk.stats(&src, dump.as_deref()) {
                Ok(lines) => lines.iter().for_each(|l| println!("  {l}")),
                Err(e) => println!("  failed: {e}"),
            }
        }
        Ok(())
    }

    /// SPIR-V for a WGSL compute shader with entry point `main`, as the library builds
    /// it on Vulkan (`ringattn::context::kernel_spirv`): index clamping except in
    /// ringattn's UNCLAMPED_KERNELS (the kernel name opens the dumped file's first line,
    /// `// NAME[...]`); RINGATTN_CHECKS, when set, names the checks kept; kernels named
    /// in RINGATTN_ROLLED_LOOPS get every loop marked DontUnroll, and the register kernel
    /// its element accesses (`kernels::regs`), as the library does.
    fn spirv(wgsl: &str) -> Res<ringattn::context::VulkanSpirv> {
        let checks = std::env::var("RINGATTN_CHECKS").ok();
        let kernel = wgsl.lines().next().and_then(|l| l.strip_prefix("// ")).and_then(|t| t.split('[').next()).unwrap_or("");
        let unclamped = ringattn::context::UNCLAMPED_KERNELS.contains(&kernel);
        let bounds = checks.as_deref().map_or(!unclamped, |m| m.contains("bounds"));
        let loops = checks.as_deref().is_none_or(|m| m.contains("loops"));
        ringattn::context::kernel_spirv(kernel, wgsl, bounds, loops, ringattn::context::rolled_loops(kernel))
    }

    struct Vulkan {
        _entry: ash::Entry,
        instance: ash::Instance,
        device: ash::Device,
        exe: ash::khr::pipeline_executable_properties::Device,
        name: String,
    }

    impl Drop for Vulkan {
        fn drop(&mut self) {
            // SAFETY: nothing created from them is alive any more.
            unsafe {
                self.device.destroy_device(None);
                self.instance.destroy_instance(None);
            }
        }
    }

    fn name_of(chars: &[std::ffi::c_char]) -> String {
        // SAFETY: Vulkan strings are NUL-terminated within their arrays.
        unsafe { CStr::from_ptr(chars.as_ptr()) }.to_string_lossy().into_owned()
    }

    impl Vulkan {
        /// A device on the first physical device whose name contains `filter` (any, if
        /// empty), with every feature it supports and the statistics extension.
        fn open(filter: &str) -> Res<Self> {
            // SAFETY: loading the system's Vulkan loader.
            let entry = unsafe { ash::Entry::load() }.map_err(|e| format!("no Vulkan loader: {e}"))?;
            let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_3);
            // SAFETY: plain instance creation.
            let instance =
                unsafe { entry.create_instance(&vk::InstanceCreateInfo::default().application_info(&app), None) }.map_err(|e| e.to_string())?;
            // SAFETY: valid instance.
            let pds = unsafe { instance.enumerate_physical_devices() }.map_err(|e| e.to_string())?;
            let pick = pds.into_iter().find(|&pd| {
                // SAFETY: a physical device of this instance.
                let p = unsafe { instance.get_physical_device_properties(pd) };
                name_of(&p.device_name).to_lowercase().contains(&filter.to_lowercase())
            });
            let pd = pick.ok_or_else(|| format!("no Vulkan device matches {filter:?}"))?;
            // SAFETY: as above.
            let name = name_of(&unsafe { instance.get_physical_device_properties(pd) }.device_name);
            // SAFETY: as above.
            let exts = unsafe { instance.enumerate_device_extension_properties(pd) }.map_err(|e| e.to_string())?;
            let has = |n: &CStr| exts.iter().any(|e| e.extension_name_as_c_str() == Ok(n));
            if !has(ash::khr::pipeline_executable_properties::NAME) {
                return Err(format!("{name} does not offer VK_KHR_pipeline_executable_properties"));
            }
            let mut enabled = vec![ash::khr::pipeline_executable_properties::NAME.as_ptr()];
            let coop = has(ash::khr::cooperative_matrix::NAME);
            if coop {
                enabled.push(ash::khr::cooperative_matrix::NAME.as_ptr());
            }
            // Every feature the device has (a diagnostic; wgpu enables a subset).
            let mut f11 = vk::PhysicalDeviceVulkan11Features::default();
            let mut f12 = vk::PhysicalDeviceVulkan12Features::default();
            let mut f13 = vk::PhysicalDeviceVulkan13Features::default();
            let mut fexe = vk::PhysicalDevicePipelineExecutablePropertiesFeaturesKHR::default();
            let mut fcoop = vk::PhysicalDeviceCooperativeMatrixFeaturesKHR::default();
            let mut features =
                vk::PhysicalDeviceFeatures2::default().push_next(&mut f11).push_next(&mut f12).push_next(&mut f13).push_next(&mut fexe);
            if coop {
                features = features.push_next(&mut fcoop);
            }
            // SAFETY: a valid chain of feature structs.
            unsafe { instance.get_physical_device_features2(pd, &mut features) };
            let queue = [vk::DeviceQueueCreateInfo::default().queue_family_index(0).queue_priorities(&[1.0])];
            let info = vk::DeviceCreateInfo::default().queue_create_infos(&queue).enabled_extension_names(&enabled).push_next(&mut features);
            // SAFETY: extensions and features the device reported.
            let device = unsafe { instance.create_device(pd, &info, None) }.map_err(|e| format!("vkCreateDevice: {e}"))?;
            let exe = ash::khr::pipeline_executable_properties::Device::new(&instance, &device);
            Ok(Vulkan { _entry: entry, instance, device, exe, name })
        }

        /// The driver's statistics of every executable of `wgsl`'s compute pipeline.
        fn stats(&self, wgsl: &str, dump: Option<&str>) -> Res<Vec<String>> {
            let ringattn::context::VulkanSpirv { words, module } = spirv(wgsl)?;
            let d = &self.device;
            // One set layout per bind group, from the shader's own bindings.
            let mut groups: std::collections::BTreeMap<u32, Vec<vk::DescriptorSetLayoutBinding>> = Default::default();
            for (_, g) in module.global_variables.iter() {
                let Some(rb) = &g.binding else { continue };
                let ty = match g.space {
                    naga::AddressSpace::Uniform => vk::DescriptorType::UNIFORM_BUFFER,
                    naga::AddressSpace::Storage { .. } => vk::DescriptorType::STORAGE_BUFFER,
                    other => return Err(format!("binding in address space {other:?} not handled")),
                };
                groups.entry(rb.group).or_default().push(
                    vk::DescriptorSetLayoutBinding::default()
                        .binding(rb.binding)
                        .descriptor_type(ty)
                        .descriptor_count(1)
                        .stage_flags(vk::ShaderStageFlags::COMPUTE),
                );
            }
            let max_group = groups.keys().copied().max().map_or(0, |g| g + 1);
            let mut set_layouts = Vec::new();
            for g in 0..max_group {
                let b = groups.remove(&g).unwrap_or_default();
                // SAFETY: a valid create info.
                set_layouts.push(
                    unsafe { d.create_descriptor_set_layout(&vk::DescriptorSetLayoutCreateInfo::default().bindings(&b), None) }
                        .map_err(|e| e.to_string())?,
                );
            }
            // SAFETY: valid create infos; every object is destroyed below.
            let out = unsafe {
                let layout =
                    d.create_pipeline_layout(&vk::PipelineLayoutCreateInfo::default().set_layouts(&set_layouts), None).map_err(|e| e.to_string())?;
                let shader = d.create_shader_module(&vk::ShaderModuleCreateInfo::default().code(&words), None).map_err(|e| e.to_string())?;
                let stage = vk::PipelineShaderStageCreateInfo::default().stage(vk::ShaderStageFlags::COMPUTE).module(shader).name(c"main");
                let flags = vk::PipelineCreateFlags::CAPTURE_STATISTICS_KHR | vk::PipelineCreateFlags::CAPTURE_INTERNAL_REPRESENTATIONS_KHR;
                let info = vk::ComputePipelineCreateInfo::default().stage(stage).layout(layout).flags(flags);
                let cache = d.create_pipeline_cache(&vk::PipelineCacheCreateInfo::default(), None).map_err(|e| e.to_string())?;
                let made = d.create_compute_pipelines(cache, &[info], None);
                let res = match made {
                    Ok(p) => {
                        let r = self.describe(p[0], dump);
                        d.destroy_pipeline(p[0], None);
                        r
                    }
                    Err((_, e)) => Err(format!("vkCreateComputePipelines: {e}")),
                };
                // The driver's pipeline cache holds the compiled binary: kept for offline
                // disassembly when asked.
                if let (Some(dir), Ok(data)) = (dump, d.get_pipeline_cache_data(cache)) {
                    let _ = std::fs::write(format!("{dir}.cache.bin"), data);
                }
                d.destroy_pipeline_cache(cache, None);
                d.destroy_shader_module(shader, None);
                d.destroy_pipeline_layout(layout, None);
                res
            };
            for l in set_layouts {
                // SAFETY: no pipeline layout uses it any more.
                unsafe { d.destroy_descriptor_set_layout(l, None) };
            }
            out
        }

        fn describe(&self, pipeline: vk::Pipeline, dump: Option<&str>) -> Res<Vec<String>> {
            let mut lines = Vec::new();
            // SAFETY: a pipeline created with CAPTURE_STATISTICS on this device.
            let exes = unsafe { self.exe.get_pipeline_executable_properties(&vk::PipelineInfoKHR::default().pipeline(pipeline)) }
                .map_err(|e| e.to_string())?;
            for (i, e) in exes.iter().enumerate() {
                lines.push(format!("executable {i}: {} (subgroup size {})", name_of(&e.name), e.subgroup_size));
                let info = vk::PipelineExecutableInfoKHR::default().pipeline(pipeline).executable_index(i as u32);
                // SAFETY: as above.
                let stats = unsafe { self.exe.get_pipeline_executable_statistics(&info) }.map_err(|e| e.to_string())?;
                for s in stats {
                    // SAFETY: the union member named by `format`.
                    let v = unsafe {
                        match s.format {
                            vk::PipelineExecutableStatisticFormatKHR::BOOL32 => format!("{}", s.value.b32 != 0),
                            vk::PipelineExecutableStatisticFormatKHR::INT64 => format!("{}", s.value.i64),
                            vk::PipelineExecutableStatisticFormatKHR::UINT64 => format!("{}", s.value.u64),
                            vk::PipelineExecutableStatisticFormatKHR::FLOAT64 => format!("{:.3}", s.value.f64),
                            _ => "?".into(),
                        }
                    };
                    lines.push(format!("  {}: {v}", name_of(&s.name)));
                }
                if let Some(dir) = dump {
                    lines.extend(self.internal(&info, &format!("{dir}.exe{i}"))?);
                }
            }
            Ok(lines)
        }

        /// Writes the driver's internal representations of one executable (whatever it
        /// offers: IR text or binary) to `base.N.txt` / `base.N.bin`.
        fn internal(&self, info: &vk::PipelineExecutableInfoKHR, base: &str) -> Res<Vec<String>> {
            // SAFETY: the two-call pattern of vkGetPipelineExecutableInternalRepresentationsKHR:
            // first the sizes, then the data into buffers of those sizes.
            let mut reps = unsafe { self.exe.get_pipeline_executable_internal_representations(info) }.map_err(|e| e.to_string())?;
            let mut bufs: Vec<Vec<u8>> = reps.iter().map(|r| vec![0u8; r.data_size]).collect();
            for (r, b) in reps.iter_mut().zip(bufs.iter_mut()) {
                r.p_data = b.as_mut_ptr().cast();
            }
            let mut count = reps.len() as u32;
            // SAFETY: as above; every p_data points at data_size writable bytes.
            let res = unsafe {
                (self.exe.fp().get_pipeline_executable_internal_representations_khr)(self.device.handle(), info, &mut count, reps.as_mut_ptr())
            };
            let mut lines = vec![format!("  internal representations: {} ({res:?})", reps.len())];
            for (n, (r, b)) in reps.iter().zip(bufs.iter()).enumerate() {
                let ext = if r.is_text != 0 { "txt" } else { "bin" };
                let len = if r.is_text != 0 { b.iter().position(|&c| c == 0).unwrap_or(b.len()) } else { r.data_size.min(b.len()) };
                let path = format!("{base}.{n}.{ext}");
                std::fs::write(&path, &b[..len]).map_err(|e| format!("{path}: {e}"))?;
                lines.push(format!("    {}: {} bytes -> {path}", name_of(&r.name), len));
            }
            Ok(lines)
        }
    }
}
