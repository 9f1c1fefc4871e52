//! The GPU context: adapter, device, queue, capabilities and the pipeline cache.
//!
//! A [`GpuContext`] is created by the library ([`GpuContext::new`]) or wraps a
//! device the host application already owns ([`GpuContext::from_device`]).
//! Device acquisition is kept apart from execution so tests and apps can pass
//! their own device in.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::kernels::Tier;
use crate::tensor::Dtype;

/// How long a blocking wait for the GPU may take before it is reported as an error.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// One cooperative-matrix configuration the adapter offers (M x N x K).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CoopShape {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    /// Operand type is f16 (else f32).
    pub ab_f16: bool,
    /// Accumulator type is f32 (else f16).
    pub acc_f32: bool,
}

/// What the adapter can do, as far as ringattn cares.
#[derive(Clone, Debug)]
pub struct Capabilities {
    pub shader_f16: bool,
    pub subgroup: bool,
    pub subgroup_min_size: u32,
    pub subgroup_max_size: u32,
    /// `subgroupBarrier` is available (Features::SUBGROUP_BARRIER: Vulkan adapters with
    /// subgroups).
    pub subgroup_barrier: bool,
    pub timestamp_query: bool,
    pub cooperative_matrix: Vec<CoopShape>,
    /// Shaders may use f16-precision values held in f32 (`unpack2x16float`:
    /// `DownlevelFlags::SHADER_F16_IN_F32`); false when the adapter is unknown.
    pub shader_f16_in_f32: bool,
    pub limits: wgpu::Limits,
    /// Some drivers stop every loop of an invocation after a fixed total number of
    /// iterations (Mesa's llvmpipe/lavapipe: 65535 back-edges per invocation, summed
    /// over all loops). Kernels split long key ranges to stay under it.
    pub max_loop_iterations: Option<u64>,
}

impl Capabilities {
    fn from_parts(
        features: wgpu::Features,
        limits: wgpu::Limits,
        info: &wgpu::AdapterInfo,
        coop: Vec<CoopShape>,
        downlevel: wgpu::DownlevelFlags,
    ) -> Self {
        let subgroup = features.contains(wgpu::Features::SUBGROUP);
        let coop_ok = features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX);
        Capabilities {
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            subgroup,
            subgroup_min_size: if subgroup { info.subgroup_min_size } else { 0 },
            subgroup_max_size: if subgroup { info.subgroup_max_size } else { 0 },
            subgroup_barrier: subgroup && features.contains(wgpu::Features::SUBGROUP_BARRIER),
            timestamp_query: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            cooperative_matrix: if coop_ok { coop } else { Vec::new() },
            shader_f16_in_f32: downlevel.contains(wgpu::DownlevelFlags::SHADER_F16_IN_F32),
            limits,
            max_loop_iterations: is_llvmpipe(info).then_some(65535),
        }
    }

    /// Whether a 16x16x16 f16 x f16 -> f32 cooperative matrix is available.
    pub fn has_coop_16x16_f16_f32(&self) -> bool {
        self.shader_f16 && self.cooperative_matrix.iter().any(|c| c.m == 16 && c.n == 16 && c.k == 16 && c.ab_f16 && c.acc_f32)
    }

    /// Tiers this adapter can run, fastest first.
    pub fn tiers(&self) -> Vec<Tier> {
        let mut t = Vec::new();
        if self.has_coop_16x16_f16_f32() && self.subgroup {
            t.push(Tier::Matrix);
        }
        if self.subgroup && self.subgroup_min_size >= 4 && self.subgroup_max_size <= 128 {
            t.push(Tier::Subgroup);
        }
        t.push(Tier::Portable);
        t
    }
}

/// Mesa's CPU rasterizer (lavapipe for Vulkan, llvmpipe for GL).
fn is_llvmpipe(info: &wgpu::AdapterInfo) -> bool {
    let n = format!("{} {} {}", info.name, info.driver, info.driver_info).to_lowercase();
    n.contains("llvmpipe") || n.contains("lavapipe")
}

fn coop_shapes(adapter: &wgpu::Adapter) -> Vec<CoopShape> {
    if !adapter.features().contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
        return Vec::new();
    }
    adapter
        .cooperative_matrix_properties()
        .into_iter()
        .filter_map(|p| {
            use wgpu::CooperativeScalarType as S;
            let ab_f16 = match p.ab_type {
                S::F16 => true,
                S::F32 => false,
                _ => return None,
            };
            let acc_f32 = match p.cr_type {
                S::F32 => true,
                S::F16 => false,
                _ => return None,
            };
            Some(CoopShape { m: p.m_size, n: p.n_size, k: p.k_size, ab_f16, acc_f32 })
        })
        .collect()
}

/// Everything a compiled pipeline is specialized on. Two pipelines with equal keys
/// are interchangeable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PipelineKey {
    /// Kernel family (one WGSL file).
    pub kernel: &'static str,
    /// Template substitutions, sorted by name.
    pub defines: Vec<(&'static str, String)>,
}

/// A search's outcome for one key: the cache entry it chose, or None when it found
/// nothing.
type TileChoice = Option<crate::tuning::TileEntry>;

/// A pipeline build in progress ([`GpuContext::pipeline`]): on drop (built, failed or
/// unwound) its key leaves the set of builds and the threads waiting for it wake.
struct Building<'a> {
    ctx: &'a GpuContext,
    key: &'a PipelineKey,
}

impl Drop for Building<'_> {
    fn drop(&mut self) {
        let (busy, done) = &self.ctx.compiling;
        busy.lock().unwrap_or_else(|p| p.into_inner()).remove(self.key);
        done.notify_all();
    }
}

/// Runs `f` on every item on up to [`build_threads`] threads (the items in order in the
/// result): pipeline builds, which the driver compiles in the calling thread.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = build_threads().min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<(usize, R)> = std::thread::scope(|sc| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                sc.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break mine };
                        mine.push((i, f(item)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Threads that build pipelines in parallel (the tile searches' candidates):
/// `RINGATTN_BUILD_THREADS` (1: one after another), else the host's parallelism, at
/// most 8.
pub fn build_threads() -> usize {
    let env = std::env::var("RINGATTN_BUILD_THREADS").ok().and_then(|v| v.trim().parse::<usize>().ok());
    env.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8))).max(1)
}

/// Adapter, device, queue and a pipeline cache.
pub struct GpuContext {
    adapter: Option<wgpu::Adapter>,
    info: wgpu::AdapterInfo,
    device: wgpu::Device,
    queue: wgpu::Queue,
    caps: Capabilities,
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
    layouts: Mutex<HashMap<&'static str, crate::kernels::LayoutPair>>,
    tuned: Mutex<HashMap<String, TileChoice>>,
    lost: Arc<Mutex<Option<String>>>,
    /// Running total of bytes the library has allocated through this context (buffers
    /// freed since are not subtracted).
    allocated: std::sync::atomic::AtomicU64,
    /// The pipelines being built now, and the signal that one finished (see `pipeline`).
    compiling: (Mutex<HashSet<PipelineKey>>, Condvar),
    /// Uniform parameter buffers by their bytes (see `uniform`).
    uniforms: Mutex<HashMap<Vec<u8>, wgpu::Buffer>>,
    /// Whether ring receive staging may live in host memory (decided once, by a
    /// self-test: see `ring::transport::recv_staging_memory`).
    pub(crate) host_staging: std::sync::OnceLock<bool>,
    /// The cooperative-matrix element layout, probed on first use (see
    /// `kernels::regs::coop_layout`).
    pub(crate) coop_layout: std::sync::OnceLock<Option<crate::kernels::regs::CoopLayout>>,
    /// Set when the driver rejected the register kernel (`kernels::regs::give_up`).
    pub(crate) regs_failed: std::sync::atomic::AtomicBool,
    /// Minimum alignment of host memory imported into this device, when it was opened
    /// with VK_EXT_external_memory_host (see `crate::hostmem`).
    host_import: Option<u64>,
    /// The second queue the ring's copies run on (see `crate::dma`): the outgoing ones,
    /// and the incoming ones where `dma_in` is None.
    dma: Option<Arc<crate::dma::DmaQueue>>,
    /// A third queue, of the same family, for the incoming copies.
    dma_in: Option<Arc<crate::dma::DmaQueue>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext").field("adapter", &self.info.name).field("backend", &self.info.backend).finish()
    }
}

/// Held while this process creates a wgpu instance, enumerates adapters or opens a
/// device. Drivers' instance and display initialization (EGL for GL adapters, the
/// Vulkan loader's layers) is not always safe to run from several threads at once:
/// on an NVIDIA host, four test threads opening contexts together hung in it, one
/// at a time never did. Opening contexts is rare, so serializing it costs nothing.
static DRIVER_SETUP: Mutex<()> = Mutex::new(());

fn driver_setup_lock() -> std::sync::MutexGuard<'static, ()> {
    DRIVER_SETUP.lock().unwrap_or_else(|p| p.into_inner())
}

/// Lists every adapter wgpu finds for the backends in `WGPU_BACKEND` (all by default).
pub fn enumerate_adapters() -> Vec<wgpu::Adapter> {
    let _setup = driver_setup_lock();
    let instance = make_instance();
    pollster::block_on(instance.enumerate_adapters(backends_from_env()))
}

fn backends_from_env() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all())
}

/// A new wgpu instance for the backends of `WGPU_BACKEND`. Not shared between
/// enumerations: GL adapters of one instance share one EGL context, and contexts used
/// from different threads then fail with EGL's BadAccess (seen with llvmpipe's GL when
/// the instance was shared).
fn make_instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends_from_env();
    wgpu::Instance::new(desc)
}

/// A short, stable description of an adapter.
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?}, driver {} {})", info.name, info.backend, info.device_type, info.driver, info.driver_info)
}

fn type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn backend_rank(b: wgpu::Backend) -> u32 {
    match b {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        wgpu::Backend::BrowserWebGpu => 1,
        wgpu::Backend::Gl => 2,
        wgpu::Backend::Noop => 9,
    }
}

/// Orders adapters by preference: discrete before integrated before CPU, native APIs before GL.
pub fn sort_adapters(adapters: &mut [wgpu::Adapter]) {
    adapters.sort_by_key(|a| {
        let i = a.get_info();
        (type_rank(i.device_type), backend_rank(i.backend))
    });
}

impl GpuContext {
    /// Creates a context on the preferred adapter.
    ///
    /// `RINGATTN_ADAPTER=<substring>` picks the first adapter whose name contains the
    /// substring (case-insensitive); `WGPU_BACKEND=vulkan|gl|metal|dx12` limits backends.
    /// Without either, the high-performance adapter (discrete GPU, native backend) wins.
    pub fn new() -> Result<Self> {
        let mut adapters = enumerate_adapters();
        adapters.retain(|a| a.get_info().backend != wgpu::Backend::Noop);
        sort_adapters(&mut adapters);
        if let Ok(want) = std::env::var("RINGATTN_ADAPTER") {
            let w = want.to_lowercase();
            let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
            let pos = adapters.iter().position(|a| {
                let i = a.get_info();
                i.name.to_lowercase().contains(&w) || format!("{:?}", i.backend).to_lowercase() == w
            });
            return match pos {
                Some(p) => Self::from_adapter(adapters.swap_remove(p)),
                None => Err(Error::NoAdapter(format!("RINGATTN_ADAPTER={want} matches none of {names:?}"))),
            };
        }
        let mut last_err = None;
        for a in adapters {
            match Self::from_adapter(a) {
                Ok(c) => return Ok(c),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| Error::NoAdapter("wgpu found no adapter (on headless Linux: apt-get install mesa-vulkan-drivers)".into())))
    }

    /// Creates a device on the given adapter, asking only for the features and limits
    /// ringattn uses, at the adapter's own values.
    pub fn from_adapter(adapter: wgpu::Adapter) -> Result<Self> {
        let info = adapter.get_info();
        let af = adapter.features();
        let wanted = wgpu::Features::SHADER_F16
            | wgpu::Features::SUBGROUP
            | wgpu::Features::SUBGROUP_BARRIER
            | wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
        let mut features = af & wanted;
        // Ring receive staging in host memory, when asked for (ring::StagingMemory):
        // Vulkan only, where MAP_READ buffers live in host-visible, coherent system memory.
        if info.backend == wgpu::Backend::Vulkan && std::env::var("RINGATTN_RING_STAGING").is_ok_and(|v| v == "host" || v == "mixed") {
            features |= af & wgpu::Features::MAPPABLE_PRIMARY_BUFFERS;
        }
        if std::env::var("RINGATTN_NO_COOP").is_ok() {
            features.remove(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX);
        }
        // Kernels built from SPIR-V that ringattn writes itself: the matrix tier's
        // register kernel (kernels::regs, where cooperative matrices are requested) and
        // RINGATTN_ROLLED_LOOPS. Vulkan only.
        let coop = features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX);
        if info.backend == wgpu::Backend::Vulkan && (coop || std::env::var_os(ROLLED_LOOPS).is_some()) {
            features |= af & wgpu::Features::PASSTHROUGH_SHADERS;
        }
        let al = adapter.limits();
        let limits = needed_limits(&al);
        let experimental = if features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
            // SAFETY: the only experimental feature requested is cooperative matrices; the
            // matrix tier is validated against the f64 reference before it is trusted, and
            // RINGATTN_NO_COOP turns it off.
            unsafe { wgpu::ExperimentalFeatures::enabled() }
        } else {
            wgpu::ExperimentalFeatures::disabled()
        };
        let desc = wgpu::DeviceDescriptor {
            label: Some("ringattn"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: experimental,
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue, host_import, dma) = {
            let _setup = driver_setup_lock();
            // With VK_EXT_external_memory_host where the adapter has it (the ring's
            // zero-copy transport, crate::hostmem), and a second queue for the ring's
            // copies (crate::dma); a failure there falls back to the ordinary request.
            match crate::hostmem::request_device(&adapter, &desc, crate::dma::DmaChoice::from_env()) {
                Some(Ok(o)) => Ok((o.device, o.queue, Some(o.align), o.dma)),
                _ => pollster::block_on(adapter.request_device(&desc)).map(|(d, q)| (d, q, None, None)),
            }
        }
        .map_err(|e| Error::RequestDevice { adapter: info.name.clone(), reason: e.to_string() })?;
        let coop = coop_shapes(&adapter);
        let downlevel = adapter.get_downlevel_capabilities().flags;
        let caps = Capabilities::from_parts(device.features(), device.limits(), &info, coop, downlevel);
        let mut ctx = Self::assemble(Some(adapter), info, device, queue, caps);
        ctx.host_import = host_import;
        // A DMA queue that cannot be set up leaves every copy on wgpu's queue.
        if let Some((family, count)) = dma {
            ctx.dma = crate::dma::DmaQueue::new(&ctx.device, &ctx.info.name, (family, 0)).ok();
            // (The second one only with the first: buffers are shared with the DMA family
            // where `dma` is set.)
            let second = ctx.dma.is_some() && count >= 2;
            ctx.dma_in = if second { crate::dma::DmaQueue::new(&ctx.device, &ctx.info.name, (family, 1)).ok() } else { None };
        }
        // Our own device: errors outside a scope are recorded, never a panic.
        let lost = ctx.lost.clone();
        ctx.device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut l = lost.lock().unwrap_or_else(|p| p.into_inner());
            if l.is_none() {
                *l = Some(format!("uncaptured: {e}"));
            }
        }));
        Ok(ctx)
    }

    /// Wraps a device and queue the application already owns.
    ///
    /// Pass the adapter when you have it: it gives the adapter name and the
    /// cooperative-matrix shapes. The library uses only the features the device was
    /// created with and installs no error handler on it.
    pub fn from_device(adapter: Option<&wgpu::Adapter>, device: wgpu::Device, queue: wgpu::Queue) -> Self {
        let info = adapter.map(|a| a.get_info()).unwrap_or_else(|| {
            let mut i = wgpu::AdapterInfo::new(wgpu::DeviceType::Other, wgpu::Backend::Noop);
            i.name = "application device".into();
            i
        });
        let coop = adapter.map(coop_shapes).unwrap_or_default();
        let downlevel = adapter.map(|a| a.get_downlevel_capabilities().flags).unwrap_or(wgpu::DownlevelFlags::empty());
        let caps = Capabilities::from_parts(device.features(), device.limits(), &info, coop, downlevel);
        Self::assemble(adapter.cloned(), info, device, queue, caps)
    }

    fn assemble(adapter: Option<wgpu::Adapter>, info: wgpu::AdapterInfo, device: wgpu::Device, queue: wgpu::Queue, caps: Capabilities) -> Self {
        let lost = Arc::new(Mutex::new(None));
        let l2 = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            let mut l = l2.lock().unwrap_or_else(|p| p.into_inner());
            if !matches!(reason, wgpu::DeviceLostReason::Destroyed) {
                *l = Some(format!("{reason:?}: {msg}"));
            }
        });
        GpuContext {
            adapter,
            info,
            device,
            queue,
            caps,
            pipelines: Mutex::new(HashMap::new()),
            layouts: Mutex::new(HashMap::new()),
            tuned: Mutex::new(HashMap::new()),
            lost,
            allocated: std::sync::atomic::AtomicU64::new(0),
            compiling: (Mutex::new(HashSet::new()), Condvar::new()),
            uniforms: Mutex::new(HashMap::new()),
            host_staging: std::sync::OnceLock::new(),
            coop_layout: std::sync::OnceLock::new(),
            regs_failed: std::sync::atomic::AtomicBool::new(false),
            host_import: None,
            dma: None,
            dma_in: None,
        }
    }

    /// Where host memory can be imported into this device (Vulkan devices opened by
    /// [`GpuContext::from_adapter`] on adapters with VK_EXT_external_memory_host): the
    /// alignment an imported block needs. See [`crate::hostmem`].
    pub fn host_import_alignment(&self) -> Option<u64> {
        self.host_import
    }

    /// The second queue the ring's shared-staging copies run on, where the device has
    /// one (see `crate::dma`).
    pub(crate) fn dma(&self) -> Option<&Arc<crate::dma::DmaQueue>> {
        self.dma.as_ref()
    }

    /// The queue the ring's incoming copies run on: a queue of their own where the
    /// device has two DMA queues, else [`GpuContext::dma`]'s.
    pub(crate) fn dma_in(&self) -> Option<&Arc<crate::dma::DmaQueue>> {
        self.dma_in.as_ref().or(self.dma.as_ref())
    }

    /// The queue family of the ring's copy queue, where the device has one
    /// (`RINGATTN_DMA_QUEUE`; shown by `ringattn info`).
    pub fn dma_queue_family(&self) -> Option<u32> {
        self.dma.as_ref().map(|q| q.family())
    }

    /// How many DMA queues the device has (0-2; two: one per direction).
    pub fn dma_queue_count(&self) -> usize {
        self.dma.iter().chain(&self.dma_in).count()
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }
    pub fn adapter(&self) -> Option<&wgpu::Adapter> {
        self.adapter.as_ref()
    }
    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
    pub fn name(&self) -> &str {
        &self.info.name
    }
    /// One-line description: name, backend, type, driver.
    pub fn describe(&self) -> String {
        describe_adapter(&self.info)
    }
    /// The fastest tier this adapter supports (before `RINGATTN_TIER` or per-call overrides).
    pub fn best_tier(&self) -> Tier {
        self.caps.tiers()[0]
    }
    /// Total bytes of buffers the library has allocated through this context.
    pub fn allocated_bytes(&self) -> u64 {
        self.allocated.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Fails if the device was lost or recorded an error outside a scope.
    pub fn check_alive(&self) -> Result<()> {
        let l = self.lost.lock().unwrap_or_else(|p| p.into_inner());
        match &*l {
            Some(m) => Err(Error::DeviceLost { adapter: self.info.name.clone(), message: m.clone() }),
            None => Ok(()),
        }
    }

    /// Errors if `dtype` cannot be used on this device.
    pub fn check_dtype(&self, dtype: Dtype, needed_for: &str) -> Result<()> {
        if dtype == Dtype::F16 && !self.caps.shader_f16 {
            return Err(Error::MissingFeature {
                adapter: self.info.name.clone(),
                feature: "SHADER_F16",
                needed_for: format!("f16 storage in {needed_for}"),
            });
        }
        Ok(())
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns any error
    /// into an [`Error::Gpu`].
    pub fn scoped<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        self.check_alive()?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let e1 = pollster::block_on(val.pop());
        let e2 = pollster::block_on(oom.pop());
        if let Some(e) = e1 {
            return Err(Error::Gpu { adapter: self.info.name.clone(), message: e.to_string() });
        }
        if let Some(e) = e2 {
            return Err(Error::OutOfMemory { adapter: self.info.name.clone(), message: e.to_string() });
        }
        Ok(out)
    }

    /// Records commands with `f` into a new encoder labelled `label` and submits them
    /// (inside the error scopes of [`GpuContext::scoped`]); does not wait.
    pub fn submit_with(&self, label: &str, f: impl FnOnce(&mut wgpu::CommandEncoder) -> Result<()>) -> Result<()> {
        let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        f(&mut enc)?;
        self.scoped(|| self.queue.submit([enc.finish()]))?;
        Ok(())
    }

    /// Creates a buffer, checking size limits first.
    pub fn create_buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> Result<wgpu::Buffer> {
        let max = self.caps.limits.max_buffer_size;
        if size > max {
            return Err(Error::LimitExceeded { what: format!("buffer `{label}`"), limit: "max_buffer_size", needed: size, allowed: max });
        }
        let size = size.max(4).div_ceil(4) * 4;
        let b = self.scoped(|| self.device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size, usage, mapped_at_creation: false }))?;
        self.allocated.fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        Ok(b)
    }

    /// Writes bytes into a buffer (padded to 4 bytes).
    pub fn write_bytes(&self, buffer: &wgpu::Buffer, offset: u64, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if offset + data.len() as u64 > buffer.size() {
            return Err(Error::WrongSize {
                what: "write",
                expected: buffer.size() - offset.min(buffer.size()),
                got: data.len() as u64,
                unit: "bytes",
            });
        }
        self.scoped(|| {
            if data.len().is_multiple_of(4) {
                self.queue.write_buffer(buffer, offset, data);
            } else {
                let mut v = data.to_vec();
                v.resize(data.len().div_ceil(4) * 4, 0);
                self.queue.write_buffer(buffer, offset, &v);
            }
        })?;
        Ok(())
    }

    /// Reads `len` bytes from `buffer` at `offset` through a staging buffer.
    pub fn read_bytes(&self, buffer: &wgpu::Buffer, offset: u64, len: u64) -> Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let padded = len.div_ceil(4) * 4;
        if offset + padded > buffer.size() {
            return Err(Error::WrongSize { what: "read", expected: buffer.size(), got: offset + padded, unit: "bytes" });
        }
        let staging = self.scoped(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("ringattn readback"),
                size: padded,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        self.scoped(|| {
            let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ringattn readback") });
            enc.copy_buffer_to_buffer(buffer, offset, &staging, 0, padded);
            self.queue.submit([enc.finish()]);
        })?;
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Gpu { adapter: self.info.name.clone(), message: format!("map failed: {e}") }),
            Err(_) => return Err(Error::Timeout { adapter: self.info.name.clone(), seconds: 5.0 }),
        }
        let view = staging.get_mapped_range(..).map_err(|e| Error::Gpu { adapter: self.info.name.clone(), message: e.to_string() })?;
        let out = view[..len as usize].to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }

    /// Blocks until all submitted work is done (or the default timeout passes).
    pub fn wait(&self) -> Result<()> {
        self.wait_timeout(DEFAULT_TIMEOUT)
    }

    /// Blocks until all submitted work is done, at most `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        self.poll_wait(None, timeout)
    }

    /// Blocks until submission `index` (None: all submitted work) is done, at most
    /// `timeout`. On GL the driver's context lock is held for the whole of a blocking
    /// wait, and other threads' calls on that context (other logical devices of the
    /// adapter included) give up after 6 s with a wgpu panic; there the wait runs in
    /// slices of 50 ms with the lock released between them.
    pub(crate) fn poll_wait(&self, index: Option<wgpu::SubmissionIndex>, timeout: Duration) -> Result<()> {
        let slice = (self.info.backend == wgpu::Backend::Gl).then_some(Duration::from_millis(50));
        let t0 = std::time::Instant::now();
        loop {
            let left = timeout.saturating_sub(t0.elapsed());
            let step = slice.map_or(left, |s| s.min(left));
            let r = self.device.poll(wgpu::PollType::Wait { submission_index: index.clone(), timeout: Some(step) });
            self.check_alive()?;
            match r {
                Ok(_) => return Ok(()),
                Err(wgpu::PollError::Timeout) if slice.is_some() && t0.elapsed() < timeout => std::thread::yield_now(),
                Err(wgpu::PollError::Timeout) => return Err(Error::Timeout { adapter: self.info.name.clone(), seconds: timeout.as_secs_f64() }),
                Err(e) => return Err(Error::Gpu { adapter: self.info.name.clone(), message: e.to_string() }),
            }
        }
    }

    /// A uniform buffer holding `bytes` (a kernel's parameter block), shared by every
    /// call with the same bytes: repeated calls of one shape create no buffer (and
    /// queue no upload of its contents), which at small sizes was visible in the
    /// calls' host time. The buffers are immutable (UNIFORM only), so calls in flight
    /// may share one. At most [`UNIFORM_CACHE_ENTRIES`] are kept; the cache starts
    /// over when full. `label` names a buffer created here.
    pub fn uniform(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        let mut cache = self.uniforms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = cache.get(bytes) {
            return b.clone();
        }
        if cache.len() >= UNIFORM_CACHE_ENTRIES {
            cache.clear();
        }
        use wgpu::util::DeviceExt;
        let b = self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        cache.insert(bytes.to_vec(), b.clone());
        b
    }

    /// Uniform buffers [`GpuContext::uniform`] holds now.
    pub fn uniform_buffers(&self) -> usize {
        self.uniforms.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Returns the cached pipeline for `key`, building it with `source` on first use.
    ///
    /// The shader is created inside an error scope; a WGSL error comes back as
    /// [`Error::Shader`] naming the kernel. Kernels named in [`UNCLAMPED_KERNELS`] are
    /// built without naga's index clamping on Vulkan.
    pub fn pipeline(&self, key: &PipelineKey, layout: &wgpu::PipelineLayout, source: impl FnOnce() -> String) -> Result<Arc<wgpu::ComputePipeline>> {
        let cached = || self.pipelines.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned();
        if let Some(p) = cached() {
            return Ok(p);
        }
        // Different pipelines build in parallel (the driver compiles in the calling
        // thread: the tile searches build their candidates on several threads); a thread
        // asking for a pipeline another is building waits for it and takes it from the
        // cache (or, when that build failed, builds it itself and gets its error).
        let (busy, done) = &self.compiling;
        let mut building = busy.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(p) = cached() {
                return Ok(p);
            }
            if building.insert(key.clone()) {
                break;
            }
            building = done.wait(building).unwrap_or_else(|p| p.into_inner());
        }
        drop(building);
        let _building = Building { ctx: self, key };
        let wgsl = source();
        let name = format!("{}{:?}", key.kernel, key.defines);
        dump_wgsl(key, &name, &wgsl);
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor { label: Some(key.kernel), source: wgpu::ShaderSource::Wgsl(wgsl.as_str().into()) };
        let clamp = !UNCLAMPED_KERNELS.contains(&key.kernel);
        let passthrough = self.device.features().contains(wgpu::Features::PASSTHROUGH_SHADERS);
        let rolled = passthrough && rolled_loops(key.kernel);
        let elements = crate::kernels::regs::ELEMENT_KERNELS.contains(&key.kernel);
        if elements && !passthrough {
            return Err(Error::Shader { name, message: "needs SPIR-V passthrough (Vulkan)".into() });
        }
        let module = match (std::env::var("RINGATTN_CHECKS").ok().as_deref(), clamp) {
            _ if rolled || elements => {
                let spirv = match kernel_spirv(key.kernel, &wgsl, clamp, true, rolled) {
                    Ok(s) => s,
                    Err(message) => return Err(Error::Shader { name, message }),
                };
                let workgroup_size = spirv.workgroup_size();
                let desc = wgpu::ShaderModuleDescriptorPassthrough {
                    label: Some(key.kernel),
                    entry_points: vec![wgpu::PassthroughShaderEntryPoint { name: "main".into(), workgroup_size }].into(),
                    spirv: Some(spirv.words.into()),
                    ..Default::default()
                };
                // SAFETY: the SPIR-V is what wgpu's Vulkan backend writes for this WGSL
                // (naga, same options), with only the loops' unroll hints changed
                // (RINGATTN_ROLLED_LOOPS) or the bodies of the element helpers written
                // as element accesses (kernels::regs, which checks the layout first).
                unsafe { self.device.create_shader_module_passthrough(desc) }
            }
            (Some(mode), _) => {
                let checks = wgpu::ShaderRuntimeChecks {
                    bounds_checks: mode.contains("bounds"),
                    force_loop_bounding: mode.contains("loops"),
                    ..wgpu::ShaderRuntimeChecks::checked()
                };
                // SAFETY: experiment switch.
                unsafe { self.device.create_shader_module_trusted(desc, checks) }
            }
            // Vulkan only: there robust buffer access (which every Vulkan device has and
            // wgpu turns on) keeps buffer accesses safe without naga's checks; elsewhere
            // turning the checks off would drop those too, so the kernel stays checked.
            (None, false) if self.info.backend == wgpu::Backend::Vulkan => {
                let checks = wgpu::ShaderRuntimeChecks { bounds_checks: false, ..wgpu::ShaderRuntimeChecks::checked() };
                // SAFETY: only for kernels whose array indices are in bounds by
                // construction (UNCLAMPED_KERNELS); loops stay bounded.
                unsafe { self.device.create_shader_module_trusted(desc, checks) }
            }
            (None, _) => self.device.create_shader_module(desc),
        };
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(key.kernel),
            layout: Some(layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Shader { name, message: e.to_string() });
        }
        let p = Arc::new(pipeline);
        self.pipelines.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone(), p.clone());
        Ok(p)
    }

    /// The keys (kernel and template substitutions) of every pipeline this context has
    /// built, in no particular order: what the library actually compiled on this adapter
    /// (the shader tests check that each is among the specializations they translate).
    pub fn built_pipelines(&self) -> Vec<PipelineKey> {
        self.pipelines.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }

    /// The explicit bind group layout + pipeline layout named `name`, created once.
    pub(crate) fn layout(&self, name: &'static str, slots: &[crate::kernels::Slot]) -> crate::kernels::LayoutPair {
        let mut l = self.layouts.lock().unwrap_or_else(|p| p.into_inner());
        l.entry(name).or_insert_with(|| Arc::new(crate::kernels::make_layout(self, name, slots))).clone()
    }

    /// Tile choices made for this context (see `tuning`), keyed by `tuning::key`.
    pub(crate) fn tuned_get(&self, key: &str) -> Option<TileChoice> {
        self.tuned.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }
    pub(crate) fn tuned_set(&self, key: &str, v: TileChoice) {
        self.tuned.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_string(), v);
    }

    /// Number of pipelines compiled so far.
    pub fn cached_pipelines(&self) -> usize {
        self.pipelines.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Whether `RINGATTN_ROLLED_LOOPS=kernel[,kernel...]` names `kernel`: those kernels are
/// built on Vulkan from SPIR-V that ringattn writes itself ([`vulkan_spirv`]) with every
/// loop marked `DontUnroll` ([`spirv_dont_unroll`]), through wgpu's SPIR-V passthrough
/// (an experiment on the driver's loop unrolling; BENCHMARKS.md, tenth session).
pub fn rolled_loops(kernel: &str) -> bool {
    std::env::var(ROLLED_LOOPS).is_ok_and(|v| v.split(',').any(|k| k.trim() == kernel))
}

const ROLLED_LOOPS: &str = "RINGATTN_ROLLED_LOOPS";

/// A SPIR-V module (4-byte words) and the naga module it was written from.
pub struct VulkanSpirv {
    pub words: Vec<u32>,
    pub module: naga::Module,
}

impl VulkanSpirv {
    /// The workgroup size of entry point `main` (1, 1, 1 where there is none).
    pub fn workgroup_size(&self) -> (u32, u32, u32) {
        let s = self.module.entry_points.iter().find(|e| e.name == "main").map_or([1, 1, 1], |e| e.workgroup_size);
        (s[0], s[1], s[2])
    }
}

/// SPIR-V for a WGSL compute shader with entry point `main`, as wgpu's Vulkan backend
/// writes it for a Vulkan 1.3 device with robust buffer access 2: naga's index clamps
/// when `bounds`, loop bounding when `loops`.
pub fn vulkan_spirv(wgsl: &str, bounds: bool, loops: bool) -> std::result::Result<VulkanSpirv, String> {
    spirv_for_vulkan(wgsl, bounds, loops, false)
}

/// [`vulkan_spirv`] with debug names (`OpName`) of functions and variables, which
/// `kernels::regs::spirv_coop_elements` needs to find its helpers.
pub fn vulkan_spirv_named(wgsl: &str, bounds: bool, loops: bool) -> std::result::Result<VulkanSpirv, String> {
    spirv_for_vulkan(wgsl, bounds, loops, true)
}

/// The SPIR-V the library builds `kernel` from where it writes the module itself
/// (Vulkan, through wgpu's passthrough): [`vulkan_spirv`], with debug names and the
/// element helpers rewritten for the register kernel (`kernels::regs::ELEMENT_KERNELS`,
/// `kernels::regs::spirv_coop_elements`) and every loop marked `DontUnroll` when
/// `rolled` ([`rolled_loops`]).
pub fn kernel_spirv(kernel: &str, wgsl: &str, bounds: bool, loops: bool, rolled: bool) -> std::result::Result<VulkanSpirv, String> {
    let elements = crate::kernels::regs::ELEMENT_KERNELS.contains(&kernel);
    let mut spirv = spirv_for_vulkan(wgsl, bounds, loops, elements)?;
    if rolled {
        spirv_dont_unroll(&mut spirv.words);
    }
    if elements {
        spirv.words = crate::kernels::regs::spirv_coop_elements(&spirv.words)?.0;
    }
    Ok(spirv)
}

fn spirv_for_vulkan(wgsl: &str, bounds: bool, loops: bool, names: bool) -> std::result::Result<VulkanSpirv, String> {
    let module = naga::front::wgsl::parse_str(wgsl).map_err(|e| e.emit_to_string(wgsl))?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .map_err(|e| e.emit_to_string(wgsl))?;
    let policy = |on: bool| if on { naga::proc::BoundsCheckPolicy::Restrict } else { naga::proc::BoundsCheckPolicy::Unchecked };
    let mut options = naga::back::spv::Options {
        lang_version: (1, 6),
        bounds_check_policies: naga::proc::BoundsCheckPolicies {
            index: policy(bounds),
            buffer: naga::proc::BoundsCheckPolicy::Unchecked,
            image_load: naga::proc::BoundsCheckPolicy::Unchecked,
            binding_array: naga::proc::BoundsCheckPolicy::Unchecked,
        },
        zero_initialize_workgroup_memory: naga::back::spv::ZeroInitializeWorkgroupMemoryMode::Native,
        force_loop_bounding: loops,
        ..Default::default()
    };
    options.flags.set(naga::back::spv::WriterFlags::DEBUG, names);
    let pipeline = naga::back::spv::PipelineOptions { shader_stage: naga::ShaderStage::Compute, entry_point: "main".into() };
    let words = naga::back::spv::write_vec(&module, &info, &options, Some(&pipeline)).map_err(|e| e.to_string())?;
    Ok(VulkanSpirv { words, module })
}

/// The instructions of a SPIR-V module after its 5-word header, as word ranges (an
/// instruction's first word holds its word count and opcode); an error at the first
/// word count that is zero or runs past the end.
pub fn spirv_instructions(words: &[u32]) -> std::result::Result<Vec<std::ops::Range<usize>>, String> {
    if words.len() < 5 {
        return Err("not a SPIR-V module".into());
    }
    let mut out = Vec::new();
    let mut i = 5;
    while i < words.len() {
        let count = (words[i] >> 16) as usize;
        if count == 0 || i + count > words.len() {
            return Err(format!("malformed instruction at word {i}"));
        }
        out.push(i..i + count);
        i += count;
    }
    Ok(out)
}

/// SPIR-V's `OpLoopMerge` opcode.
pub(crate) const OP_LOOP_MERGE: u32 = 246;

/// Marks every loop of a SPIR-V module `DontUnroll` (the loop control of each
/// `OpLoopMerge` without extra operands; an `Unroll` hint is cleared). Returns how many
/// loops it marked (none in a malformed module).
pub fn spirv_dont_unroll(words: &mut [u32]) -> usize {
    const UNROLL: u32 = 0x1;
    const DONT_UNROLL: u32 = 0x2;
    let mut marked = 0;
    for r in spirv_instructions(words).unwrap_or_default() {
        if words[r.start] & 0xffff == OP_LOOP_MERGE && r.len() == 4 {
            words[r.start + 3] = (words[r.start + 3] & !UNROLL) | DONT_UNROLL;
            marked += 1;
        }
    }
    marked
}

/// With `RINGATTN_DUMP_WGSL=DIR`, writes every rendered shader the library compiles to
/// `DIR/<kernel>-<hash of the defines>.wgsl`, its defines in a first comment line (for
/// `examples/pipeline_stats.rs`, which reads a driver's register and memory statistics
/// of such files). Failures to write are ignored: a debugging aid only.
fn dump_wgsl(key: &PipelineKey, name: &str, wgsl: &str) {
    let Some(dir) = std::env::var_os("RINGATTN_DUMP_WGSL") else { return };
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let dir = std::path::PathBuf::from(dir);
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(format!("{}-{:016x}.wgsl", key.kernel, h.finish())), format!("// {name}\n{wgsl}"));
}

/// Most uniform parameter buffers a context keeps ([`GpuContext::uniform`]): a
/// parameter block is at most a few hundred bytes, so the cache stays under a few
/// MiB of GPU memory.
pub const UNIFORM_CACHE_ENTRIES: usize = 4096;

/// Kernels whose every workgroup- and private-array index is bounded by construction
/// (derived from invocation ids and template constants only, never from tensor data or
/// launch parameters). [`GpuContext::pipeline`] builds them without naga's index
/// clamping on Vulkan: buffer accesses stay safe through Vulkan's robust buffer access,
/// and loops keep their iteration bound. Other backends build them fully checked (there
/// the same switch would also drop the buffer checks). On NVIDIA the clamps cost the
/// matrix kernel 3-14 % and the tiled subgroup kernel 10 % (BENCHMARKS.md), mostly by
/// keeping the driver from merging workgroup accesses or folding their addresses into
/// immediate offsets. `RINGATTN_CHECKS`, when set, still decides for every kernel.
pub const UNCLAMPED_KERNELS: &[&str] = &["flash_matrix", "flash_regs", "flash_subgroup", "flash_tiled", "flash_decode"];

/// The limits ringattn needs: WebGPU's downlevel defaults, raised to the adapter's
/// values for the few limits attention depends on (buffer and binding sizes,
/// workgroup memory and size, workgroup counts).
pub fn needed_limits(adapter: &wgpu::Limits) -> wgpu::Limits {
    let base = wgpu::Limits::downlevel_defaults().or_worse_values_from(adapter);
    wgpu::Limits {
        max_storage_buffer_binding_size: adapter.max_storage_buffer_binding_size,
        max_buffer_size: adapter.max_buffer_size,
        max_compute_workgroup_storage_size: adapter.max_compute_workgroup_storage_size,
        max_compute_invocations_per_workgroup: adapter.max_compute_invocations_per_workgroup,
        max_compute_workgroup_size_x: adapter.max_compute_workgroup_size_x,
        max_compute_workgroup_size_y: adapter.max_compute_workgroup_size_y,
        max_compute_workgroups_per_dimension: adapter.max_compute_workgroups_per_dimension,
        max_storage_buffers_per_shader_stage: adapter.max_storage_buffers_per_shader_stage.min(16).max(base.max_storage_buffers_per_shader_stage),
        ..base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `par_map` returns every item's result in the items' order, whatever the thread
    /// that ran it, and runs each item once.
    #[test]
    fn par_map_keeps_order_and_runs_each_once() {
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let items: Vec<u64> = (0..100).collect();
        let out = par_map(&items, |&i| {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(Duration::from_micros(100 * (i % 7)));
            i * i
        });
        assert_eq!(out, items.iter().map(|i| i * i).collect::<Vec<_>>());
        assert_eq!(runs.into_inner(), 100);
        assert!(par_map(&[] as &[u64], |&i| i).is_empty());
        assert!(build_threads() >= 1);
    }
}
