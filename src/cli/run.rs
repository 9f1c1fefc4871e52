//! `ringattn run`: attention on `.npy` inputs.
//!
//! Q is (batch, seq_q, heads, head_dim); K and V are (batch, seq_k, kv_heads,
//! head_dim); float32 or float16 files. O is written in Q's file dtype, LSE as
//! float32 (batch, heads, seq_q).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use super::{check_writable_dir, ms, DeviceArgs, Status};
use crate::attention::{resolve_tier, AttentionOptions};
use crate::error::{Error, Result};
use crate::kernels::Tier;
use crate::mask::{BlockMask, Pattern};
use crate::npy::{read_npy, shape_tuple, write_npy_as, write_npy_f16, write_npy_f32, NpyArray, NpyData};
use crate::reference;
use crate::ring::{Placement, RingAttention, RingOptions};
use crate::tensor::{Dtype, GpuTensor, Shape};
use crate::GpuContext;

/// Element type on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    #[value(alias = "float32", alias = "fp32")]
    F32,
    #[value(alias = "float16", alias = "fp16", alias = "half")]
    F16,
}

impl From<DtypeArg> for Dtype {
    fn from(d: DtypeArg) -> Dtype {
        match d {
            DtypeArg::F32 => Dtype::F32,
            DtypeArg::F16 => Dtype::F16,
        }
    }
}

/// Kernel tier; `auto` = RINGATTN_TIER if set, else the fastest the adapter supports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum TierArg {
    #[default]
    Auto,
    Portable,
    Subgroup,
    #[value(alias = "coop")]
    Matrix,
}

impl TierArg {
    pub fn tier(self) -> Option<Tier> {
        match self {
            TierArg::Auto => None,
            TierArg::Portable => Some(Tier::Portable),
            TierArg::Subgroup => Some(Tier::Subgroup),
            TierArg::Matrix => Some(Tier::Matrix),
        }
    }
}

/// Arguments of `ringattn run`. Grouped by help heading; new options (masks,
/// placement, ...) go into the matching group.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Queries, (batch, seq_q, heads, head_dim), float32 or float16 .npy.
    #[arg(long, value_name = "Q.npy", help_heading = "Files")]
    pub q: PathBuf,
    /// Keys, (batch, seq_k, kv_heads, head_dim).
    #[arg(long, value_name = "K.npy", help_heading = "Files")]
    pub k: PathBuf,
    /// Values, same shape as K.
    #[arg(long, value_name = "V.npy", help_heading = "Files")]
    pub v: PathBuf,
    /// Output O, (batch, seq_q, heads, head_dim), written in Q's file dtype.
    #[arg(long, value_name = "O.npy", help_heading = "Files")]
    pub out: PathBuf,
    /// Also write the log-sum-exp, float32 (batch, heads, seq_q), natural log.
    #[arg(long, value_name = "LSE.npy", help_heading = "Files")]
    pub lse: Option<PathBuf>,

    /// Causal mask, bottom-right aligned when seq_q != seq_k (query i sees keys j <= i + seq_k - seq_q).
    #[arg(long, help_heading = "Attention")]
    pub causal: bool,
    /// Softmax scale [default: 1/sqrt(head_dim)].
    #[arg(long, value_name = "S", allow_negative_numbers = true, help_heading = "Attention")]
    pub scale: Option<f32>,
    #[command(flatten)]
    pub pattern: super::pattern::PatternArgs,

    /// Sliding window: query i sees keys i-L ..= i+R (one number: L = R). With several
    /// mask options, a key is visible if any of them allows it (union); --causal then
    /// applies on top.
    #[arg(long, value_name = "L,R", help_heading = "Mask")]
    pub window: Option<WindowSpec>,
    /// Global tokens: the first G tokens see every key and are seen by every query.
    #[arg(long, value_name = "G", help_heading = "Mask")]
    pub global: Option<usize>,
    /// Block matrix: a bool (or uint8) .npy of shape (ceil(seq_q/B), ceil(seq_k/B));
    /// true blocks are attended in full.
    #[arg(long, value_name = "M.npy", help_heading = "Mask")]
    pub block_mask: Option<PathBuf>,
    /// Random blocks kept with this probability (reproducible with --seed).
    #[arg(long, value_name = "P", help_heading = "Mask")]
    pub random_density: Option<f64>,
    /// Seed of --random-density.
    #[arg(long, value_name = "S", default_value_t = 0, help_heading = "Mask")]
    pub seed: u64,
    /// Block size of the mask in tokens (16..1024, a power of two).
    #[arg(long, value_name = "B", default_value_t = 128, help_heading = "Mask")]
    pub block_size: usize,

    /// Element type on the GPU [default: Q's file dtype]. With f16, float32 inputs are rounded on upload.
    #[arg(long, value_enum, help_heading = "Execution")]
    pub dtype: Option<DtypeArg>,
    /// Kernel tier; lowered to the fastest the adapter and kernels support.
    #[arg(long, value_enum, default_value_t = TierArg::Auto, help_heading = "Execution")]
    pub tier: TierArg,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Ring attention over several devices: N (the first N GPU adapters of the
    /// preferred backend), all (every such adapter), or logical:N (N devices on the
    /// --adapter adapter). Without it, one device runs plain attention. Over MPI
    /// (`mpirun -np R ringattn run --devices mpi ...`): mpi (one device per rank),
    /// mpi:L (L devices per rank: the host's GPUs shared out by local rank, or L
    /// logical devices without a GPU) or mpi:logical:L (L logical devices on the
    /// --adapter adapter per rank); the ring then has R * L devices.
    #[arg(long, value_name = "N|all|logical:N|mpi[:L]|mpi:logical:L", help_heading = "Ring")]
    pub devices: Option<DevicesSpec>,
    /// Longest a ring device waits for its GPU or a neighbour before failing, seconds.
    #[arg(long, value_name = "S", default_value_t = 600, requires = "devices", help_heading = "Ring")]
    pub ring_timeout: u64,
    /// Bytes per piece of a K/V block in flight between devices (rounded up to a
    /// multiple of 256; default 16 MiB, or the whole block when smaller).
    #[arg(long, value_name = "BYTES", requires = "devices", help_heading = "Ring")]
    pub piece_bytes: Option<u64>,
    /// Test only: device (rank) D fails with an error at the start of step S.
    #[arg(long, value_name = "D:S", value_parser = parse_pair, hide = true)]
    pub fail_at: Option<(usize, usize)>,
    /// Test only: device (rank) D's process aborts at the start of step S, as if killed.
    #[arg(long, value_name = "D:S", value_parser = parse_pair, hide = true)]
    pub crash_at: Option<(usize, usize)>,
    /// Test only: device (rank) D stops responding at the start of step S.
    #[arg(long, value_name = "D:S", value_parser = parse_pair, hide = true)]
    pub stall_at: Option<(usize, usize)>,
    /// How the sequence is split over the ring: contiguous (device i owns chunk i) or
    /// zigzag (device i owns chunks i and 2N-1-i of 2N; balances causal work).
    #[arg(long, value_enum, default_value_t = PlacementArg::Contiguous, requires = "devices", help_heading = "Ring")]
    pub placement: PlacementArg,
    /// Over MPI, who reads the input files: all (every rank reads them, from a shared
    /// file system or copies on every host, and uploads only its own chunks) or root
    /// (only rank 0 reads them and sends every other rank's devices their chunks). Rank
    /// 0 writes the outputs either way. A --block-mask file is read by every rank.
    #[arg(long, value_enum, default_value_t = MpiInputs::All, requires = "devices", help_heading = "Ring")]
    pub mpi_inputs: MpiInputs,

    /// Compare with the f64 CPU reference (on the values actually uploaded) and exit
    /// with 1 if O's relative error exceeds 1e-4 (f32) / 5e-3 (f16), or LSE's max abs
    /// error exceeds 1e-4 / 1e-2 times max(1, |LSE|).
    #[arg(long, help_heading = "Verification")]
    pub check: bool,
    /// With --check, compare only this many query rows, evenly spread (the reference
    /// costs O(seq_q * seq_k) per head on the CPU) [default: all rows].
    #[arg(long, value_name = "N", requires = "check", help_heading = "Verification")]
    pub check_rows: Option<usize>,
}

/// `--window L,R` (or `--window W` for L = R = W).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSpec {
    pub left: usize,
    pub right: usize,
}

impl std::str::FromStr for WindowSpec {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let num = |x: &str| x.trim().parse::<usize>().map_err(|_| format!("`{x}` is not a token count (use L,R or W)"));
        match s.split_once(',') {
            Some((l, r)) => Ok(WindowSpec { left: num(l)?, right: num(r)? }),
            None => {
                let w = num(s)?;
                Ok(WindowSpec { left: w, right: w })
            }
        }
    }
}

/// The block mask the mask options describe (their union), or `None` without any.
pub fn mask_from_args(args: &RunArgs, shape: &Shape) -> Result<Option<BlockMask>> {
    let mut parts: Vec<Pattern> = Vec::new();
    if let Some(w) = args.window {
        parts.push(Pattern::Window { left: w.left, right: w.right });
    }
    if let Some(g) = args.global {
        parts.push(Pattern::Global(g));
    }
    if let Some(d) = args.random_density {
        parts.push(Pattern::Random { density: d, seed: args.seed });
    }
    if let Some(path) = &args.block_mask {
        let (dims, keep) = crate::npy::read_npy_bool(path)?;
        let (rows, cols) = (shape.seq_q.div_ceil(args.block_size), shape.seq_k.div_ceil(args.block_size));
        if dims != [rows, cols] {
            return Err(Error::ShapeMismatch {
                what: "--block-mask",
                expected: format!("({rows}, {cols}) blocks of {} tokens for seq_q {} x seq_k {}", args.block_size, shape.seq_q, shape.seq_k),
                got: shape_tuple(&dims),
            });
        }
        parts.push(Pattern::blocks(rows, cols, keep));
    }
    let pattern = match parts.len() {
        0 => return Ok(None),
        1 => parts.pop().expect("one pattern"),
        _ => Pattern::Union(parts),
    };
    BlockMask::new(&pattern, shape.seq_q, shape.seq_k, args.block_size).map(Some)
}

/// Which devices `--devices` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevicesSpec {
    /// The first N GPU adapters of the preferred backend.
    Count(usize),
    /// Every GPU adapter of the preferred backend (2 logical devices on a CPU-only machine).
    All,
    /// N logical devices on one adapter.
    Logical(usize),
    /// `per_rank` devices per MPI rank (`mpirun -np N ringattn run --devices mpi ...`;
    /// needs the `mpi` cargo feature): the host's GPUs shared out by local rank, or
    /// logical devices on the --adapter adapter (`logical`).
    Mpi { per_rank: usize, logical: bool },
}

impl std::str::FromStr for DevicesSpec {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        let count = |x: &str| -> std::result::Result<usize, String> {
            match x.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!("`{x}` is not a device count >= 1 (use N, all or logical:N)")),
            }
        };
        if s == "all" {
            Ok(DevicesSpec::All)
        } else if s == "mpi" {
            Ok(DevicesSpec::Mpi { per_rank: 1, logical: false })
        } else if let Some(rest) = s.strip_prefix("mpi:") {
            let per_rank = |x: &str| match x.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!("`{x}` is not a count of devices per MPI rank >= 1 (use mpi, mpi:L or mpi:logical:L)")),
            };
            match rest.strip_prefix("logical:") {
                Some(n) => Ok(DevicesSpec::Mpi { per_rank: per_rank(n)?, logical: true }),
                None => Ok(DevicesSpec::Mpi { per_rank: per_rank(rest)?, logical: false }),
            }
        } else if let Some(n) = s.strip_prefix("logical:") {
            Ok(DevicesSpec::Logical(count(n)?))
        } else {
            Ok(DevicesSpec::Count(count(&s)?))
        }
    }
}

/// Who reads the inputs of an MPI run (`--mpi-inputs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum MpiInputs {
    #[default]
    All,
    Root,
}

/// Placement of the sequence over a ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum PlacementArg {
    #[default]
    Contiguous,
    Zigzag,
}

impl From<PlacementArg> for Placement {
    fn from(p: PlacementArg) -> Placement {
        match p {
            PlacementArg::Contiguous => Placement::Contiguous,
            PlacementArg::Zigzag => Placement::Zigzag,
        }
    }
}

fn parse_pair(s: &str) -> std::result::Result<(usize, usize), String> {
    let (a, b) = s.split_once(':').ok_or_else(|| format!("`{s}`: expected D:S"))?;
    Ok((a.trim().parse().map_err(|e| format!("`{a}`: {e}"))?, b.trim().parse().map_err(|e| format!("`{b}`: {e}"))?))
}

/// The ring options of `ringattn run --devices ...`.
fn ring_options(args: &RunArgs, mask: Option<std::sync::Arc<BlockMask>>) -> Result<RingOptions> {
    if args.ring_timeout == 0 {
        return Err(Error::InvalidArgument("--ring-timeout must be at least 1 second".into()));
    }
    Ok(RingOptions {
        attention: AttentionOptions { causal: args.causal, scale: args.scale, tier: args.tier.tier() },
        placement: args.placement.into(),
        timeout: Duration::from_secs(args.ring_timeout),
        fail_at: args.fail_at,
        crash_at: args.crash_at,
        stall_at: args.stall_at,
        mask,
        piece_bytes: args.piece_bytes,
        ..Default::default()
    })
}

/// `ringattn run --devices mpi` without the `mpi` feature.
#[cfg(not(feature = "mpi"))]
#[allow(clippy::too_many_arguments)]
fn execute_mpi(_: &RunArgs, _: &Shape, _: Dtype, _: NpyArray, _: NpyArray, _: NpyArray, _: Option<BlockMask>, _: (usize, bool)) -> Result<Status> {
    Err(no_mpi())
}

#[cfg(not(feature = "mpi"))]
fn execute_mpi_root(_: &RunArgs, _: (usize, bool)) -> Result<Status> {
    Err(no_mpi())
}

#[cfg(not(feature = "mpi"))]
fn no_mpi() -> Error {
    Error::InvalidArgument("--devices mpi needs ringattn built with the `mpi` cargo feature (cargo build --release --features mpi)".into())
}

/// `ringattn run --devices mpi[:L]`: L devices per MPI rank (`local`: (L, logical
/// devices on the --adapter adapter)). Every rank reads the input
/// files (a shared file system, or the same files on every host) and uploads only its
/// own chunks; the outputs are gathered on rank 0, which writes them and runs --check.
/// A rank that fails prints its error and ends the whole job (`MPI_Abort`, exit 2).
#[cfg(feature = "mpi")]
#[allow(clippy::too_many_arguments)]
fn execute_mpi(
    args: &RunArgs,
    shape: &Shape,
    dtype: Dtype,
    q: NpyArray,
    k: NpyArray,
    v: NpyArray,
    mask: Option<BlockMask>,
    local: (usize, bool),
) -> Result<Status> {
    let ring = open_mpi_ring(args, local)?;
    let host = |a: &NpyArray| dtype.round(a.to_f32_vec());
    let inputs = (host(&q), host(&k), host(&v));
    let q_file_dtype = q.dtype();
    drop((q, k, v));
    run_mpi(args, &ring, shape, dtype, q_file_dtype, Some(inputs), mask, false)
}

/// `--mpi-inputs root`: rank 0 reads the files and tells the others the problem (shape
/// and dtypes, one `MPI_Bcast`), then scatters their chunks.
#[cfg(feature = "mpi")]
fn execute_mpi_root(args: &RunArgs, local: (usize, bool)) -> Result<Status> {
    let ring = open_mpi_ring(args, local)?;
    let code = |d: Dtype| usize::from(d == Dtype::F16);
    let dtype_of = |c: u64| if c == 1 { Dtype::F16 } else { Dtype::F32 };
    // [ok, batch, seq_q, seq_k, heads, kv_heads, head_dim, dtype, file dtype]
    let mut header = [0u64; 9];
    let mut mine = None;
    if ring.rank() == 0 {
        let read = || -> Result<_> {
            let (q, k, v) = (load(&args.q)?, load(&args.k)?, load(&args.v)?);
            let shape = problem_shape(args, &q, &k, &v)?;
            let file_dtype = q.dtype();
            let dtype: Dtype = args.dtype.map(Dtype::from).unwrap_or(file_dtype);
            for p in std::iter::once(&args.out).chain(args.lse.as_ref()) {
                check_writable_dir(p)?;
            }
            let host = |a: &NpyArray| dtype.round(a.to_f32_vec());
            Ok((shape, dtype, file_dtype, (host(&q), host(&k), host(&v))))
        };
        match read() {
            Ok((s, dtype, file_dtype, inputs)) => {
                header = [1, s.batch, s.seq_q, s.seq_k, s.heads, s.kv_heads, s.head_dim, code(dtype), code(file_dtype)].map(|x| x as u64);
                mine = Some(inputs);
            }
            Err(e) => {
                ring.broadcast_u64(&mut header)?;
                end_all_ranks(&ring, &e.to_string());
            }
        }
    }
    ring.broadcast_u64(&mut header)?;
    if header[0] != 1 {
        end_all_ranks(&ring, &format!("rank 0 could not read the inputs (its error is above); rank {} stops", ring.rank()));
    }
    let h: Vec<usize> = header.iter().map(|&x| x as usize).collect();
    let shape = Shape { batch: h[1], seq_q: h[2], seq_k: h[3], heads: h[4], kv_heads: h[5], head_dim: h[6] };
    let fail = |e: Error| -> ! {
        super::error_line(&format!("rank {}: {e}", ring.rank()));
        ring.abort(2)
    };
    let mask = mask_from_args(args, &shape).unwrap_or_else(|e| fail(e));
    args.pattern.validate(&shape, true, mask.is_some()).unwrap_or_else(|e| fail(e));
    run_mpi(args, &ring, &shape, dtype_of(header[7]), dtype_of(header[8]), mine, mask, true)
}

/// This rank's MPI ring: `--devices mpi:L` (GPUs shared out by local rank) or
/// `mpi:logical:L` (logical devices on the --adapter adapter).
/// Ends this rank with `error: message` once every rank has printed its own: a rank
/// that simply returned its error could exit first, and mpirun then kills the others
/// before they say why they stop.
#[cfg(feature = "mpi")]
fn end_all_ranks(ring: &crate::ring::mpi::MpiRing, message: &str) -> ! {
    super::error_line(message);
    let _ = ring.barrier();
    std::process::exit(i32::from(super::EXIT_ERROR))
}

#[cfg(feature = "mpi")]
fn open_mpi_ring(args: &RunArgs, (per_rank, logical): (usize, bool)) -> Result<crate::ring::mpi::MpiRing> {
    use crate::ring::mpi::MpiRing;
    if logical {
        MpiRing::with_contexts(crate::ring::logical_contexts(args.device.open()?, per_rank)?)
    } else {
        MpiRing::init_local(per_rank)
    }
}

/// The MPI run once the inputs are in host memory (`inputs`: on every rank, or with
/// `scatter` on rank 0 only): upload or scatter, the ring, the gather, and on rank 0
/// the output files and --check. Any failure ends the whole job (`MPI_Abort`).
#[cfg(feature = "mpi")]
#[allow(clippy::too_many_arguments)]
fn run_mpi(
    args: &RunArgs,
    ring: &crate::ring::mpi::MpiRing,
    shape: &Shape,
    dtype: Dtype,
    q_file_dtype: Dtype,
    inputs: Option<(Vec<f32>, Vec<f32>, Vec<f32>)>,
    mask: Option<BlockMask>,
    scatter: bool,
) -> Result<Status> {
    let rank = ring.rank();
    let fail = |e: Error| -> ! {
        super::error_line(&format!("rank {rank}: {e}"));
        ring.abort(2)
    };
    if dtype == Dtype::F16 {
        if let Some(ctx) = ring.contexts().iter().find(|c| !c.capabilities().shader_f16) {
            fail(Error::MissingFeature {
                adapter: ctx.name().to_string(),
                feature: "SHADER_F16",
                needed_for: "f16 on the GPU (use --dtype f32)".into(),
            });
        }
    }
    let mask = mask.map(std::sync::Arc::new);
    let opts = ring_options(args, mask.clone()).unwrap_or_else(|e| fail(e));
    if rank == 0 {
        match ring.devices_per_rank() {
            1 => println!("ring: {} MPI ranks, placement {}", ring.size(), opts.placement),
            l => println!(
                "ring: {} MPI ranks x {l} devices ({} ring devices), placement {}, in-rank links: {}",
                ring.size(),
                ring.devices(),
                opts.placement,
                ring.local_staging().map_or_else(|e| format!("? ({e})"), |s| s.name().to_string())
            ),
        }
        print_shape_dims(shape);
        println!("options: dtype {}, causal {}, scale {}", dtype.name(), args.causal, args.scale.unwrap_or(1.0 / (shape.head_dim as f32).sqrt()));
        println!("inputs: {}", if scatter { "read by rank 0, scattered" } else { "read by every rank" });
    }
    println!("  {}", ring.describe());
    let shards = match (&inputs, scatter) {
        (inputs, true) => ring.scatter(inputs.as_ref().map(|(q, k, v)| (&q[..], &k[..], &v[..])), *shape, dtype, &opts),
        (Some((q, k, v)), false) => ring.upload(q, k, v, *shape, dtype, &opts),
        (None, false) => Err(Error::InvalidArgument("no inputs on this rank".into())),
    }
    .unwrap_or_else(|e| fail(e));
    ring.barrier().unwrap_or_else(|e| fail(e));
    let out = ring.forward_shards(&shards, *shape, dtype, &opts).unwrap_or_else(|e| fail(e));
    let st = &out.stats;
    let slowest = ring.max_f64(st.ring_seconds).unwrap_or_else(|e| fail(e));
    let gathered = ring.gather(&out, *shape).unwrap_or_else(|e| fail(e));
    let tiers: Vec<String> = st.tiers.iter().map(|t| t.to_string()).collect();
    println!(
        "  rank {rank}: sent {}, host copy {:.2} GB/s, peak {} (largest device), tier {}",
        super::bytes_human(st.bytes_moved),
        st.gbps(),
        super::bytes_human(st.peak_bytes.iter().copied().max().unwrap_or(0)),
        tiers.join(", ")
    );
    let Some((o, lse)) = gathered else {
        return Ok(Status::Ok);
    };
    println!("time: ring {} (slowest rank, from the barrier after upload to its outputs)", ms(Duration::from_secs_f64(slowest)));
    println!("pairs: {} computed, {} skipped (fully masked or empty)", st.pairs_computed, st.pairs_skipped);
    println!("transport: {} block transfers ({} skipped)", st.transfers, st.transfers_skipped);
    let o_dims = shape.q_dims();
    write_npy_as(&args.out, &o_dims, &o, q_file_dtype).unwrap_or_else(|e| fail(e));
    println!("wrote {} {} {}", args.out.display(), shape_tuple(&o_dims), q_file_dtype.name());
    if let Some(p) = &args.lse {
        write_npy_f32(p, &shape.lse_dims(), &lse).unwrap_or_else(|e| fail(e));
        println!("wrote {} {} f32", p.display(), shape_tuple(&shape.lse_dims()));
    }
    if !args.check {
        return Ok(Status::Ok);
    }
    let (qv, kv, vv) = inputs.as_ref().unwrap_or_else(|| fail(Error::InvalidArgument("rank 0 holds no inputs to check against".into())));
    check(args, shape, dtype, qv, kv, vv, &o, &lse, mask.as_deref())
}

#[cfg(feature = "mpi")]
fn print_shape_dims(s: &Shape) {
    println!("shape: batch {}, seq_q {}, seq_k {}, heads {}, kv_heads {}, head_dim {}", s.batch, s.seq_q, s.seq_k, s.heads, s.kv_heads, s.head_dim);
}

/// Opens the devices of `--devices`.
pub fn open_ring(spec: DevicesSpec, device: &DeviceArgs) -> Result<RingAttention> {
    match spec {
        DevicesSpec::Logical(n) => RingAttention::logical_on(device.open()?, n),
        DevicesSpec::Mpi { .. } => Err(Error::InvalidArgument("--devices mpi runs its devices in MPI ranks, not an in-process ring".into())),
        DevicesSpec::All => RingAttention::all_adapters(),
        DevicesSpec::Count(n) => {
            let all = RingAttention::all_adapters()?;
            if all.fallback().is_some() || all.len() < n {
                let found = if all.fallback().is_some() { 0 } else { all.len() };
                return Err(Error::NoAdapter(format!("--devices {n} needs {n} GPU adapters of one backend, found {found} (use --devices logical:{n} for logical devices on one adapter)")));
            }
            RingAttention::from_arcs(all.contexts()[..n].to_vec())
        }
    }
}

/// Relative-error tolerance of O for `--check`.
pub fn o_tolerance(dtype: Dtype) -> f64 {
    match dtype {
        Dtype::F32 => 1e-4,
        Dtype::F16 => 5e-3,
    }
}

/// LSE tolerance of `--check`, relative to max(1, max |reference LSE|).
pub fn lse_tolerance(dtype: Dtype) -> f64 {
    match dtype {
        Dtype::F32 => 1e-4,
        Dtype::F16 => 1e-2,
    }
}

fn load(path: &Path) -> Result<NpyArray> {
    read_npy(path)
}

fn dims4(what: &'static str, a: &NpyArray, path: &Path, expected: &str) -> Result<[usize; 4]> {
    match a.shape.as_slice() {
        &[b, n, h, d] => Ok([b, n, h, d]),
        _ => Err(Error::ShapeMismatch {
            what,
            expected: format!("rank 4 {expected}"),
            got: format!("rank {} shape {} in {}", a.shape.len(), a.shape_str(), path.display()),
        }),
    }
}

/// Checks the three input shapes against each other and returns the problem shape.
pub fn problem_shape(args: &RunArgs, q: &NpyArray, k: &NpyArray, v: &NpyArray) -> Result<Shape> {
    let [b, n, h, d] = dims4("q", q, &args.q, "(batch, seq_q, heads, head_dim)")?;
    let [kb, m, kvh, kd] = dims4("k", k, &args.k, "(batch, seq_k, kv_heads, head_dim)")?;
    dims4("v", v, &args.v, "(batch, seq_k, kv_heads, head_dim)")?;
    if kb != b || kd != d {
        return Err(Error::ShapeMismatch {
            what: "k",
            expected: format!("({b}, seq_k, kv_heads, {d}) to match q {}", q.shape_str()),
            got: format!("{} in {}", k.shape_str(), args.k.display()),
        });
    }
    if v.shape != k.shape {
        return Err(Error::ShapeMismatch {
            what: "v",
            expected: format!("{} (the shape of k)", k.shape_str()),
            got: format!("{} in {}", v.shape_str(), args.v.display()),
        });
    }
    let s = Shape { batch: b, seq_q: n, seq_k: m, heads: h, kv_heads: kvh, head_dim: d };
    s.validate()?;
    Ok(s)
}

/// Uploads an input in `dtype`; returns the tensor and the f32 values it holds.
fn upload(ctx: &GpuContext, a: &NpyArray, dims: [usize; 4], dtype: Dtype) -> Result<(GpuTensor, Vec<f32>)> {
    match (dtype, &a.data) {
        (Dtype::F16, NpyData::F16(h)) => {
            let t = GpuTensor::from_f16(ctx, h, dims)?;
            Ok((t, a.to_f32_vec()))
        }
        (Dtype::F16, NpyData::F32(x)) => {
            let h: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
            let t = GpuTensor::from_f16(ctx, &h, dims)?;
            Ok((t, h.iter().map(|v| v.to_f32()).collect()))
        }
        (Dtype::F32, _) => {
            let x = a.to_f32_vec();
            let t = GpuTensor::from_f32(ctx, &x, dims, Dtype::F32)?;
            Ok((t, x))
        }
    }
}

/// Query rows `--check-rows n` compares: n evenly spread rows, always the first and last.
pub fn check_rows(seq_q: usize, n: Option<usize>) -> Vec<usize> {
    match n {
        Some(n) if n < seq_q => {
            let n = n.max(1);
            if n == 1 {
                return vec![seq_q - 1];
            }
            let mut r: Vec<usize> = (0..n).map(|i| i * (seq_q - 1) / (n - 1)).collect();
            r.dedup();
            r
        }
        _ => (0..seq_q).collect(),
    }
}

pub fn execute(args: &RunArgs) -> Result<Status> {
    if let Some(s) = args.scale {
        if !s.is_finite() {
            return Err(Error::InvalidArgument(format!("--scale must be finite, got {s}")));
        }
    }
    match args.devices {
        Some(DevicesSpec::Mpi { per_rank, logical }) if args.mpi_inputs == MpiInputs::Root => return execute_mpi_root(args, (per_rank, logical)),
        Some(DevicesSpec::Mpi { .. }) => {}
        _ if args.mpi_inputs == MpiInputs::Root => {
            return Err(Error::InvalidArgument("--mpi-inputs root needs --devices mpi[...]".into()));
        }
        _ => {}
    }
    let q = load(&args.q)?;
    let k = load(&args.k)?;
    let v = load(&args.v)?;
    let shape = problem_shape(args, &q, &k, &v)?;
    let q_file_dtype = q.dtype();
    let dtype: Dtype = args.dtype.map(Dtype::from).unwrap_or(q_file_dtype);

    for p in std::iter::once(&args.out).chain(args.lse.as_ref()) {
        check_writable_dir(p)?;
    }
    let mask = mask_from_args(args, &shape)?;
    args.pattern.validate(&shape, args.devices.is_some(), mask.is_some())?;
    if let Some(spec) = args.devices {
        if let DevicesSpec::Mpi { per_rank, logical } = spec {
            return execute_mpi(args, &shape, dtype, q, k, v, mask, (per_rank, logical));
        }
        return execute_ring(args, spec, &shape, dtype, q, k, v, mask);
    }

    let ctx = args.device.open()?;
    if dtype == Dtype::F16 && !ctx.capabilities().shader_f16 {
        return Err(Error::MissingFeature {
            adapter: ctx.name().to_string(),
            feature: "SHADER_F16",
            needed_for: "f16 on the GPU (use --dtype f32, or another adapter)".into(),
        });
    }
    let tier = resolve_tier(&ctx, args.tier.tier(), dtype, shape.head_dim)?;
    let scale = args.scale;

    println!("adapter: {}", ctx.describe());
    match args.tier.tier() {
        Some(req) if req != tier => println!("tier: {tier} ({req} requested; not available for this adapter, dtype and head_dim)"),
        _ => println!("tier: {tier}"),
    }
    print_shape(&q, &k, &v, &shape);
    println!(
        "options: dtype {} (files: q {}, k {}, v {}), causal {}, scale {}",
        dtype.name(),
        q.dtype().name(),
        k.dtype().name(),
        v.dtype().name(),
        args.causal,
        scale.unwrap_or(1.0 / (shape.head_dim as f32).sqrt())
    );
    if let Some(m) = &mask {
        println!(
            "mask: {} x {} blocks of {} tokens, density {:.4} ({} active, {} partial), element density {:.4}, {}",
            m.q_blocks(),
            m.k_blocks(),
            m.block(),
            m.density(),
            m.active_blocks(),
            m.partial_blocks(),
            m.element_density(),
            match m.tall_factor() {
                1 => "rows not merged".to_string(),
                g => format!("rows merged by {g} ({} queries) for taller tiles", g * m.block()),
            }
        );
    }
    if let Some(p) = args.pattern.describe(args.causal) {
        println!("pattern: {p}");
    }

    let t0 = Instant::now();
    let (qt, qv) = upload(&ctx, &q, shape.q_dims(), dtype)?;
    let (kt, kv) = upload(&ctx, &k, shape.kv_dims(), dtype)?;
    let (vt, vv) = upload(&ctx, &v, shape.kv_dims(), dtype)?;
    drop((q, k, v));
    ctx.wait()?;
    let t_upload = t0.elapsed();

    let opts = AttentionOptions { causal: args.causal, scale, tier: Some(tier) };
    let t1 = Instant::now();
    let out = args.pattern.forward(&ctx, opts, &qt, &kt, &vt, mask.as_ref())?;
    ctx.wait()?;
    let t_attn = t1.elapsed();

    let t2 = Instant::now();
    let o32 = out.o.to_f32_vec(&ctx)?;
    let lse = out.lse.to_vec(&ctx)?;
    let t_read = t2.elapsed();
    print_times(t_upload, t_attn, t_read);

    // O in Q's file dtype; an f16 result is written as computed (no second rounding).
    let o_dims = shape.q_dims();
    match (q_file_dtype, dtype) {
        (Dtype::F16, Dtype::F16) => write_npy_f16(&args.out, &o_dims, &out.o.to_f16_vec(&ctx)?)?,
        (fd, _) => write_npy_as(&args.out, &o_dims, &o32, fd)?,
    }
    println!("wrote {} {} {}", args.out.display(), shape_tuple(&o_dims), q_file_dtype.name());
    if let Some(p) = &args.lse {
        write_npy_f32(p, &shape.lse_dims(), &lse)?;
        println!("wrote {} {} f32", p.display(), shape_tuple(&shape.lse_dims()));
    }

    if !args.check {
        return Ok(Status::Ok);
    }
    check(args, &shape, dtype, &qv, &kv, &vv, &o32, &lse, mask.as_ref())
}

/// `ringattn run --devices ...`: the same computation as a ring over several devices.
#[allow(clippy::too_many_arguments)]
fn execute_ring(
    args: &RunArgs,
    spec: DevicesSpec,
    shape: &Shape,
    dtype: Dtype,
    q: NpyArray,
    k: NpyArray,
    v: NpyArray,
    mask: Option<BlockMask>,
) -> Result<Status> {
    let mask = mask.map(std::sync::Arc::new);
    let ring = open_ring(spec, &args.device)?;
    for ctx in ring.contexts() {
        if dtype == Dtype::F16 && !ctx.capabilities().shader_f16 {
            return Err(Error::MissingFeature {
                adapter: ctx.name().to_string(),
                feature: "SHADER_F16",
                needed_for: "f16 on the GPU (use --dtype f32, or other devices)".into(),
            });
        }
    }
    let placement: Placement = args.placement.into();
    println!("ring: {} devices, placement {placement}", ring.len());
    if let Some(note) = ring.fallback() {
        println!("ring: {note}");
    }
    for line in ring.describe() {
        println!("  {line}");
    }
    print_shape(&q, &k, &v, shape);
    println!("options: dtype {}, causal {}, scale {}", dtype.name(), args.causal, args.scale.unwrap_or(1.0 / (shape.head_dim as f32).sqrt()));
    // The values the devices will hold (f16 rounds on upload); the check uses them too.
    let host = |a: &NpyArray| dtype.round(a.to_f32_vec());
    let (qv, kv, vv) = (host(&q), host(&k), host(&v));
    let q_file_dtype = q.dtype();
    drop((q, k, v));
    let opts = ring_options(args, mask.clone())?;
    let t = Instant::now();
    let out = ring.forward(&qv, &kv, &vv, *shape, dtype, &opts)?;
    let wall = t.elapsed();
    let st = &out.stats;
    let tiers: Vec<&str> = st.tiers.iter().map(|t| t.name()).collect();
    println!("tier: {}", tiers.join(", "));
    println!("time: ring {} wall (setup, {} steps, readback; includes pipeline builds)", ms(wall), st.steps);
    println!("pairs: {} computed, {} skipped (fully masked or empty)", st.pairs_computed, st.pairs_skipped);
    if let Some(e) = ring.shared_staging_error() {
        println!("note: shared staging could not be set up, the ring used staging of its own: {e}");
    }
    let rate = if st.staging == crate::ring::StagingMemory::Shared {
        "no host copy".to_string()
    } else {
        format!("host copy {:.2} GB/s per link", st.gbps())
    };
    println!(
        "transport: {} block transfers ({} skipped), {} moved, staging: {}, {rate}",
        st.transfers,
        st.transfers_skipped,
        super::bytes_human(st.bytes_moved),
        st.staging.name(),
    );
    for (i, p) in st.peak_bytes.iter().enumerate() {
        println!("  device {i}: peak {}, sent {}", super::bytes_human(*p), super::bytes_human(st.bytes_sent[i]));
    }
    let o_dims = shape.q_dims();
    write_npy_as(&args.out, &o_dims, &out.o, q_file_dtype)?;
    println!("wrote {} {} {}", args.out.display(), shape_tuple(&o_dims), q_file_dtype.name());
    if let Some(p) = &args.lse {
        write_npy_f32(p, &shape.lse_dims(), &out.lse)?;
        println!("wrote {} {} f32", p.display(), shape_tuple(&shape.lse_dims()));
    }
    if !args.check {
        return Ok(Status::Ok);
    }
    check(args, shape, dtype, &qv, &kv, &vv, &out.o, &out.lse, mask.as_deref())
}

fn print_times(upload: Duration, attn: Duration, read: Duration) {
    println!("time: attention {} wall (one call, includes pipeline build), upload {}, readback {}", ms(attn), ms(upload), ms(read));
}

#[allow(clippy::too_many_arguments)]
fn check(
    args: &RunArgs,
    s: &Shape,
    dtype: Dtype,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &[f32],
    lse: &[f32],
    mask: Option<&BlockMask>,
) -> Result<Status> {
    let rows = check_rows(s.seq_q, args.check_rows);
    let t = Instant::now();
    let opts = AttentionOptions { causal: args.causal, scale: args.scale, tier: None };
    let r = args.pattern.reference(q, k, v, s, opts, &rows, mask)?;
    let (o_sel, lse_sel);
    let (o_cmp, lse_cmp) = if rows.len() == s.seq_q {
        (o, lse)
    } else {
        o_sel = reference::select_rows(o, s.q_dims(), &rows);
        lse_sel = reference::select_lse_rows(lse, s.lse_dims(), &rows);
        (&o_sel[..], &lse_sel[..])
    };
    let rel = reference::rel_error(o_cmp, &r.o);
    let lse_err = reference::lse_max_abs_error(lse_cmp, &r.lse);
    let lse_mag = r.lse.iter().filter(|x| x.is_finite()).fold(1.0f64, |m, x| m.max(x.abs()));
    let (o_tol, lse_tol) = (o_tolerance(dtype), lse_tolerance(dtype) * lse_mag);
    let which = if rows.len() == s.seq_q { String::from("all rows") } else { format!("{} of {} rows", rows.len(), s.seq_q) };
    println!("check: f64 reference on {which} ({})", ms(t.elapsed()));
    println!("rel error {rel:.3e} (O, tolerance {o_tol:.0e})");
    println!("max abs LSE error {lse_err:.3e} (tolerance {lse_tol:.1e})");
    if rel <= o_tol && lse_err <= lse_tol {
        println!("check: ok");
        Ok(Status::Ok)
    } else {
        eprintln!("check failed: O rel error {rel:.3e} (tolerance {o_tol:.0e}), LSE max abs error {lse_err:.3e} (tolerance {lse_tol:.1e})");
        Ok(Status::CheckFailed)
    }
}

/// One line describing the input files and the attention shape they form.
fn print_shape(q: &NpyArray, k: &NpyArray, v: &NpyArray, shape: &Shape) {
    println!(
        "shape: q {} k {} v {} (batch {}, seq_q {}, seq_k {}, heads {}, kv_heads {}, head_dim {})",
        q.shape_str(),
        k.shape_str(),
        v.shape_str(),
        shape.batch,
        shape.seq_q,
        shape.seq_k,
        shape.heads,
        shape.kv_heads,
        shape.head_dim
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rows_spread() {
        assert_eq!(check_rows(10, None), (0..10).collect::<Vec<_>>());
        assert_eq!(check_rows(10, Some(20)), (0..10).collect::<Vec<_>>());
        assert_eq!(check_rows(10, Some(3)), vec![0, 4, 9]);
        assert_eq!(check_rows(10, Some(1)), vec![9]);
        assert_eq!(check_rows(10, Some(0)), vec![9]);
        let r = check_rows(1000, Some(7));
        assert_eq!((r.len(), r[0], r[6]), (7, 0, 999));
    }

    #[test]
    fn parses_run_args() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "ringattn",
            "run",
            "--q",
            "q.npy",
            "--k",
            "k.npy",
            "--v",
            "v.npy",
            "--out",
            "o.npy",
            "--scale",
            "-0.5",
            "--dtype",
            "float16",
            "--tier",
            "coop",
            "--check",
            "--check-rows",
            "4",
        ])
        .unwrap();
        let crate::cli::Command::Run(a) = cli.command else { panic!("not run") };
        assert_eq!(a.scale, Some(-0.5));
        assert_eq!(a.dtype, Some(DtypeArg::F16));
        assert_eq!(a.tier.tier(), Some(Tier::Matrix));
        assert_eq!(a.check_rows, Some(4));
        let cli = crate::cli::Cli::try_parse_from([
            "ringattn",
            "run",
            "--q",
            "q",
            "--k",
            "k",
            "--v",
            "v",
            "--out",
            "o",
            "--devices",
            "logical:3",
            "--placement",
            "zigzag",
        ])
        .unwrap();
        let crate::cli::Command::Run(a) = cli.command else { panic!("not run") };
        assert_eq!((a.devices, a.placement), (Some(DevicesSpec::Logical(3)), PlacementArg::Zigzag));
        assert_eq!("all".parse::<DevicesSpec>(), Ok(DevicesSpec::All));
        assert_eq!("2".parse::<DevicesSpec>(), Ok(DevicesSpec::Count(2)));
        assert!("logical:0".parse::<DevicesSpec>().is_err());
        assert!("two".parse::<DevicesSpec>().is_err());
        assert_eq!("mpi".parse::<DevicesSpec>(), Ok(DevicesSpec::Mpi { per_rank: 1, logical: false }));
        assert_eq!("mpi:3".parse::<DevicesSpec>(), Ok(DevicesSpec::Mpi { per_rank: 3, logical: false }));
        assert_eq!("MPI:logical:2".parse::<DevicesSpec>(), Ok(DevicesSpec::Mpi { per_rank: 2, logical: true }));
        for bad in ["mpi:0", "mpi:logical:0", "mpi:", "mpi:logical:", "mpi:x"] {
            let e = bad.parse::<DevicesSpec>().unwrap_err();
            assert!(e.contains("devices per MPI rank"), "{bad}: {e}");
        }
        // --placement needs --devices.
        assert!(
            crate::cli::Cli::try_parse_from(["ringattn", "run", "--q", "q", "--k", "k", "--v", "v", "--out", "o", "--placement", "zigzag"]).is_err()
        );
        // --check-rows needs --check.
        assert!(crate::cli::Cli::try_parse_from(["ringattn", "run", "--q", "q", "--k", "k", "--v", "v", "--out", "o", "--check-rows", "4"]).is_err());
    }
}
