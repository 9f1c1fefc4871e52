//! Measures each stage a ring transfer goes through on this machine's first adapter,
//! so the transport's limits can be attributed (BENCHMARKS.md, "Transport"):
//!
//! 1. GPU copy VRAM -> `MAP_READ` staging (device to host by DMA);
//! 2. map round trip (map_async + poll) of a staging buffer;
//! 3. host copy out of a mapped `MAP_READ` buffer, 1..N threads;
//! 4. host copy into a mapped `MAP_WRITE` buffer, 1..N threads (on a discrete GPU with a
//!    resizable BAR this memory is usually device-local: CPU writes cross PCIe);
//! 5. GPU copy `MAP_WRITE` staging -> VRAM;
//! 6. where the adapter has `MAPPABLE_PRIMARY_BUFFERS`: host copy into a mapped buffer
//!    created `MAP_READ | COPY_SRC` (system memory on Vulkan) and its GPU copy into VRAM,
//!    checked byte for byte.
//!
//! `cargo run --release --example staging_probe [MiB] [max threads]`
use std::time::Instant;

fn gbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

fn wait(dev: &wgpu::Device) {
    dev.poll(wgpu::PollType::wait_indefinitely()).expect("poll");
}

fn map(dev: &wgpu::Device, b: &wgpu::Buffer, mode: wgpu::MapMode) {
    let (tx, rx) = std::sync::mpsc::channel();
    b.slice(..).map_async(mode, move |r| tx.send(r).unwrap());
    wait(dev);
    rx.recv().unwrap().expect("map");
}

/// Median seconds of `reps` runs of `f`.
fn median(reps: usize, mut f: impl FnMut() -> f64) -> f64 {
    let mut t: Vec<f64> = (0..reps).map(|_| f()).collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn par_copy(dst: &mut [u8], src: &[u8], threads: usize) {
    let per = dst.len().div_ceil(threads).div_ceil(1 << 16) << 16;
    std::thread::scope(|s| {
        for (d, c) in dst.chunks_mut(per).zip(src.chunks(per)) {
            s.spawn(move || d.copy_from_slice(c));
        }
    });
}

/// Host -> mapped buffer with `threads` threads, one mapped view each.
fn par_write(buf: &wgpu::Buffer, src: &[u8], threads: usize) {
    let per = (src.len().div_ceil(threads).div_ceil(1 << 16) << 16) as u64;
    std::thread::scope(|s| {
        for (i, c) in src.chunks(per as usize).enumerate() {
            let a = i as u64 * per;
            s.spawn(move || buf.get_mapped_range_mut(a..a + c.len() as u64).expect("mapped").copy_from_slice(c));
        }
    });
}

/// Times `copy(threads)` for 1, 2, 4, .. `max_threads` threads and prints GB/s.
fn thread_sweep(label: &str, max_threads: usize, reps: usize, len: u64, mut copy: impl FnMut(usize)) {
    let mut threads = 1;
    while threads <= max_threads {
        let t = median(reps, || {
            let t0 = Instant::now();
            copy(threads);
            t0.elapsed().as_secs_f64()
        });
        println!("{label}, {threads} threads: {:.1} GB/s", gbps(len, t));
        threads *= 2;
    }
}

fn gpu_copy(dev: &wgpu::Device, q: &wgpu::Queue, src: &wgpu::Buffer, dst: &wgpu::Buffer, len: u64) -> f64 {
    let mut enc = dev.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(src, 0, dst, 0, len);
    let t = Instant::now();
    q.submit([enc.finish()]);
    wait(dev);
    t.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mib: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let max_threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let len = mib << 20;
    let reps = 7;
    let mut adapters = ringattn::context::enumerate_adapters();
    ringattn::context::sort_adapters(&mut adapters);
    if let Ok(want) = std::env::var("RINGATTN_ADAPTER") {
        adapters.retain(|a| a.get_info().name.contains(&want));
    }
    let Some(adapter) = adapters.into_iter().next() else {
        eprintln!("no adapter");
        std::process::exit(1);
    };
    let info = adapter.get_info();
    println!("adapter: {} ({:?}, driver {} {})", info.name, info.backend, info.driver, info.driver_info);
    let primary = adapter.features().contains(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS);
    let features = if primary { wgpu::Features::MAPPABLE_PRIMARY_BUFFERS } else { wgpu::Features::empty() };
    let (dev, q) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_features: features,
        required_limits: wgpu::Limits { max_buffer_size: adapter.limits().max_buffer_size, ..Default::default() },
        ..Default::default()
    }))
    .expect("device");
    let buf = |usage: wgpu::BufferUsages| dev.create_buffer(&wgpu::BufferDescriptor { label: None, size: len, usage, mapped_at_creation: false });
    use wgpu::BufferUsages as U;
    let vram = buf(U::STORAGE | U::COPY_SRC | U::COPY_DST);
    let vram2 = buf(U::STORAGE | U::COPY_SRC | U::COPY_DST);
    let read = buf(U::MAP_READ | U::COPY_DST);
    let write = buf(U::MAP_WRITE | U::COPY_SRC);
    let pattern: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    q.write_buffer(&vram, 0, &pattern);
    wait(&dev);
    println!("block {mib} MiB, medians of {reps}");

    let t = median(reps, || gpu_copy(&dev, &q, &vram, &read, len));
    println!("1. GPU copy VRAM -> MAP_READ staging: {:.1} GB/s ({:.2} ms)", gbps(len, t), t * 1e3);
    let t = median(reps, || {
        let t0 = Instant::now();
        map(&dev, &read, wgpu::MapMode::Read);
        let s = t0.elapsed().as_secs_f64();
        read.unmap();
        s
    });
    println!("2. map round trip (nothing queued): {:.3} ms", t * 1e3);
    let mut host = vec![0u8; len as usize];
    map(&dev, &read, wgpu::MapMode::Read);
    {
        let v = read.slice(..).get_mapped_range().expect("mapped");
        thread_sweep("3. host copy MAP_READ -> host", max_threads, reps, len, |threads| par_copy(&mut host, &v, threads));
    }
    read.unmap();
    assert!(host == pattern, "MAP_READ staging holds the wrong bytes");

    map(&dev, &write, wgpu::MapMode::Write);
    thread_sweep("4. host copy host -> MAP_WRITE", max_threads, reps, len, |threads| par_write(&write, &host, threads));
    write.unmap();
    let t = median(reps, || gpu_copy(&dev, &q, &write, &vram2, len));
    println!("5. GPU copy MAP_WRITE staging -> VRAM: {:.1} GB/s ({:.2} ms)", gbps(len, t), t * 1e3);

    if !primary {
        println!("6. skipped: no MAPPABLE_PRIMARY_BUFFERS");
        return;
    }
    let sys = buf(U::MAP_READ | U::COPY_SRC);
    map(&dev, &sys, wgpu::MapMode::Read);
    thread_sweep("6a. host copy host -> MAP_READ|COPY_SRC buffer", max_threads, reps, len, |threads| par_write(&sys, &host, threads));
    sys.unmap();
    let t = median(reps, || gpu_copy(&dev, &q, &sys, &vram2, len));
    println!("6b. GPU copy MAP_READ|COPY_SRC buffer -> VRAM: {:.1} GB/s ({:.2} ms)", gbps(len, t), t * 1e3);
    gpu_copy(&dev, &q, &vram2, &read, len);
    map(&dev, &read, wgpu::MapMode::Read);
    let ok = *read.slice(..).get_mapped_range().expect("mapped") == pattern[..];
    read.unmap();
    println!("6c. bytes through the MAP_READ|COPY_SRC path intact: {ok}");
}
