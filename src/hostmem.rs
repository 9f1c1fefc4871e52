//! Host memory that several devices use at once: one page-aligned host allocation
//! imported into each device as a buffer (Vulkan `VK_EXT_external_memory_host`), so
//! what one GPU's DMA writes there another GPU's DMA reads, with no copy on the host.
//!
//! wgpu has no API for this, so the import goes around it: [`GpuContext`] opens its
//! Vulkan devices with the extension enabled where the adapter lists it (through
//! wgpu-hal), and [`import`] creates the `VkBuffer` and
//! `VkDeviceMemory` on the host pointer with ash and hands the buffer to wgpu as a
//! plain `COPY_SRC | COPY_DST` buffer. wgpu tracks and orders it like any other
//! buffer of that device; ordering between devices is the caller's (the ring hands a
//! piece over only after the copy that wrote it has completed, see
//! `ring::transport`). The host allocation lives until every import of it is
//! destroyed (each import holds an `Arc` of it).
//!
//! Set `RINGATTN_HOST_IMPORT=0` to open devices the ordinary way (no extension).
//! Other backends (Metal, DX12, GL) and Vulkan adapters without the extension simply
//! report [`GpuContext::host_import_alignment`] as `None`.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::context::GpuContext;
use crate::error::{Error, Result};

/// A zeroed host allocation aligned (start and length) for importing into devices.
pub struct HostBlock {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the block is plain memory; the library writes it only through the GPUs
// (ordered by the ring's hand-offs) and never hands out references into it.
unsafe impl Send for HostBlock {}
unsafe impl Sync for HostBlock {}

impl HostBlock {
    /// `len` bytes (rounded up to `align`, a power of two) at an `align`-aligned address.
    pub fn new(len: u64, align: u64) -> Result<Arc<Self>> {
        let align = align.max(4096);
        if !align.is_power_of_two() {
            return Err(Error::InvalidArgument(format!("host import alignment {align} is not a power of two")));
        }
        let size = len.max(1).div_ceil(align) * align;
        let layout =
            Layout::from_size_align(size as usize, align as usize).map_err(|e| Error::InvalidArgument(format!("host block of {size} bytes: {e}")))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
            .ok_or_else(|| Error::InvalidArgument(format!("could not allocate {size} bytes of host memory for the ring")))?;
        Ok(Arc::new(HostBlock { ptr, layout }))
    }

    /// Bytes of the block (a multiple of its alignment).
    pub fn len(&self) -> u64 {
        self.layout.size() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.layout.size() == 0
    }
}

impl Drop for HostBlock {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; no import is alive any more
        // (each holds an Arc of the block).
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Whether `RINGATTN_HOST_IMPORT` allows enabling the extension (default: yes).
#[cfg(host_import)]
fn allowed() -> bool {
    std::env::var("RINGATTN_HOST_IMPORT").map_or(true, |v| v != "0")
}

/// Opens a device on `adapter` like `Adapter::request_device`, with
/// `VK_EXT_external_memory_host` enabled when the adapter is a Vulkan adapter that
/// lists it. Returns None when the extension is not available (or not allowed), and
/// the device with the adapter's minimum import alignment otherwise, and the
/// (family, count) of the queues it was opened with for the ring's copies
/// ([`crate::dma`]; None where the adapter has no such family or `dma` says none).
#[cfg(host_import)]
pub(crate) fn request_device(adapter: &wgpu::Adapter, desc: &wgpu::DeviceDescriptor<'_>, dma: crate::dma::DmaChoice) -> Option<Result<OpenedDevice>> {
    use ash::vk;
    use wgpu::hal::api::Vulkan;
    if !allowed() || adapter.get_info().backend != wgpu::Backend::Vulkan {
        return None;
    }
    let name = adapter.get_info().name;
    let (open, (align, dma_queues)) = {
        // SAFETY: the hal adapter is only read and used to open a device, which wgpu
        // then owns (create_device_from_hal below).
        let hal = unsafe { adapter.as_hal::<Vulkan>() }?;
        if !hal.physical_device_capabilities().supports_extension(ash::ext::external_memory_host::NAME) {
            return None;
        }
        let mut host_props = vk::PhysicalDeviceExternalMemoryHostPropertiesEXT::default();
        let mut props = vk::PhysicalDeviceProperties2::default().push_next(&mut host_props);
        // SAFETY: a valid physical device of this instance; the chained struct belongs to
        // the extension the device lists.
        unsafe { hal.shared_instance().raw_instance().get_physical_device_properties2(hal.raw_physical_device(), &mut props) };
        let align = host_props.min_imported_host_pointer_alignment.max(1);
        let open = |queues: Option<(u32, u32)>| {
            let add_extension = Box::new(move |args: wgpu::hal::vulkan::CreateDeviceCallbackArgs<'_, '_, '_>| {
                args.extensions.push(ash::ext::external_memory_host::NAME);
                if let Some(q) = queues {
                    crate::dma::add_queue(args.queue_create_infos, q);
                }
            });
            // SAFETY: the callback only adds an extension the physical device supports and
            // queues of a family (and count) it lists.
            unsafe { hal.open_with_callback(desc.required_features, &desc.required_limits, &desc.memory_hints, Some(add_extension)) }
        };
        // A driver that refuses the extra queues still gets host import: once more
        // without them.
        let planned = crate::dma::plan(hal.shared_instance().raw_instance(), hal.raw_physical_device(), dma);
        match open(planned) {
            Err(_) if planned.is_some() => (open(None), (align, None)),
            o => (o, (align, planned)),
        }
    };
    let open = match open {
        Ok(o) => o,
        Err(e) => return Some(Err(Error::RequestDevice { adapter: name, reason: format!("with VK_EXT_external_memory_host: {e}") })),
    };
    // SAFETY: `open` was created from this adapter with the descriptor's features.
    Some(
        unsafe { adapter.create_device_from_hal(open, desc) }
            .map(|(device, queue)| OpenedDevice { device, queue, align, dma: dma_queues })
            .map_err(|e| Error::RequestDevice { adapter: name, reason: e.to_string() }),
    )
}

/// A device opened by [`request_device`].
pub(crate) struct OpenedDevice {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// Minimum alignment of imported host memory.
    pub align: u64,
    /// The (family, queue count) of the DMA queues the device was opened with.
    pub dma: Option<(u32, u32)>,
}

#[cfg(not(host_import))]
pub(crate) fn request_device(
    _adapter: &wgpu::Adapter,
    _desc: &wgpu::DeviceDescriptor<'_>,
    _dma: crate::dma::DmaChoice,
) -> Option<Result<OpenedDevice>> {
    None
}

/// Imports `block` into `ctx`'s device: a `COPY_SRC | COPY_DST` buffer of the block's
/// length whose memory is the block itself. Needs a context whose device was opened
/// with the extension ([`GpuContext::host_import_alignment`]) and a block aligned to it.
#[cfg(host_import)]
pub fn import(ctx: &GpuContext, block: &Arc<HostBlock>, label: &str) -> Result<wgpu::Buffer> {
    let err = |m: String| Error::Gpu { adapter: ctx.name().to_string(), message: format!("importing host memory: {m}") };
    let align = ctx.host_import_alignment().ok_or_else(|| err("the device was not opened with VK_EXT_external_memory_host".into()))?;
    // Test hook (tests/ring.rs): every import fails, as on a driver that refuses the
    // memory, to check that rings fall back to staging of their own.
    if std::env::var_os("RINGATTN_TEST_IMPORT_FAILS").is_some() {
        return Err(err("refused (RINGATTN_TEST_IMPORT_FAILS is set)".into()));
    }
    let (ptr, len) = (block.ptr.as_ptr(), block.len());
    if !(ptr as usize as u64).is_multiple_of(align) || !len.is_multiple_of(align) {
        return Err(err(format!("block of {len} bytes at {ptr:p} is not aligned to {align}")));
    }
    raw_buffer(ctx, label, len, wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST, Some(block)).map_err(err)
}

/// A device-local buffer that the device's DMA queue ([`crate::dma`]) may use beside
/// wgpu's queue: created with concurrent sharing between the two queue families and
/// handed to wgpu with `usage`; an ordinary wgpu buffer where the device has no DMA
/// queue. wgpu counts a buffer from hal as written, so it never zero-fills what the DMA
/// queue copied in (it would, before the first use, in a buffer of its own: the first
/// GPU run of the DMA queue, on such buffers, lost 18 of 21 ring tests to that).
#[cfg(host_import)]
pub(crate) fn shared_device_buffer(ctx: &GpuContext, label: &str, len: u64, usage: wgpu::BufferUsages) -> Result<wgpu::Buffer> {
    if ctx.dma().is_none() {
        return ctx.create_buffer(label, len.max(4), usage);
    }
    raw_buffer(ctx, label, len.max(4), usage, None)
        .map_err(|m| Error::Gpu { adapter: ctx.name().to_string(), message: format!("creating `{label}`: {m}") })
}

/// A Vulkan buffer of `len` bytes created with ash and handed to wgpu as a buffer
/// with `usage`: on `host` memory (imported; zeroed host memory, so its contents are
/// defined) or on device-local memory (wgpu counts a buffer from hal as initialized:
/// the caller writes it before it is read). Where the device has a DMA queue the
/// buffer is shared concurrently between wgpu's queue family and the DMA queue's.
#[cfg(host_import)]
fn raw_buffer(
    ctx: &GpuContext,
    label: &str,
    len: u64,
    usage: wgpu::BufferUsages,
    host: Option<&Arc<HostBlock>>,
) -> std::result::Result<wgpu::Buffer, String> {
    use ash::vk;
    use wgpu::hal::api::Vulkan;
    let handle = vk::ExternalMemoryHandleTypeFlags::HOST_ALLOCATION_EXT;
    let mut vk_usage = vk::BufferUsageFlags::empty();
    for (w, v) in [
        (wgpu::BufferUsages::COPY_SRC, vk::BufferUsageFlags::TRANSFER_SRC),
        (wgpu::BufferUsages::COPY_DST, vk::BufferUsageFlags::TRANSFER_DST),
        (wgpu::BufferUsages::STORAGE, vk::BufferUsageFlags::STORAGE_BUFFER),
        (wgpu::BufferUsages::UNIFORM, vk::BufferUsageFlags::UNIFORM_BUFFER),
    ] {
        if usage.contains(w) {
            vk_usage |= v;
        }
    }
    let (raw, buffer, memory) = {
        // SAFETY: the hal device is used for object creation only; wgpu keeps owning it.
        let hal = unsafe { ctx.device().as_hal::<Vulkan>() }.ok_or_else(|| "not a Vulkan device".to_string())?;
        let raw = hal.raw_device().clone();
        let instance = hal.shared_instance().raw_instance();
        let families = ctx.dma().map(|q| [hal.queue_family_index(), q.family()]);
        let mut info = vk::BufferCreateInfo::default().size(len).usage(vk_usage).sharing_mode(vk::SharingMode::EXCLUSIVE);
        if let Some(f) = &families {
            info = info.sharing_mode(vk::SharingMode::CONCURRENT).queue_family_indices(f);
        }
        let mut external = vk::ExternalMemoryBufferCreateInfo::default().handle_types(handle);
        if host.is_some() {
            info = info.push_next(&mut external);
        }
        // Memory types the host pointer accepts (all, for device memory).
        let mut host_bits = u32::MAX;
        if let Some(block) = host {
            let ext = ash::ext::external_memory_host::Device::new(instance, &raw);
            let mut hp = vk::MemoryHostPointerPropertiesEXT::default();
            // SAFETY: a host pointer of `len` bytes, aligned as the device requires.
            unsafe {
                (ext.fp().get_memory_host_pointer_properties_ext)(raw.handle(), handle, block.ptr.as_ptr() as *const std::ffi::c_void, &mut hp)
            }
            .result()
            .map_err(|e| format!("vkGetMemoryHostPointerPropertiesEXT: {e}"))?;
            host_bits = hp.memory_type_bits;
        }
        // SAFETY: a valid create info; the buffer is destroyed on every path below.
        let buffer = unsafe { raw.create_buffer(&info, None) }.map_err(|e| format!("vkCreateBuffer: {e}"))?;
        // SAFETY: `buffer` was just created on `raw`.
        let req = unsafe { raw.get_buffer_memory_requirements(buffer) };
        // SAFETY: the device's own physical device.
        let mp = unsafe { instance.get_physical_device_memory_properties(hal.raw_physical_device()) };
        let bits = req.memory_type_bits & host_bits;
        let want = match host {
            Some(_) => vk::MemoryPropertyFlags::HOST_VISIBLE | vk::MemoryPropertyFlags::HOST_COHERENT,
            None => vk::MemoryPropertyFlags::DEVICE_LOCAL,
        };
        let usable = |i: u32| bits & (1 << i) != 0;
        let Some(ty) = (0..mp.memory_type_count)
            .find(|&i| usable(i) && mp.memory_types[i as usize].property_flags.contains(want))
            .or_else(|| (0..mp.memory_type_count).find(|&i| usable(i)))
        else {
            // SAFETY: not bound, not in use.
            unsafe { raw.destroy_buffer(buffer, None) };
            return Err(format!("no memory type fits (buffer types {:#x}, host pointer types {host_bits:#x})", req.memory_type_bits));
        };
        let mut import = vk::ImportMemoryHostPointerInfoEXT::default().handle_type(handle);
        let mut alloc = vk::MemoryAllocateInfo::default().allocation_size(if host.is_some() { len } else { req.size }).memory_type_index(ty);
        if let Some(block) = host {
            import = import.host_pointer(block.ptr.as_ptr() as *mut std::ffi::c_void);
            alloc = alloc.push_next(&mut import);
        }
        // SAFETY: an imported pointer and size satisfy the import's alignment, and the
        // block outlives the memory (the drop callback below holds it).
        let memory = match unsafe { raw.allocate_memory(&alloc, None) } {
            Ok(m) => m,
            Err(e) => {
                // SAFETY: not bound, not in use.
                unsafe { raw.destroy_buffer(buffer, None) };
                return Err(format!("vkAllocateMemory ({len} bytes): {e}"));
            }
        };
        // SAFETY: fresh buffer and memory of the same device, memory large enough.
        if let Err(e) = unsafe { raw.bind_buffer_memory(buffer, memory, 0) } {
            // SAFETY: neither is in use.
            unsafe {
                raw.destroy_buffer(buffer, None);
                raw.free_memory(memory, None);
            }
            return Err(format!("vkBindBufferMemory: {e}"));
        }
        (raw, buffer, memory)
    };
    let keep = host.cloned();
    // Runs when wgpu-hal drops the buffer: once the GPU is done with it and before the
    // device is destroyed (the buffer holds the device).
    let cleanup: wgpu::hal::DropCallback = Box::new(move || {
        // SAFETY: the GPU no longer uses the buffer or its memory (see above).
        unsafe {
            raw.destroy_buffer(buffer, None);
            raw.free_memory(memory, None);
        }
        drop(keep);
    });
    // SAFETY: `buffer` is a valid buffer of this device that outlives the hal buffer.
    let hal_buffer = unsafe { wgpu::hal::vulkan::Buffer::from_raw_externally_owned(buffer, cleanup) };
    let desc = wgpu::BufferDescriptor { label: Some(label), size: len, usage, mapped_at_creation: false };
    // SAFETY: created on this device, bound to memory that stays valid, Vulkan usages
    // covering `desc`'s.
    Ok(unsafe { ctx.device().create_buffer_from_hal::<Vulkan>(hal_buffer, &desc) })
}

#[cfg(not(host_import))]
pub fn import(ctx: &GpuContext, _block: &Arc<HostBlock>, _label: &str) -> Result<wgpu::Buffer> {
    Err(Error::Gpu { adapter: ctx.name().to_string(), message: "importing host memory needs Vulkan (not on this target)".into() })
}

/// Without Vulkan no device has a DMA queue: an ordinary buffer.
#[cfg(not(host_import))]
pub(crate) fn shared_device_buffer(ctx: &GpuContext, label: &str, len: u64, usage: wgpu::BufferUsages) -> Result<wgpu::Buffer> {
    ctx.create_buffer(label, len.max(4), usage)
}
