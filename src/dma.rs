//! A second Vulkan queue for the ring's copies between device and host memory.
//!
//! wgpu gives a device one queue, and on it a copy runs after the compute submitted
//! before it: on NVIDIA H200s the ring's timestamps show the GPU copying a received
//! 128 MiB K/V block for 3.3 ms *between* two steps' compute, and copying the block
//! it sends out before the first step's (BENCHMARKS.md, "The ring's GPU timeline").
//! On Vulkan devices that [`crate::hostmem`] opens (VK_EXT_external_memory_host),
//! the device is opened with one more queue, and the ring's shared-staging copies
//! (device -> host pieces on the way out, host pieces -> the K/V slot on the way in)
//! are recorded and submitted on it with ash, so the copy engines move a block while
//! the SMs compute.
//!
//! The queue is one of a transfer-only queue family (the copy engines on NVIDIA;
//! AMD's SDMA); where the family has two queues (NVIDIA's does) the device gets both,
//! one for the copies out and one for the copies in, since PCIe moves both directions
//! at once (`RINGATTN_DMA_QUEUES=1`: one queue for both). A second queue of wgpu's own
//! family was tried and ran *slower* than wgpu's queue alone on 4 H200s
//! (BENCHMARKS.md), so it is not offered. Devices without a transfer-only family
//! (lavapipe has one queue) have no DMA queue, and `RINGATTN_DMA_QUEUE=0` opens
//! devices without one (every copy on wgpu's queue).
//!
//! Every buffer both queues use is shared concurrently between the two families:
//! the host pieces (`hostmem::import`), the ring's K/V slots and the transport
//! measurement's buffers (`hostmem::shared_device_buffer`). The caller's tensors,
//! which wgpu created for its family alone, are never touched by the DMA queue: the
//! block a device sends at step 0 is first copied into a shared slot on wgpu's queue.
//!
//! Ordering between the queues is the host's: a copy on a DMA queue that reads
//! what wgpu's queue wrote is submitted only after the host has seen that work
//! complete, and wgpu work that reads what a copy wrote is submitted only after the
//! copy's fence has signalled (see `ring::scheduler`). Each copy batch starts with a
//! barrier against everything earlier on this queue and ends with one that makes its
//! writes available to the host.

/// Whether devices are opened with a DMA queue (`RINGATTN_DMA_QUEUE=0`: no).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DmaChoice {
    /// No second queue.
    Off,
    /// A queue of a transfer-only family, where the adapter has one.
    Transfer,
}

impl DmaChoice {
    pub(crate) fn from_env() -> DmaChoice {
        match std::env::var("RINGATTN_DMA_QUEUE").as_deref().map(str::trim) {
            Ok("0") | Ok("off") => DmaChoice::Off,
            _ => DmaChoice::Transfer,
        }
    }
}

/// DMA queues a device opens where its transfer family has that many
/// (`RINGATTN_DMA_QUEUES`: 1 or 2): with two, one for the copies out and one for the
/// copies in.
pub(crate) const DEFAULT_DMA_QUEUES: u32 = 2;

/// One copy: `len` bytes from `src` at `src_off` to `dst` at `dst_off`.
pub(crate) type DmaCopy<'a> = (&'a wgpu::Buffer, u64, &'a wgpu::Buffer, u64, u64);

#[cfg(host_import)]
mod imp {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use ash::vk;
    use wgpu::hal::api::Vulkan;

    use super::{DmaChoice, DmaCopy};
    use crate::error::{Error, Result};

    /// How long dropping an unfinished batch waits for it before leaking its command
    /// buffer and fence (a hung device).
    const DROP_WAIT: Duration = Duration::from_secs(60);

    static ONE: [f32; 1] = [1.0];
    static TWO: [f32; 2] = [1.0, 1.0];

    /// The (family, queue count) of the DMA queues to add for `choice` on this physical
    /// device, when it has a transfer-only family: two queues where the family has two
    /// (one per direction: PCIe is full duplex; `RINGATTN_DMA_QUEUES=1` asks for one),
    /// else one. wgpu opens its queue as index 0 of family 0.
    pub(crate) fn plan(instance: &ash::Instance, pd: vk::PhysicalDevice, choice: DmaChoice) -> Option<(u32, u32)> {
        if choice == DmaChoice::Off {
            return None;
        }
        // SAFETY: a valid physical device of this instance.
        let families = unsafe { instance.get_physical_device_queue_family_properties(pd) };
        let want = std::env::var("RINGATTN_DMA_QUEUES").ok().and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(super::DEFAULT_DMA_QUEUES);
        transfer_family(&families).map(|f| (f, want.clamp(1, 2).min(families[f as usize].queue_count)))
    }

    /// The first transfer-only queue family other than wgpu's (family 0): transfer
    /// (and sparse binding) but no graphics, compute, video or optical flow.
    pub(crate) fn transfer_family(families: &[vk::QueueFamilyProperties]) -> Option<u32> {
        let other = vk::QueueFlags::GRAPHICS
            | vk::QueueFlags::COMPUTE
            | vk::QueueFlags::VIDEO_DECODE_KHR
            | vk::QueueFlags::VIDEO_ENCODE_KHR
            | vk::QueueFlags::OPTICAL_FLOW_NV;
        let (i, _) = families
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, f)| f.queue_count > 0 && f.queue_flags.contains(vk::QueueFlags::TRANSFER) && !f.queue_flags.intersects(other))?;
        Some(i as u32)
    }

    /// Adds the planned queues to the device's queue create infos (inside
    /// `open_with_callback`; the first info is wgpu's, family 0).
    pub(crate) fn add_queue(infos: &mut Vec<vk::DeviceQueueCreateInfo<'_>>, (family, count): (u32, u32)) {
        let priorities: &'static [f32] = if count >= 2 { &TWO } else { &ONE };
        infos.push(vk::DeviceQueueCreateInfo::default().queue_family_index(family).queue_priorities(priorities));
    }

    /// The second queue of a device, with a command pool and reusable (command buffer,
    /// fence) pairs.
    pub(crate) struct DmaQueue {
        /// Keeps the VkDevice alive while this queue's objects exist.
        _device: wgpu::Device,
        raw: ash::Device,
        queue: vk::Queue,
        family: u32,
        name: String,
        /// The pool and free pairs; also serializes submissions (Vulkan queues and pools
        /// are externally synchronized).
        state: Mutex<State>,
    }

    struct State {
        pool: vk::CommandPool,
        free: Vec<(vk::CommandBuffer, vk::Fence)>,
    }

    impl DmaQueue {
        /// The queue `(family, index)` of `device`, which must have been created with
        /// it ([`add_queue`]).
        pub(crate) fn new(device: &wgpu::Device, name: &str, (family, index): (u32, u32)) -> Result<Arc<DmaQueue>> {
            let err = |m: String| Error::Gpu { adapter: name.to_string(), message: format!("DMA queue: {m}") };
            // SAFETY: the hal device is used to create objects on it only.
            let hal = unsafe { device.as_hal::<Vulkan>() }.ok_or_else(|| err("not a Vulkan device".into()))?;
            let raw = hal.raw_device().clone();
            // SAFETY: the device was created with this queue.
            let queue = unsafe { raw.get_device_queue(family, index) };
            let info = vk::CommandPoolCreateInfo::default()
                .queue_family_index(family)
                .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER | vk::CommandPoolCreateFlags::TRANSIENT);
            // SAFETY: a valid create info for this device.
            let pool = unsafe { raw.create_command_pool(&info, None) }.map_err(|e| err(format!("vkCreateCommandPool: {e}")))?;
            Ok(Arc::new(DmaQueue {
                _device: device.clone(),
                raw,
                queue,
                family,
                name: name.to_string(),
                state: Mutex::new(State { pool, free: Vec::new() }),
            }))
        }

        /// The queue family (for the log and `ringattn info`).
        pub(crate) fn family(&self) -> u32 {
            self.family
        }

        fn err(&self, m: String) -> Error {
            Error::Gpu { adapter: self.name.clone(), message: format!("DMA queue: {m}") }
        }

        /// Records and submits `copies` as one batch, ordered after every batch
        /// submitted before it. The buffers must stay alive until the batch has run
        /// (the returned [`DmaSubmission`] waits for it when dropped).
        pub(crate) fn submit(self: &Arc<Self>, copies: &[DmaCopy<'_>]) -> Result<DmaSubmission> {
            let mut raw_copies = Vec::with_capacity(copies.len());
            for &(src, src_off, dst, dst_off, len) in copies {
                if len == 0 {
                    continue;
                }
                // SAFETY: the handles are only recorded into a copy while the caller keeps
                // the buffers alive (see above).
                let (s, d) = unsafe { (src.as_hal::<Vulkan>().map(|b| b.raw_handle()), dst.as_hal::<Vulkan>().map(|b| b.raw_handle())) };
                let (Some(s), Some(d)) = (s, d) else { return Err(self.err("a buffer is not a live Vulkan buffer".into())) };
                raw_copies.push((s, d, vk::BufferCopy { src_offset: src_off, dst_offset: dst_off, size: len }));
            }
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let (cmd, fence) = match st.free.pop() {
                Some(p) => p,
                None => {
                    let info =
                        vk::CommandBufferAllocateInfo::default().command_pool(st.pool).level(vk::CommandBufferLevel::PRIMARY).command_buffer_count(1);
                    // SAFETY: the pool belongs to this device and is locked.
                    let cmd = unsafe { self.raw.allocate_command_buffers(&info) }.map_err(|e| self.err(format!("vkAllocateCommandBuffers: {e}")))?[0];
                    // SAFETY: a plain fence create info.
                    let fence = match unsafe { self.raw.create_fence(&vk::FenceCreateInfo::default(), None) } {
                        Ok(f) => f,
                        Err(e) => {
                            // SAFETY: the command buffer was just allocated from the locked pool.
                            unsafe { self.raw.free_command_buffers(st.pool, &[cmd]) };
                            return Err(self.err(format!("vkCreateFence: {e}")));
                        }
                    };
                    (cmd, fence)
                }
            };
            let record = || -> std::result::Result<(), vk::Result> {
                // SAFETY: `cmd` is idle (fresh, or its fence signalled and was reset), from
                // a pool created with RESET_COMMAND_BUFFER; recording under the lock.
                unsafe {
                    self.raw.begin_command_buffer(cmd, &vk::CommandBufferBeginInfo::default().flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT))?;
                    // Ordered after everything earlier on this queue; writes made available
                    // to the host and to later work.
                    let barrier = |src: (vk::PipelineStageFlags, vk::AccessFlags), dst: (vk::PipelineStageFlags, vk::AccessFlags)| {
                        let m = vk::MemoryBarrier::default().src_access_mask(src.1).dst_access_mask(dst.1);
                        self.raw.cmd_pipeline_barrier(cmd, src.0, dst.0, vk::DependencyFlags::empty(), &[m], &[], &[]);
                    };
                    let transfer = vk::PipelineStageFlags::TRANSFER;
                    barrier(
                        (vk::PipelineStageFlags::ALL_COMMANDS, vk::AccessFlags::MEMORY_WRITE),
                        (transfer, vk::AccessFlags::TRANSFER_READ | vk::AccessFlags::TRANSFER_WRITE),
                    );
                    for (s, d, region) in &raw_copies {
                        self.raw.cmd_copy_buffer(cmd, *s, *d, std::slice::from_ref(region));
                    }
                    barrier(
                        (transfer, vk::AccessFlags::TRANSFER_WRITE),
                        (
                            vk::PipelineStageFlags::HOST | vk::PipelineStageFlags::ALL_COMMANDS,
                            vk::AccessFlags::HOST_READ | vk::AccessFlags::MEMORY_READ,
                        ),
                    );
                    self.raw.end_command_buffer(cmd)?;
                    let cmds = [cmd];
                    self.raw.queue_submit(self.queue, &[vk::SubmitInfo::default().command_buffers(&cmds)], fence)
                }
            };
            if let Err(e) = record() {
                // The pair is not known to be idle: leak it rather than reuse it.
                return Err(self.err(format!("recording or submitting a copy: {e}")));
            }
            drop(st);
            Ok(DmaSubmission { queue: self.clone(), cmd, fence, done: false })
        }
    }

    impl Drop for DmaQueue {
        fn drop(&mut self) {
            let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
            // SAFETY: every submission holds an Arc of this queue, so none is pending
            // (each waited for its batch when dropped); the objects belong to `raw`,
            // which `_device` keeps alive until after this body.
            unsafe {
                let _ = self.raw.queue_wait_idle(self.queue);
                for (_, f) in st.free.drain(..) {
                    self.raw.destroy_fence(f, None);
                }
                self.raw.destroy_command_pool(st.pool, None);
            }
        }
    }

    /// A submitted batch of copies.
    pub(crate) struct DmaSubmission {
        queue: Arc<DmaQueue>,
        cmd: vk::CommandBuffer,
        fence: vk::Fence,
        done: bool,
    }

    impl DmaSubmission {
        /// Whether the batch has run (never blocks).
        pub(crate) fn poll(&mut self) -> Result<bool> {
            if !self.done {
                // SAFETY: a fence of this device, submitted with the batch.
                self.done = unsafe { self.queue.raw.get_fence_status(self.fence) }.map_err(|e| self.queue.err(format!("vkGetFenceStatus: {e}")))?;
            }
            Ok(self.done)
        }
    }

    impl Drop for DmaSubmission {
        fn drop(&mut self) {
            let q = &self.queue;
            // SAFETY: a fence of this device; the pair is reused only once it signalled.
            let idle = self.done || unsafe { q.raw.wait_for_fences(&[self.fence], true, DROP_WAIT.as_nanos() as u64) }.is_ok();
            if idle && unsafe { q.raw.reset_fences(&[self.fence]) }.is_ok() {
                q.state.lock().unwrap_or_else(|p| p.into_inner()).free.push((self.cmd, self.fence));
            }
        }
    }
}

#[cfg(host_import)]
pub(crate) use imp::{add_queue, plan, DmaQueue, DmaSubmission};

#[cfg(all(test, host_import))]
mod tests {
    use ash::vk;

    fn family(flags: vk::QueueFlags, count: u32) -> vk::QueueFamilyProperties {
        vk::QueueFamilyProperties { queue_flags: flags, queue_count: count, ..Default::default() }
    }

    #[test]
    fn the_dma_queue_is_a_transfer_only_family() {
        use vk::QueueFlags as F;
        let universal = family(F::GRAPHICS | F::COMPUTE | F::TRANSFER | F::SPARSE_BINDING, 16);
        // NVIDIA's layout: universal, transfer-only, compute, then video families.
        let nvidia = [
            universal,
            family(F::TRANSFER | F::SPARSE_BINDING, 2),
            family(F::COMPUTE | F::TRANSFER | F::SPARSE_BINDING, 8),
            family(F::TRANSFER | F::VIDEO_DECODE_KHR, 1),
        ];
        assert_eq!(super::imp::transfer_family(&nvidia), Some(1));
        // Video or compute families that can also copy are not taken; neither is family 0.
        let video_first = [universal, family(F::TRANSFER | F::VIDEO_ENCODE_KHR, 1), family(F::TRANSFER, 1)];
        assert_eq!(super::imp::transfer_family(&video_first), Some(2));
        assert_eq!(super::imp::transfer_family(&[family(F::TRANSFER, 1)]), None);
        // lavapipe: one family of one queue.
        assert_eq!(super::imp::transfer_family(&[family(F::GRAPHICS | F::COMPUTE | F::TRANSFER, 1)]), None);
        assert_eq!(super::imp::transfer_family(&[universal, family(F::TRANSFER, 0)]), None);
    }
}

/// Stand-ins where there is no Vulkan: no context has a DMA queue there.
#[cfg(not(host_import))]
mod imp {
    use super::DmaCopy;
    use crate::error::{Error, Result};

    pub(crate) struct DmaQueue(());
    pub(crate) struct DmaSubmission(());

    impl DmaQueue {
        pub(crate) fn family(&self) -> u32 {
            0
        }
        pub(crate) fn submit(self: &std::sync::Arc<Self>, _copies: &[DmaCopy<'_>]) -> Result<DmaSubmission> {
            Err(Error::InvalidArgument("DMA queues need Vulkan".into()))
        }
    }

    impl DmaSubmission {
        pub(crate) fn poll(&mut self) -> Result<bool> {
            Ok(true)
        }
    }
}

#[cfg(not(host_import))]
pub(crate) use imp::{DmaQueue, DmaSubmission};
