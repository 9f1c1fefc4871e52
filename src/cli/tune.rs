//! `ringattn tune`: run the per-adapter searches now (the subgroup tier's kernel and shape, the
//! matrix tier's tiles) and store the results.

use clap::Args;

use super::{DeviceArgs, Status};
use crate::error::Result;
use crate::kernels::Tier;

#[derive(Args, Debug)]
pub struct TuneArgs {
    /// Head dims to tune (the matrix tier supports 32, 64, 96 and 128).
    #[arg(long, value_delimiter = ',', default_value = "64,128")]
    pub head_dims: Vec<usize>,
    /// Dtypes to tune (f16: the f16 kernel; f32: the split kernel).
    #[arg(long, value_delimiter = ',', default_value = "f16,f32")]
    pub dtypes: Vec<crate::tensor::Dtype>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn execute(a: &TuneArgs) -> Result<Status> {
    let ctx = a.device.open()?;
    println!("adapter: {}", ctx.describe());
    match crate::tuning::cache_path() {
        Some(p) => println!("cache:   {}", p.display()),
        None => println!("cache:   none (set RINGATTN_TUNE_CACHE or HOME)"),
    }
    let pairs = || a.dtypes.iter().flat_map(|t| a.head_dims.iter().map(move |d| (*t, *d)));
    let tiers = ctx.capabilities().tiers();
    if ctx.info().device_type == wgpu::DeviceType::Cpu {
        println!("CPU adapter: nothing to tune (the built-in tiles are used)");
        return Ok(Status::Ok);
    }
    if tiers.contains(&Tier::Subgroup) {
        for (dtype, d) in pairs() {
            let r = crate::tuning::tune_subgroup(&ctx, dtype, d)?;
            println!("\n{} head_dim {d}: {}", dtype.name(), r.key);
            let (b, n) = crate::tuning::SUBGROUP_SEARCH;
            println!("| subgroup kernel | ms (median, B={b}, N={n}, H=8) |");
            println!("|---|---:|");
            for (cfg, ms) in &r.timings {
                println!("| {} | {ms:.4} |", cfg.describe(Tier::Subgroup));
            }
            match &r.best {
                Some(b) => println!("best: {}, stored", b.describe()),
                None => println!("no subgroup kernel ran for head_dim {d} here: the built-in tiles are used"),
            }
            if r.best.as_ref().is_some_and(|b| b.wave.is_none()) {
                use crate::kernels::flash::{SMALL_GRID_INVOCATIONS, SMALL_GRID_WORKGROUPS};
                println!("wave and cores (key splits, small grids): not measured, {SMALL_GRID_INVOCATIONS} invocations and {SMALL_GRID_WORKGROUPS} workgroups assumed");
            }
        }
    }
    if !tiers.contains(&Tier::Matrix) {
        println!("this adapter has no 16x16x16 f16->f32 cooperative matrices: the matrix tier is not used");
        return Ok(Status::Ok);
    }
    for (dtype, d) in pairs() {
        for r in crate::tuning::tune(&ctx, dtype, d)? {
            println!("\n{} head_dim {d}: {}", dtype.name(), r.key);
            println!("| rows/subgroup | subgroups | keys/tile | ms (median, N=4096, H=8) |");
            println!("|---:|---:|---:|---:|");
            for ((mq, w, bk), ms) in &r.timings {
                println!("| {} | {w} | {bk} | {ms:.4} |", 16 * mq);
            }
            match &r.best {
                Some(b) => println!("best: {}, stored", b.describe()),
                None => println!("no candidate fits head_dim {d} on this adapter"),
            }
        }
    }
    Ok(Status::Ok)
}
