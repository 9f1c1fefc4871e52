//! `ringattn tune`: run the per-adapter tile search now and store the result.

use clap::Args;

use super::{DeviceArgs, Status};
use crate::error::Result;

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
    if !ctx.capabilities().has_coop_16x16_f16_f32() {
        println!("this adapter has no 16x16x16 f16->f32 cooperative matrices: nothing to tune (the matrix tier is not used)");
        return Ok(Status::Ok);
    }
    for (&dtype, &d) in a.dtypes.iter().flat_map(|t| a.head_dims.iter().map(move |d| (t, d))) {
        let r = crate::tuning::tune(&ctx, dtype, d)?;
        println!("\n{} head_dim {d}: {}", dtype.name(), r.key);
        println!("| rows/subgroup | subgroups | keys/tile | ms (median, N=4096, H=8) |");
        println!("|---:|---:|---:|---:|");
        for ((mq, w, bk), ms) in &r.timings {
            println!("| {} | {w} | {bk} | {ms:.4} |", 16 * mq);
        }
        match &r.best {
            Some(b) => println!("best: rows/subgroup {}, subgroups {}, keys/tile {} ({:.4} ms), stored", 16 * b.mq, b.w, b.bk, b.ms),
            None => println!("no candidate fits head_dim {d} on this adapter"),
        }
    }
    Ok(Status::Ok)
}
