//! Ring attention over logical devices (and over every adapter pair where there are
//! several) equals single-device attention and the f64 reference.
//!
//! Sizes are tiny on purpose: CI runs this on Mesa lavapipe, one dispatch per thread.

mod common;

use std::time::{Duration, Instant};

use ringattn::reference::{self, lse_max_abs_error, random_vec, rel_error};
use ringattn::ring::{Placement, RingAttention, RingOptions};
use ringattn::{Attention, AttentionOptions, Dtype, Error, GpuContext, GpuTensor, Shape};

fn logical(n: usize) -> RingAttention {
    RingAttention::logical(n).expect("logical devices on the default adapter")
}

/// Rounds host values to what `dtype` stores (the reference must see the GPU's inputs).
fn rounded(x: &[f32], dtype: Dtype) -> Vec<f32> {
    match dtype {
        Dtype::F32 => x.to_vec(),
        Dtype::F16 => x.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect(),
    }
}

fn single(ctx: &GpuContext, q: &[f32], k: &[f32], v: &[f32], s: Shape, dtype: Dtype, causal: bool) -> (Vec<f32>, Vec<f32>) {
    let qt = GpuTensor::from_f32(ctx, q, s.q_dims(), dtype).unwrap();
    let kt = GpuTensor::from_f32(ctx, k, s.kv_dims(), dtype).unwrap();
    let vt = GpuTensor::from_f32(ctx, v, s.kv_dims(), dtype).unwrap();
    let out = Attention::new(ctx, AttentionOptions { causal, ..Default::default() }).forward(&qt, &kt, &vt).unwrap();
    (out.o.to_f32_vec(ctx).unwrap(), out.lse.to_vec(ctx).unwrap())
}

/// Runs the ring and checks it against single-device attention on device 0 and the
/// f64 reference. Returns the ring's stats for further checks.
fn check(ring: &RingAttention, s: Shape, dtype: Dtype, causal: bool, placement: Placement) -> ringattn::RingStats {
    let seed = reference::fresh_seed();
    let q = random_vec(s.q_len(), seed);
    let k = random_vec(s.kv_len(), seed ^ 0x11);
    let v = random_vec(s.kv_len(), seed ^ 0x22);
    let opts = RingOptions { attention: AttentionOptions { causal, ..Default::default() }, placement, ..Default::default() };
    let out = ring.forward(&q, &k, &v, s, dtype, &opts).unwrap_or_else(|e| panic!("ring failed: {e}"));
    let what = format!("ring n={} {placement} causal={causal} {dtype:?} {s:?} seed={seed:#x}", ring.len());
    assert!(out.o.iter().all(|x| x.is_finite()), "{what}: non-finite O");
    assert!(out.lse.iter().all(|x| !x.is_nan()), "{what}: NaN LSE");

    let (qr, kr, vr) = (rounded(&q, dtype), rounded(&k, dtype), rounded(&v, dtype));
    let r = reference::attention(&qr, &kr, &vr, &s, causal, None);
    let (tol, lse_tol) = (common::tol(dtype), common::lse_tol(dtype));
    let e_ref = rel_error(&out.o, &r.o);
    let l_ref = lse_max_abs_error(&out.lse, &r.lse);
    assert!(e_ref < tol && l_ref < lse_tol, "{what}: vs f64 reference: O rel {e_ref:.3e}, LSE {l_ref:.3e}");

    let (so, sl) = single(&ring.contexts()[0], &q, &k, &v, s, dtype, causal);
    let so64: Vec<f64> = so.iter().map(|&x| x as f64).collect();
    let sl64: Vec<f64> = sl.iter().map(|&x| x as f64).collect();
    let e_single = rel_error(&out.o, &so64);
    let l_single = lse_max_abs_error(&out.lse, &sl64);
    assert!(e_single < tol && l_single < lse_tol, "{what}: vs single device: O rel {e_single:.3e}, LSE {l_single:.3e}");

    let st = out.stats;
    assert_eq!((st.devices, st.steps, st.peak_bytes.len()), (ring.len(), ring.len(), ring.len()));
    assert!(st.peak_bytes.iter().all(|&p| p > 0));
    st
}

#[test]
fn two_devices_dense_uneven_batched() {
    let ring = logical(2);
    let st = check(&ring, Shape::new(2, 13, 2, 32), Dtype::F32, false, Placement::Contiguous);
    // Dense: every block travels to the other device, nothing is skipped.
    assert_eq!((st.pairs_skipped, st.transfers, st.transfers_skipped), (0, 2, 0));
    // Blocks of 6 and 7 rows, K and V, batch 2, 2 heads of 32 f32.
    assert_eq!(st.bytes_moved, 2 * 2 * (6 + 7) * 2 * 32 * 4);
    check(&ring, Shape::new(1, 17, 1, 64), Dtype::F32, true, Placement::Zigzag);
}

#[test]
fn three_devices_causal_both_placements() {
    let ring = logical(3);
    for placement in [Placement::Contiguous, Placement::Zigzag] {
        let st = check(&ring, Shape::new(1, 29, 2, 64), Dtype::F32, true, placement);
        if placement == Placement::Contiguous {
            // Device i needs blocks 0..=i: 6 of 9 pairs; block 2 never travels,
            // block 1 stops after device 2.
            assert_eq!((st.pairs_computed, st.pairs_skipped), (6, 3));
            assert!(st.transfers_skipped > 0);
        }
    }
    check(&ring, Shape::new(2, 20, 1, 32), Dtype::F32, false, Placement::Zigzag);
}

#[test]
fn four_devices_gqa() {
    let ring = logical(4);
    let s = Shape::new(1, 37, 2, 32).with_kv_heads(1);
    check(&ring, s, Dtype::F32, true, Placement::Zigzag);
    check(&ring, s, Dtype::F32, true, Placement::Contiguous);
    let st = check(&ring, s, Dtype::F32, false, Placement::Contiguous);
    // K/V rotate at kv_heads (1), not heads (2): blocks of 9 or 10 rows x 32 f32, K and V.
    let rows: u64 = [9u64, 9, 9, 10].iter().sum();
    assert_eq!(st.bytes_moved, 3 * rows * 2 * 32 * 4);
}

#[test]
fn tiny_sequences_with_empty_chunks() {
    let ring = logical(4);
    // 8 zigzag chunks for 5 rows: three are empty.
    check(&ring, Shape::new(1, 5, 1, 32), Dtype::F32, true, Placement::Zigzag);
    check(&ring, Shape::new(1, 5, 1, 32), Dtype::F32, false, Placement::Zigzag);
    // Fewer rows than devices.
    check(&ring, Shape::new(2, 3, 2, 32), Dtype::F32, true, Placement::Contiguous);
}

#[test]
fn cross_attention_bottom_right_causal() {
    let ring = logical(3);
    check(&ring, Shape::new(1, 11, 2, 32).with_seq_k(19), Dtype::F32, true, Placement::Zigzag);
    // Chunk boundaries of Q and K differ here, so some (query chunk, key chunk) pairs
    // are only partly visible. (Causal with seq_q > seq_k, where the first rows see no
    // key at all, is left out: the subgroup kernel on lavapipe gives those rows
    // LSE = -1e30*ln2 instead of -inf on a single device too.)
    check(&ring, Shape::new(2, 7, 1, 32).with_seq_k(23), Dtype::F32, true, Placement::Contiguous);
    check(&ring, Shape::new(1, 19, 1, 32).with_seq_k(8), Dtype::F32, false, Placement::Zigzag);
}

#[test]
fn one_device_ring() {
    let ring = logical(1);
    let st = check(&ring, Shape::new(1, 16, 2, 32), Dtype::F32, true, Placement::Zigzag);
    assert_eq!((st.transfers, st.bytes_moved), (0, 0));
}

#[test]
fn f16_ring() {
    let ring = logical(2);
    if !ring.contexts()[0].capabilities().shader_f16 {
        eprintln!("skipping: no SHADER_F16 on {}", ring.contexts()[0].name());
        return;
    }
    check(&ring, Shape::new(1, 24, 2, 64), Dtype::F16, true, Placement::Zigzag);
    check(&ring, Shape::new(1, 15, 2, 32).with_kv_heads(1), Dtype::F16, false, Placement::Contiguous);
}

#[test]
fn fault_injection_names_device_and_step_and_does_not_hang() {
    let ring = logical(3);
    let s = Shape::new(1, 12, 1, 32);
    let (q, k) = (random_vec(s.q_len(), 1), random_vec(s.kv_len(), 2));
    for (fd, fs) in [(1, 1), (0, 0), (2, 2)] {
        let opts = RingOptions {
            attention: AttentionOptions { causal: false, ..Default::default() },
            timeout: Duration::from_secs(60),
            fail_at: Some((fd, fs)),
            ..Default::default()
        };
        let t = Instant::now();
        match ring.forward(&q, &k, &k, s, Dtype::F32, &opts) {
            Err(Error::Ring { device, step, source }) => {
                assert_eq!((device, step), (fd, fs), "wrong culprit; source: {source}");
                assert!(source.to_string().contains("fault injected"), "{source}");
            }
            Err(e) => panic!("expected Error::Ring, got {e}"),
            Ok(_) => panic!("a failing device must not give output"),
        }
        assert!(t.elapsed() < Duration::from_secs(30), "fault took {:?}", t.elapsed());
    }
    // The devices are still usable after a failed call.
    check(&ring, s, Dtype::F32, true, Placement::Zigzag);
}

/// `RingOptions::gpu_timeline`: every device reports each step's launches on its GPU,
/// in order, and nothing for a step it has nothing to compute (the first device of a
/// causal contiguous ring at the second step); without the option, nothing.
#[test]
fn gpu_timeline_reports_each_step() {
    let ring = logical(3);
    let s = Shape::new(1, 96, 2, 32);
    let (q, k) = (random_vec(s.q_len(), 5), random_vec(s.kv_len(), 6));
    let opts = |gpu_timeline| RingOptions {
        attention: AttentionOptions { causal: true, ..Default::default() },
        placement: Placement::Contiguous,
        gpu_timeline,
        ..Default::default()
    };
    let off = ring.forward(&q, &k, &k, s, Dtype::F32, &opts(false)).unwrap();
    assert!(off.stats.gpu_steps.is_empty());
    let out = ring.forward(&q, &k, &k, s, Dtype::F32, &opts(true)).unwrap();
    let r = reference::attention(&q, &k, &k, &s, true, None);
    assert!(rel_error(&out.o, &r.o) < common::tol(Dtype::F32));
    if !ring.contexts().iter().all(|c| c.capabilities().timestamp_query) {
        eprintln!("skipped: an adapter without TIMESTAMP_QUERY");
        return;
    }
    let steps = &out.stats.gpu_steps;
    assert_eq!(steps.len(), 3, "{steps:?}");
    for (d, per) in steps.iter().enumerate() {
        assert_eq!(per.len(), 3, "device {d}: {per:?}");
        // Contiguous causal: device d computes at steps 0..=d (blocks d, d-1, ..., 0).
        for (step, t) in per.iter().enumerate() {
            assert_eq!(t.is_some(), step <= d, "device {d} step {step}: {per:?}");
        }
        let times: Vec<(f64, f64)> = per.iter().flatten().copied().collect();
        assert_eq!(times[0].0, 0.0, "device {d}: {per:?}");
        assert!(times.iter().all(|(a, b)| b > a), "device {d}: a step without GPU time: {per:?}");
        assert!(times.windows(2).all(|w| w[1].0 >= w[0].1), "device {d}: steps out of order: {per:?}");
    }
}

#[test]
fn bad_inputs_are_errors() {
    let ring = logical(2);
    let s = Shape::new(1, 8, 1, 32);
    let q = vec![0.0f32; s.q_len()];
    let short = vec![0.0f32; s.kv_len() - 1];
    assert!(matches!(ring.forward(&q, &short, &short, s, Dtype::F32, &RingOptions::default()), Err(Error::WrongSize { .. })));
    assert!(matches!(ring.forward(&q, &q, &q, Shape::new(1, 8, 1, 33), Dtype::F32, &RingOptions::default()), Err(Error::UnsupportedHeadDim { .. })));
    assert!(matches!(RingAttention::new(Vec::new()), Err(Error::InvalidArgument(_))));
    assert!("zigzag".parse::<Placement>().is_ok());
    assert!("diagonal".parse::<Placement>().is_err());
}

#[test]
fn ring_over_every_adapter() {
    // Vulkan lavapipe + GL llvmpipe on CI: a ring mixing backends.
    let contexts = common::contexts();
    if contexts.len() < 2 {
        eprintln!("skipping: only one adapter");
        return;
    }
    let ring = RingAttention::new(contexts).unwrap();
    check(&ring, Shape::new(1, 10, 1, 32), Dtype::F32, true, Placement::Zigzag);
}

#[test]
fn repeated_calls_reuse_buffers_and_stay_exact() {
    let ring = logical(2);
    let s = Shape::new(1, 21, 2, 32);
    // Each check uses fresh inputs: a second call must not see the first call's state.
    check(&ring, s, Dtype::F32, true, Placement::Zigzag);
    let opts = RingOptions { attention: AttentionOptions { causal: true, ..Default::default() }, placement: Placement::Zigzag, ..Default::default() };
    let x = random_vec(s.q_len(), 3);
    let a = ring.forward(&x, &x, &x, s, Dtype::F32, &opts).unwrap();
    let b = ring.forward(&x, &x, &x, s, Dtype::F32, &opts).unwrap();
    assert_eq!((a.o, a.lse), (b.o, b.lse), "same inputs, same outputs");
    // On resident shards, a repeated call allocates only its outputs.
    let shards = ring.upload(&x, &x, &x, s, Dtype::F32, &opts).unwrap();
    ring.forward_shards(&shards, s, Dtype::F32, &opts).unwrap();
    let before: Vec<u64> = ring.contexts().iter().map(|c| c.allocated_bytes()).collect();
    let out = ring.forward_shards(&shards, s, Dtype::F32, &opts).unwrap();
    let after: Vec<u64> = ring.contexts().iter().map(|c| c.allocated_bytes()).collect();
    for (i, sh) in out.shards.iter().enumerate() {
        let outputs: u64 =
            sh.o.iter().flatten().map(|t| t.buffer().size()).sum::<u64>() + sh.lse.iter().flatten().map(|l| l.buffer().size()).sum::<u64>();
        assert_eq!(after[i] - before[i], outputs, "device {i}: only the outputs are new");
    }
    // Another layout replaces the buffers and is exact too.
    check(&ring, s, Dtype::F32, false, Placement::Contiguous);
    ring.release_buffers();
    check(&ring, s, Dtype::F32, true, Placement::Zigzag);
}

#[test]
fn blocks_in_many_pieces() {
    // Pieces of 256 and 768 bytes: a block of ~2 KiB travels in many pieces whose
    // boundaries fall inside K and V chunks.
    let ring = logical(3);
    let s = Shape::new(1, 45, 2, 32);
    for piece in [256, 768] {
        let seed = reference::fresh_seed();
        let q = random_vec(s.q_len(), seed);
        let k = random_vec(s.kv_len(), seed ^ 1);
        let v = random_vec(s.kv_len(), seed ^ 2);
        for (causal, placement) in [(true, Placement::Zigzag), (false, Placement::Contiguous)] {
            let opts = RingOptions {
                attention: AttentionOptions { causal, ..Default::default() },
                placement,
                piece_bytes: Some(piece),
                ..Default::default()
            };
            let out = ring.forward(&q, &k, &v, s, Dtype::F32, &opts).unwrap();
            assert_eq!(out.stats.piece_bytes, piece);
            let r = reference::attention(&q, &k, &v, &s, causal, None);
            let e = rel_error(&out.o, &r.o);
            let l = lse_max_abs_error(&out.lse, &r.lse);
            assert!(
                e < common::tol(Dtype::F32) && l < common::lse_tol(Dtype::F32),
                "piece {piece} causal {causal}: O {e:.2e} LSE {l:.2e} seed {seed:#x}"
            );
        }
    }
}

#[test]
fn resident_shards_in_and_out() {
    let ring = logical(2);
    let s = Shape::new(2, 19, 2, 32).with_kv_heads(1);
    let seed = reference::fresh_seed();
    let q = random_vec(s.q_len(), seed);
    let k = random_vec(s.kv_len(), seed ^ 1);
    let v = random_vec(s.kv_len(), seed ^ 2);
    let opts = RingOptions { attention: AttentionOptions { causal: true, ..Default::default() }, placement: Placement::Zigzag, ..Default::default() };
    let shards = ring.upload(&q, &k, &v, s, Dtype::F32, &opts).unwrap();
    // Each device holds only its chunks: zigzag over 2 devices cuts 19 rows into 4 chunks.
    assert_eq!(shards[0].q.len(), 2);
    assert!(shards.iter().all(|sh| sh.bytes() < (s.q_len() + 2 * s.kv_len()) as u64 * 4));
    let out = ring.forward_shards(&shards, s, Dtype::F32, &opts).unwrap();
    let rows: Vec<_> = out.shards.iter().flat_map(|sh| sh.rows.clone()).collect();
    assert_eq!(rows.iter().map(|r| r.len()).sum::<usize>(), 19);
    let (o, lse) = ring.download(&out, s).unwrap();
    let r = reference::attention(&q, &k, &v, &s, true, None);
    assert!(rel_error(&o, &r.o) < common::tol(Dtype::F32), "seed {seed:#x}");
    assert!(lse_max_abs_error(&lse, &r.lse) < common::lse_tol(Dtype::F32), "seed {seed:#x}");
    // The inputs are untouched (step 0 reads them in place, later steps use the slots).
    let k0 = shards[0].k[0].as_ref().unwrap().to_f32_vec(&ring.contexts()[0]).unwrap();
    // Chunk 0 is rows 0..4 of each batch (kv_heads 1, head_dim 32).
    assert_eq!(k0[..128], k[..128]);
    assert_eq!(k0[128..], k[19 * 32..19 * 32 + 128]);

    // Shards of another placement, or too few, are errors.
    let contig = RingOptions { placement: Placement::Contiguous, ..opts.clone() };
    assert!(matches!(ring.forward_shards(&shards, s, Dtype::F32, &contig), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(ring.forward_shards(&shards[..1], s, Dtype::F32, &opts), Err(Error::InvalidArgument(_))));
    assert!(matches!(ring.forward_shards(&shards, s, Dtype::F16, &opts), Err(Error::ShapeMismatch { .. })));
}

#[test]
fn transport_measurement_moves_the_right_bytes() {
    let ring = logical(3);
    // 10 KiB blocks in 4 KiB pieces (the last one shorter), 3 steps.
    let rep = ring.measure_transport(10 * 1024 + 4, 3, Some(4096), Duration::from_secs(60)).unwrap();
    assert_eq!((rep.devices, rep.block_bytes, rep.piece_bytes, rep.steps), (3, 10244, 4096, 3));
    assert!(rep.seconds > 0.0 && rep.gbps_per_link() > 0.0);
    // Every device reports its stage times, and the parts fit in their wholes; host
    // copies happen exactly when the staging is not shared host memory.
    assert_eq!(rep.stages.len(), 3);
    let shared = ring.staging().unwrap() == ringattn::ring::StagingMemory::Shared;
    for (t, reclaim, begin) in &rep.stages {
        assert!(t.copy + t.wait_local <= t.recv && t.recv <= t.wall, "{t:?}");
        assert!(t.first_in <= t.wall && t.last_out <= t.wall && t.copy.is_zero() == shared, "{t:?}");
        assert!(*reclaim + *begin + t.wall <= std::time::Duration::from_secs_f64(rep.seconds), "{t:?} {reclaim:?} {begin:?}");
    }
    assert!(matches!(logical(1).measure_transport(1024, 1, None, Duration::from_secs(5)), Err(Error::InvalidArgument(_))));
}

#[test]
fn block_sparse_masks_skip_pairs_and_transfers() {
    use ringattn::mask::{BlockMask, Pattern};
    use std::sync::Arc;
    let ring = logical(3);
    let s = Shape::new(1, 150, 2, 32);
    // Causal sliding window + global tokens, a per-head dilated pattern, and a window
    // narrow enough that far chunk pairs are empty.
    let cases: Vec<(BlockMask, bool)> = vec![
        (BlockMask::new(&Pattern::Causal.and(Pattern::Window { left: 40, right: 0 }).or(Pattern::Global(16)), 150, 150, 16).unwrap(), true),
        (
            BlockMask::per_head(
                &[Pattern::Dilated { segment: 64, rate: 2, offset: 0 }, Pattern::Dilated { segment: 64, rate: 2, offset: 1 }],
                150,
                150,
                32,
            )
            .unwrap(),
            false,
        ),
        (BlockMask::new(&Pattern::Window { left: 16, right: 16 }, 150, 150, 16).unwrap(), false),
    ];
    for (i, (mask, causal)) in cases.into_iter().enumerate() {
        let seed = reference::fresh_seed();
        let q = random_vec(s.q_len(), seed);
        let k = random_vec(s.kv_len(), seed ^ 1);
        let v = random_vec(s.kv_len(), seed ^ 2);
        let mask = Arc::new(mask);
        for placement in [Placement::Contiguous, Placement::Zigzag] {
            let opts = RingOptions {
                attention: AttentionOptions { causal, ..Default::default() },
                placement,
                mask: Some(mask.clone()),
                piece_bytes: Some(1024),
                ..Default::default()
            };
            let out = ring.forward(&q, &k, &v, s, Dtype::F32, &opts).unwrap_or_else(|e| panic!("mask {i} {placement}: {e}"));
            let r = reference::attention_masked(&q, &k, &v, &s, None, |_, h, qi, kj| mask.allows(h, qi, kj) && (!causal || kj <= qi));
            let e = rel_error(&out.o, &r.o);
            let l = lse_max_abs_error(&out.lse, &r.lse);
            assert!(e < common::tol(Dtype::F32) && l < common::lse_tol(Dtype::F32), "mask {i} {placement}: O {e:.2e} LSE {l:.2e} seed {seed:#x}");
            if i == 2 && placement == Placement::Contiguous {
                // Window of +-16 over chunks of 48-64 tokens: only neighbouring chunks meet.
                assert_eq!((out.stats.pairs_computed, out.stats.pairs_skipped), (7, 2));
                assert!(out.stats.transfers_skipped > 0);
            }
        }
    }
    // A mask of another size is an error.
    let small = Arc::new(BlockMask::new(&Pattern::All, 64, 64, 16).unwrap());
    let opts = RingOptions { mask: Some(small), ..Default::default() };
    let x = random_vec(s.q_len(), 5);
    assert!(matches!(ring.forward(&x, &x, &x, s, Dtype::F32, &opts), Err(Error::ShapeMismatch { .. })));
}

/// Each device keeps its uploaded mask between calls of the same layout: calls with
/// one mask, another mask of the same blocks and shape, a copy of the first (equal, not
/// the same `Arc`) and the first again each match the reference under their own mask
/// (a ring that kept the first upload for the second mask fails the second call).
#[test]
fn a_ring_keeps_its_mask_until_it_changes() {
    use ringattn::mask::{BlockMask, Pattern};
    use std::sync::Arc;
    let ring = logical(2);
    let s = Shape::new(1, 130, 2, 32);
    let a = Arc::new(BlockMask::new(&Pattern::Causal.and(Pattern::Window { left: 50, right: 0 }), 130, 130, 16).unwrap());
    let b = Arc::new(BlockMask::new(&Pattern::Window { left: 20, right: 20 }.or(Pattern::Global(5)), 130, 130, 16).unwrap());
    let a_copy = Arc::new((*a).clone());
    let seed = reference::fresh_seed();
    let q = random_vec(s.q_len(), seed);
    let k = random_vec(s.kv_len(), seed ^ 1);
    let v = random_vec(s.kv_len(), seed ^ 2);
    for (i, mask) in [&a, &a, &b, &a_copy, &a].into_iter().enumerate() {
        let opts = RingOptions { mask: Some(mask.clone()), ..Default::default() };
        let out = ring.forward(&q, &k, &v, s, Dtype::F32, &opts).unwrap_or_else(|e| panic!("call {i}: {e}"));
        let r = reference::attention_masked(&q, &k, &v, &s, None, |_, h, qi, kj| mask.allows(h, qi, kj));
        let (e, l) = (rel_error(&out.o, &r.o), lse_max_abs_error(&out.lse, &r.lse));
        assert!(e < common::tol(Dtype::F32) && l < common::lse_tol(Dtype::F32), "call {i}: O {e:.2e} LSE {l:.2e} seed {seed:#x}");
    }
}

/// Every kind of staging (see `ringattn::ring::StagingMemory`) carries exact blocks:
/// the default in this process (shared host memory where the devices import it, as
/// lavapipe's do, else `MAP_WRITE` buffers); each kind by name in child processes, in
/// many pieces: `device`, `shared` (VK_EXT_external_memory_host), `host` and `mixed`
/// (Vulkan adapters with MAPPABLE_PRIMARY_BUFFERS such as lavapipe), and the default
/// with host import turned off; an unknown value is a clear error.
#[test]
fn receive_staging_in_device_and_host_memory() {
    use ringattn::ring::StagingMemory;
    let ring = logical(2);
    let import = ring.contexts().iter().all(|c| c.host_import_alignment().is_some());
    if std::env::var("RINGATTN_RING_STAGING").is_err() {
        assert_eq!(ring.staging().unwrap(), if import { StagingMemory::Shared } else { StagingMemory::Device });
    }
    check(&ring, Shape::new(1, 203, 2, 32), Dtype::F32, true, Placement::Zigzag);

    use ringattn::npy::write_npy_f32;
    let dir = std::env::temp_dir().join(format!("ringattn-staging-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shape = [1usize, 150, 2, 32];
    let n: usize = shape.iter().product();
    let seed = reference::fresh_seed();
    for (i, name) in ["q", "k", "v"].iter().enumerate() {
        write_npy_f32(dir.join(format!("{name}.npy")), &shape, &random_vec(n, seed ^ i as u64)).unwrap();
    }
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let args = ["run", "--q", &p("q.npy"), "--k", &p("k.npy"), "--v", &p("v.npy"), "--out", &p("o.npy"), "--devices", "logical:3"];
    let run_env = |env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringattn"))
            .args(args)
            .args(["--piece-bytes", "4096", "--causal", "--check"])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let run = |staging: &str| run_env(&[("RINGATTN_RING_STAGING", staging)]);
    // (environment, expected staging or the expected error)
    let fails = ("RINGATTN_TEST_IMPORT_FAILS", "1");
    type Case<'a> = (&'a [(&'a str, &'a str)], Result<&'a str, &'a str>);
    let cases: [Case; 5] = [
        (&[("RINGATTN_RING_STAGING", "device")], Ok("device")),
        (&[("RINGATTN_HOST_IMPORT", "0")], Ok("device")),
        (&[("RINGATTN_RING_STAGING", "shared")], if import { Ok("shared") } else { Err("cannot import host memory") }),
        // Imports that fail: the default falls back to device staging, `shared` by name
        // is an error.
        (&[fails], Ok("device")),
        (&[("RINGATTN_RING_STAGING", "shared"), fails], Err(if import { "refused" } else { "cannot import host memory" })),
    ];
    for (env, want) in cases {
        let (code, text) = run_env(env);
        match want {
            Ok(kind) => {
                assert_eq!(code, Some(0), "{env:?}: {text}");
                assert!(text.contains("check: ok"), "{env:?}: {text}");
                assert!(text.contains(&format!("staging: {kind}")), "{env:?}: {text}");
                assert_eq!(env.contains(&fails) && import, text.contains("shared staging could not be set up"), "{env:?}: {text}");
            }
            Err(msg) => {
                assert_ne!(code, Some(0), "{env:?}: {text}");
                assert!(text.contains(msg), "{env:?}: {text}");
            }
        }
    }
    let ctx = &ring.contexts()[0];
    let host_ok =
        ctx.info().backend == wgpu::Backend::Vulkan && ctx.adapter().is_some_and(|a| a.features().contains(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS));
    for staging in ["host", "mixed"] {
        let (code, text) = run(staging);
        if host_ok {
            assert_eq!(code, Some(0), "{staging}: {text}");
            assert!(text.contains("check: ok"), "{staging}: {text}");
        } else {
            assert_eq!(code, Some(2), "{staging}: {text}");
            assert!(text.contains("cannot stage in host memory"), "{staging}: {text}");
        }
    }
    let (code, text) = run("sideways");
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("RINGATTN_RING_STAGING=sideways"), "{text}");
}

#[test]
fn cli_ring_with_a_mask_and_mpi_without_the_feature() {
    use ringattn::npy::write_npy_f32;
    let dir = std::env::temp_dir().join(format!("ringattn-ring-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shape = [1usize, 70, 2, 32];
    let n: usize = shape.iter().product();
    let seed = reference::fresh_seed();
    for (i, name) in ["q", "k", "v"].iter().enumerate() {
        write_npy_f32(dir.join(format!("{name}.npy")), &shape, &random_vec(n, seed ^ i as u64)).unwrap();
    }
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let base = ["run", "--q", &p("q.npy"), "--k", &p("k.npy"), "--v", &p("v.npy"), "--out", &p("o.npy")].map(String::from);
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringattn")).args(&base).args(extra).output().unwrap();
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (code, text) =
        run(&["--devices", "logical:3", "--placement", "zigzag", "--causal", "--window", "16,0", "--global", "4", "--block-size", "16", "--check"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("check: ok") && text.contains("skipped"), "{text}");
    if !cfg!(feature = "mpi") {
        let (code, text) = run(&["--devices", "mpi"]);
        assert_eq!(code, Some(2), "{text}");
        assert!(text.contains("mpi` cargo feature"), "{text}");
    }
    let (code, text) = run(&["--devices", "logical:2", "--ring-timeout", "0"]);
    assert_eq!(code, Some(2), "{text}");
}

/// A token order and a block mask in one ring call: the mask (given in the caller's
/// order, per head) is carried into curve coordinates; with and without causal, the
/// output in the caller's order equals the f64 reference under the same element mask.
/// The ring skips the chunk pairs the carried mask leaves empty (at least those the
/// order alone does, and some in all).
#[test]
fn token_order_with_a_block_mask() {
    use ringattn::mask::{BlockMask, Pattern};
    use ringattn::order::Order;
    use std::sync::Arc;
    let ring = logical(3);
    // A 20 x 15 grid (300 tokens, not a block multiple) in raster order.
    let (h, w) = (20, 15);
    let n = h * w;
    let s = Shape::new(1, n, 2, 32);
    let perm = Arc::new(Order::Hilbert2d { height: h, width: w }.permutation(n).unwrap());
    let local =
        [Pattern::Window { left: 40, right: 8 }, Pattern::Dilated { segment: 32, rate: 2, offset: 1 }.or(Pattern::Window { left: 3, right: 3 })];
    let global = [local[0].clone().or(Pattern::Global(5)), local[1].clone()];
    let seed = reference::fresh_seed();
    let q = random_vec(s.q_len(), seed);
    let k = random_vec(s.kv_len(), seed ^ 1);
    let v = random_vec(s.kv_len(), seed ^ 2);
    let mut skipped = 0;
    for (patterns, causal, placement) in [
        (&local, false, Placement::Contiguous),
        (&local, true, Placement::Zigzag),
        (&local, true, Placement::Contiguous),
        (&global, true, Placement::Contiguous),
    ] {
        let mask = Arc::new(BlockMask::per_head(patterns, n, n, 16).unwrap());
        let opts = RingOptions {
            attention: AttentionOptions { causal, ..Default::default() },
            placement,
            order: Some(perm.clone()),
            mask: Some(mask.clone()),
            ..Default::default()
        };
        let what = format!("{patterns:?} causal {causal} {placement} seed {seed:#x}");
        let out = ring.forward(&q, &k, &v, s, Dtype::F32, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
        let r = reference::attention_masked(&q, &k, &v, &s, None, |_, h, i, j| mask.allows(h, i, j) && (!causal || j <= i));
        let e = rel_error(&out.o, &r.o);
        let l = lse_max_abs_error(&out.lse, &r.lse);
        assert!(out.o.iter().all(|x| x.is_finite()), "{what}: non-finite O");
        assert!(e < common::tol(Dtype::F32) && l < common::lse_tol(Dtype::F32), "{what}: O {e:.2e} LSE {l:.2e}");
        // A mask only removes pairs: at least as many are skipped as under the order alone.
        let plain = RingOptions { mask: None, ..opts.clone() };
        let base = ring.forward(&q, &k, &v, s, Dtype::F32, &plain).unwrap().stats.pairs_skipped;
        assert!(out.stats.pairs_skipped >= base, "{what}: {} pairs skipped with the mask, {base} without", out.stats.pairs_skipped);
        skipped += out.stats.pairs_skipped;
    }
    assert!(skipped > 0, "local masks in curve coordinates leave some chunk pairs empty");
    // A mask of another size is an error, not a panic.
    let small = Arc::new(BlockMask::new(&Pattern::Causal, 100, 100, 16).unwrap());
    let bad = RingOptions { order: Some(perm.clone()), mask: Some(small), ..Default::default() };
    assert!(matches!(ring.forward(&q, &k, &v, s, Dtype::F32, &bad), Err(Error::ShapeMismatch { .. })));
}

#[test]
fn hilbert_range_placement_answers_in_the_callers_order() {
    use ringattn::order::Order;
    use std::sync::Arc;
    let ring = logical(3);
    // A 12 x 10 grid of tokens in raster order.
    let s = Shape::new(1, 120, 2, 32);
    let perm = Arc::new(Order::Hilbert2d { height: 12, width: 10 }.permutation(120).unwrap());
    let seed = reference::fresh_seed();
    let q = random_vec(s.q_len(), seed);
    let k = random_vec(s.kv_len(), seed ^ 1);
    let v = random_vec(s.kv_len(), seed ^ 2);
    for (causal, placement) in [(false, Placement::Contiguous), (true, Placement::Contiguous), (true, Placement::Zigzag)] {
        let opts =
            RingOptions { attention: AttentionOptions { causal, ..Default::default() }, placement, order: Some(perm.clone()), ..Default::default() };
        let out = ring.forward(&q, &k, &v, s, Dtype::F32, &opts).unwrap_or_else(|e| panic!("causal {causal} {placement}: {e}"));
        // Causal in the caller's (raster) order.
        let r = reference::attention(&q, &k, &v, &s, causal, None);
        let e = rel_error(&out.o, &r.o);
        let l = lse_max_abs_error(&out.lse, &r.lse);
        assert!(e < common::tol(Dtype::F32) && l < common::lse_tol(Dtype::F32), "causal {causal} {placement}: O {e:.2e} LSE {l:.2e} seed {seed:#x}");
        if causal {
            assert!(out.stats.pairs_skipped > 0, "the causal mask in curve coordinates skips pairs");
        }
    }
    // Each device holds one contiguous range of the curve: device 0's rows are the first
    // 40 (64-token mask blocks cut the 120 tokens into 2 blocks: chunks of 64, 56 and 0).
    let opts = RingOptions { order: Some(perm.clone()), ..Default::default() };
    let shards = ring.upload(&q, &k, &v, s, Dtype::F32, &opts).unwrap();
    let qa = shards[0].q[0].as_ref().unwrap().to_f32_vec(&ring.contexts()[0]).unwrap();
    let first = perm.order()[0] as usize;
    assert_eq!(qa[..64], q[first * 64..first * 64 + 64], "row 0 of device 0 is the curve's first token");
    // A permutation of another length is an error.
    let bad = RingOptions { order: Some(Arc::new(Order::Hilbert2d { height: 4, width: 4 }.permutation(16).unwrap())), ..Default::default() };
    assert!(matches!(ring.forward(&q, &k, &v, s, Dtype::F32, &bad), Err(Error::InvalidArgument(_))));
}
