//! TensorPool: exact statistics over a scripted sequence, reuse, the RAII
//! guard, the high-water mark, the retention bound, and concurrent use.

use smallmind_tensor::pool::size_class_bytes;
use smallmind_tensor::{DType, PoolStats, StorageKind, Tensor, TensorError, TensorPool};

#[test]
fn scripted_sequence_gives_exact_statistics() {
    let pool = TensorPool::new(1 << 20);
    assert_eq!(pool.stats(), PoolStats::default());

    // 100 bytes -> 2 blocks = 128-byte class; a miss.
    let a = pool.rent(100).unwrap();
    assert_eq!((a.len(), a.capacity()), (100, 128));
    let a_ptr = a.as_bytes().as_ptr();
    // 1000 bytes -> 16 blocks = 1024-byte class; a miss.
    let b = pool.rent(1000).unwrap();
    assert_eq!(b.capacity(), 1024);
    assert_eq!(
        pool.stats(),
        PoolStats {
            rents: 2,
            misses: 2,
            bytes_outstanding: 1152,
            high_water_bytes: 1152,
            ..PoolStats::default()
        }
    );

    drop(a); // the guard returns it
    assert_eq!(
        pool.stats(),
        PoolStats {
            rents: 2,
            returns: 1,
            misses: 2,
            bytes_outstanding: 1024,
            high_water_bytes: 1152,
            bytes_retained: 128,
            ..PoolStats::default()
        }
    );

    // Same class: a hit on the very buffer `a` had, resized to the request.
    let c = pool.rent(128).unwrap();
    assert_eq!(c.as_bytes().as_ptr(), a_ptr);
    assert_eq!(c.len(), 128);
    // Same class again, but the cache is empty now: a miss.
    let d = pool.rent(65).unwrap();
    assert_eq!(d.capacity(), 128);
    assert_eq!(
        pool.stats(),
        PoolStats {
            rents: 4,
            returns: 1,
            hits: 1,
            misses: 3,
            bytes_outstanding: 1280,
            high_water_bytes: 1280,
            bytes_retained: 0,
            released: 0,
        }
    );

    drop((b, c, d));
    assert_eq!(pool.retained_buffers(), 3);
    // 1024 hits the cached 1024 class; 900 bytes (15 blocks) is also that class
    // but its only buffer is taken: a miss.
    let e = pool.rent(1024).unwrap();
    let f = pool.rent(900).unwrap();
    assert_eq!(f.capacity(), 1024);
    assert_eq!(
        pool.stats(),
        PoolStats {
            rents: 6,
            returns: 4,
            hits: 2,
            misses: 4,
            bytes_outstanding: 2048,
            high_water_bytes: 2048,
            bytes_retained: 256,
            released: 0,
        }
    );
    drop((e, f));
    let s = pool.stats();
    assert_eq!((s.rents, s.returns, s.bytes_outstanding), (6, 6, 0));
    assert_eq!(s.rents, s.hits + s.misses);
    assert_eq!(s.bytes_retained, 128 * 2 + 1024 * 2);
}

#[test]
fn high_water_mark_tracks_the_peak() {
    let pool = TensorPool::new(usize::MAX);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pool.rent(64 * 10).unwrap()); // class 10 blocks = 640 bytes
    }
    assert_eq!(pool.stats().high_water_bytes, 2560);
    held.clear();
    let _small = pool.rent(64).unwrap();
    let s = pool.stats();
    assert_eq!(s.bytes_outstanding, 64);
    assert_eq!(s.high_water_bytes, 2560);
    // Reaching the old peak again does not move it; exceeding it does.
    let more: Vec<_> = (0..4).map(|_| pool.rent(640).unwrap()).collect();
    assert_eq!(pool.stats().high_water_bytes, 2624);
    assert_eq!(pool.stats().hits, 4);
    drop(more);
}

#[test]
fn pooled_tensor_returns_when_the_last_view_drops() {
    let pool = TensorPool::new(1 << 20);
    let mut t = Tensor::rent_zeroed(&pool, &[4, 8], DType::F32).unwrap();
    assert_eq!(t.storage_kind(), StorageKind::Pooled);
    t.as_mut_slice::<f32>().unwrap()[9] = 3.0; // unique: writable
    let row = t.row(1).unwrap();
    drop(t);
    assert_eq!(pool.stats().returns, 0, "a view still holds the buffer");
    assert_eq!(row.to_f32_vec().unwrap()[1], 3.0);
    drop(row);
    let s = pool.stats();
    assert_eq!(
        (s.returns, s.bytes_outstanding, s.bytes_retained),
        (1, 0, 128)
    );
}

#[test]
fn rent_zeroed_clears_reused_buffers() {
    let pool = TensorPool::new(1 << 20);
    let mut buf = pool.rent(256).unwrap();
    buf.as_mut_slice::<f32>().unwrap().fill(7.0);
    let ptr = buf.as_bytes().as_ptr();
    drop(buf);
    let again = pool.rent_zeroed(200).unwrap();
    assert_eq!(again.as_bytes().as_ptr(), ptr, "reused");
    assert!(again.as_bytes().iter().all(|&b| b == 0));
    assert_eq!(pool.stats().hits, 1);
    // Fresh buffers are zero even from `rent`.
    assert!(
        pool.rent(1 << 16)
            .unwrap()
            .as_bytes()
            .iter()
            .all(|&b| b == 0)
    );
}

#[test]
fn pooled_buffer_typed_views() {
    let pool = TensorPool::default();
    let mut buf = pool.rent(10).unwrap();
    assert_eq!(buf.as_mut_slice::<half::f16>().unwrap().len(), 5);
    assert!(matches!(
        buf.as_slice::<f32>(),
        Err(TensorError::LengthMismatch { .. })
    ));
    // A tensor over a rented buffer must fit in it.
    assert_eq!(
        Tensor::from_pooled(buf, &[3], DType::F32).unwrap_err(),
        TensorError::RangeOutOfStorage {
            op: "from_pooled",
            start: 0,
            end: 12,
            available: 10,
        }
    );
    let t = Tensor::from_pooled(pool.rent(12).unwrap(), &[3], DType::F32).unwrap();
    assert_eq!(t.to_f32_vec().unwrap(), [0.0; 3]);
}

#[test]
fn retention_is_bounded() {
    let pool = TensorPool::new(1000);
    let held: Vec<_> = (0..3).map(|_| pool.rent(512).unwrap()).collect();
    drop(held);
    // The first 512 bytes fit under the bound; the others are freed.
    let s = pool.stats();
    assert_eq!((s.returns, s.released, s.bytes_retained), (3, 2, 512));
    assert_eq!(pool.retained_buffers(), 1);
    // A different class still fits in the remaining 488 bytes.
    drop(pool.rent(448).unwrap());
    assert_eq!(pool.stats().bytes_retained, 960);
    drop(pool.rent(100).unwrap()); // 128 more would exceed 1000
    assert_eq!(pool.stats().released, 3);
    pool.trim();
    assert_eq!(pool.stats().bytes_retained, 0);
    assert_eq!(pool.retained_buffers(), 0);

    let keep_nothing = TensorPool::new(0);
    drop(keep_nothing.rent(64).unwrap());
    let s = keep_nothing.stats();
    assert_eq!((s.released, s.bytes_retained), (1, 0));
    assert_eq!(keep_nothing.max_retained_bytes(), 0);
}

#[test]
fn buffers_outlive_the_pool_handle() {
    let pool = TensorPool::new(1 << 20);
    let observer = pool.clone();
    let buf = pool.rent(64).unwrap();
    drop(pool);
    drop(buf);
    assert_eq!(observer.stats().returns, 1);
}

#[test]
fn impossible_requests_are_errors() {
    let pool = TensorPool::default();
    assert!(matches!(
        pool.rent(usize::MAX),
        Err(TensorError::AllocationFailed { .. })
    ));
    assert!(matches!(
        pool.rent(1 << 60),
        Err(TensorError::AllocationFailed { .. })
    ));
    // Failed rents are not counted.
    assert_eq!(pool.stats().rents, 0);
    assert!(matches!(
        Tensor::rent(&pool, &[1 << 62], DType::F32),
        Err(TensorError::SizeOverflow { .. })
    ));
}

#[test]
fn concurrent_rent_and_return_keep_counts_consistent() {
    const THREADS: usize = 4;
    const ITERATIONS: usize = 2000;
    const SIZES: [usize; 5] = [64, 100, 1000, 4096, 10_000];
    let pool = TensorPool::new(64 << 10);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let pool = &pool;
            scope.spawn(move || {
                let tag = thread as u8 + 1;
                let mut held = Vec::new();
                for i in 0..ITERATIONS {
                    let mut buf = pool.rent(SIZES[(i * 7 + thread) % SIZES.len()]).unwrap();
                    buf.as_bytes_mut().fill(tag);
                    held.push(buf);
                    if held.len() > 3 || i % 3 == 0 {
                        let buf = held.swap_remove(i % held.len());
                        // Nobody else wrote into a buffer we hold.
                        assert!(buf.as_bytes().iter().all(|&b| b == tag));
                    }
                }
            });
        }
    });
    let s = pool.stats();
    assert_eq!(s.rents, (THREADS * ITERATIONS) as u64);
    assert_eq!(s.returns, s.rents);
    assert_eq!(s.hits + s.misses, s.rents);
    assert_eq!(s.bytes_outstanding, 0);
    assert!(s.hits > 0);
    assert!(s.bytes_retained <= pool.max_retained_bytes());
    // At most 4 buffers of the largest class held per thread at once.
    let largest = size_class_bytes(10_000).unwrap();
    assert!(s.high_water_bytes <= THREADS * 4 * largest, "{s:?}");
    assert!(s.high_water_bytes >= largest);
    // The retained byte counter matches what the lists hold: trimming
    // subtracts the capacity of each cached buffer and must land on zero.
    assert!(pool.retained_buffers() > 0);
    pool.trim();
    assert_eq!(pool.stats().bytes_retained, 0);
}
