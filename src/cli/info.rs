//! `ringattn info`: every adapter, its capabilities and the tier it would run.

use clap::Args;

use super::{bytes_human, Status};
use crate::attention::resolve_tier;
use crate::context::{describe_adapter, enumerate_adapters, sort_adapters};
use crate::error::{Error, Result};
use crate::tensor::Dtype;
use crate::GpuContext;

/// Arguments of `ringattn info`.
#[derive(Args, Debug, Clone, Default)]
pub struct InfoArgs {
    /// Skip creating a device on each adapter (faster; no tier is printed).
    #[arg(long)]
    pub no_device: bool,
}

/// Head dim used to show which kernel tier a dtype actually runs with.
const SHOW_HEAD_DIM: usize = 64;

pub fn execute(args: &InfoArgs) -> Result<Status> {
    let mut adapters = enumerate_adapters();
    sort_adapters(&mut adapters);
    if adapters.is_empty() {
        return Err(Error::NoAdapter("wgpu found no adapter (WGPU_BACKEND may exclude it; on headless Linux install mesa-vulkan-drivers)".into()));
    }

    // The adapter GpuContext::new() picks (RINGATTN_ADAPTER and fallbacks included).
    let default = if args.no_device {
        None
    } else {
        match GpuContext::new() {
            Ok(c) => Some(Ok(c.info().clone())),
            Err(e) => Some(Err(e)),
        }
    };

    println!("{} adapter{} (preference order)", adapters.len(), if adapters.len() == 1 { "" } else { "s" });
    for (i, a) in adapters.into_iter().enumerate() {
        let info = a.get_info();
        let picked = matches!(&default, Some(Ok(d)) if *d == info);
        println!();
        println!("[{i}] {}{}", info.name, if picked { "    <- default (GpuContext::new)" } else { "" });
        println!("    backend:  {:?}", info.backend);
        println!("    type:     {:?}", info.device_type);
        println!("    driver:   {} {}", info.driver, info.driver_info);
        println!(
            "    ids:      vendor {:#06x}, device {:#06x}{}",
            info.vendor,
            info.device,
            if info.device_pci_bus_id.is_empty() { String::new() } else { format!(", pci {}", info.device_pci_bus_id) }
        );

        let f = a.features();
        let yes = |b: bool| if b { "yes" } else { "no" };
        println!("    features:");
        println!("      SHADER_F16                       {}", yes(f.contains(wgpu::Features::SHADER_F16)));
        let sg = f.contains(wgpu::Features::SUBGROUP);
        println!(
            "      SUBGROUP                         {}{}",
            yes(sg),
            if sg { format!(" (sizes {}..{})", info.subgroup_min_size, info.subgroup_max_size) } else { String::new() }
        );
        println!("      SUBGROUP_BARRIER                 {}", yes(f.contains(wgpu::Features::SUBGROUP_BARRIER)));
        println!("      TIMESTAMP_QUERY                  {}", yes(f.contains(wgpu::Features::TIMESTAMP_QUERY)));
        let coop = f.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX);
        println!("      EXPERIMENTAL_COOPERATIVE_MATRIX  {}", yes(coop));
        if coop {
            let props = a.cooperative_matrix_properties();
            if props.is_empty() {
                println!("        (no shapes reported)");
            }
            for p in props {
                println!(
                    "        {}x{}x{} {:?} x {:?} -> {:?}{}",
                    p.m_size,
                    p.n_size,
                    p.k_size,
                    p.ab_type,
                    p.ab_type,
                    p.cr_type,
                    if p.saturating_accumulation { " (saturating)" } else { "" }
                );
            }
        }

        let l = a.limits();
        println!("    limits:");
        println!("      max_storage_buffer_binding_size       {}", bytes_human(l.max_storage_buffer_binding_size));
        println!("      max_buffer_size                       {}", bytes_human(l.max_buffer_size));
        println!("      max_compute_workgroup_storage_size    {}", bytes_human(l.max_compute_workgroup_storage_size as u64));
        println!("      max_compute_invocations_per_workgroup {}", l.max_compute_invocations_per_workgroup);
        println!("      max_compute_workgroups_per_dimension  {}", l.max_compute_workgroups_per_dimension);

        if args.no_device {
            continue;
        }
        if info.backend == wgpu::Backend::Noop {
            println!("    tier:     - (noop adapter; GpuContext::new skips it)");
            continue;
        }
        let desc = describe_adapter(&info);
        match GpuContext::from_adapter(a) {
            Ok(ctx) => {
                let runs: Vec<String> = [Dtype::F32, Dtype::F16]
                    .into_iter()
                    .map(|dt| match ctx.check_dtype(dt, "attention") {
                        Err(_) => format!("{} unavailable (no SHADER_F16)", dt.name()),
                        Ok(()) => match resolve_tier(&ctx, None, dt, SHOW_HEAD_DIM) {
                            Ok(t) => format!("{} -> {t}", dt.name()),
                            Err(e) => format!("{} -> ? ({e})", dt.name()),
                        },
                    })
                    .collect();
                println!("    tier:     {} (adapter best)", ctx.best_tier());
                println!("    kernels:  at head_dim {SHOW_HEAD_DIM}: {}", runs.join(", "));
                if ctx.capabilities().tiers().contains(&crate::Tier::Matrix) {
                    let regs = match (crate::kernels::regs::element_access_possible(&ctx), crate::kernels::regs::coop_layout(&ctx)) {
                        (false, _) => "no (needs Vulkan, SPIR-V passthrough and 32-wide subgroups)".to_string(),
                        (true, None) => "no (fragment layout not one it handles)".to_string(),
                        (true, Some(_)) => "yes (dense f16; by default at head_dim <= 64)".to_string(),
                    };
                    println!("    matrix:   register kernel {regs}");
                }
                let tuned = crate::tuning::cached_for(&ctx);
                if tuned.is_empty() {
                    println!("    tuned:    nothing cached (a GPU searches at first use, or `ringattn tune`)");
                }
                for (i, (what, entry)) in tuned.iter().enumerate() {
                    println!("    {} {what}: {}", if i == 0 { "tuned:   " } else { "         " }, entry.describe());
                }
                match ctx.host_import_alignment() {
                    Some(a) => {
                        let dma = match ctx.dma_queue_family() {
                            Some(f) => format!("copies on {} DMA queue(s) of family {f}", ctx.dma_queue_count()),
                            None => "copies on wgpu's queue (no second queue; RINGATTN_DMA_QUEUE)".into(),
                        };
                        println!("    ring:     shared host staging possible (VK_EXT_external_memory_host, alignment {a}); {dma}")
                    }
                    None => println!("    ring:     mapped staging (no host-memory import on this adapter)"),
                }
            }
            Err(e) => println!("    tier:     - (device creation failed on {desc}: {e})"),
        }
    }
    match default {
        Some(Err(e)) => println!("\nGpuContext::new() fails: {e}"),
        Some(Ok(d)) => println!("\ndefault adapter: {}", describe_adapter(&d)),
        None => {}
    }
    Ok(Status::Ok)
}
