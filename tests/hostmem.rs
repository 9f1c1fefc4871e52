//! Host memory imported into two devices (VK_EXT_external_memory_host, the ring's
//! zero-copy transport): what one device's GPU copy writes into the block, the other
//! device's GPU copy reads out of it, byte for byte.

mod common;

use ringattn::hostmem::{import, HostBlock};
use ringattn::GpuContext;

#[test]
fn one_host_block_seen_by_two_devices() {
    let a = common::ctx();
    let Some(align) = a.host_import_alignment() else {
        eprintln!("skipped: {} was not opened with VK_EXT_external_memory_host", a.describe());
        return;
    };
    let b = GpuContext::from_adapter(a.adapter().unwrap().clone()).unwrap();
    assert!(b.host_import_alignment().is_some());
    let len = 3 * align + 1000;
    let block = HostBlock::new(len, align).unwrap();
    assert_eq!(block.len() % align, 0);
    let on_a = import(&a, &block, "test import a").unwrap();
    let on_b = import(&b, &block, "test import b").unwrap();
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    for round in 0..3u64 {
        let pattern: Vec<u8> = (0..block.len()).map(|i| ((i * 131 + round * 7919) % 251) as u8 | 1).collect();
        let src = a.create_buffer("test src", block.len(), usage).unwrap();
        a.write_bytes(&src, 0, &pattern).unwrap();
        a.submit_with("test a -> host", |enc| {
            enc.copy_buffer_to_buffer(&src, 0, &on_a, 0, block.len());
            Ok(())
        })
        .unwrap();
        a.wait().unwrap();
        let dst = b.create_buffer("test dst", block.len(), usage).unwrap();
        b.submit_with("test host -> b", |enc| {
            enc.copy_buffer_to_buffer(&on_b, 0, &dst, 0, block.len());
            Ok(())
        })
        .unwrap();
        let got = b.read_bytes(&dst, 0, block.len()).unwrap();
        assert!(got == pattern, "round {round}: bytes differ");
    }
    // A block not aligned for the device is refused with an error, not a crash.
    let small = HostBlock::new(16, 4096).unwrap();
    if align > 4096 {
        assert!(import(&a, &small, "misaligned").is_err());
    }
    drop((on_a, on_b, block));
    a.wait().unwrap();
    b.wait().unwrap();
}
