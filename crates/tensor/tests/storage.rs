//! Storage kinds: 64-byte alignment of owned and pooled buffers, and tensors
//! borrowed from a real memory map (bounds, length and alignment checks).

use smallmind_tensor::{ALIGN, DType, MapSource, StorageKind, Tensor, TensorError, TensorPool};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn is_aligned(bytes: &[u8]) -> bool {
    (bytes.as_ptr() as usize).is_multiple_of(ALIGN)
}

/// Maps a fresh temporary file holding `bytes`. The file is unlinked right
/// away; the map keeps the data reachable.
fn map_bytes(bytes: &[u8]) -> Arc<memmap2::Mmap> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "smallmind-tensor-test-{}-{}.bin",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(bytes).unwrap();
    file.sync_all().unwrap();
    let file = std::fs::File::open(&path).unwrap();
    // SAFETY: the file was created by this test under a unique name, is never
    // written again, and is unlinked below before anyone else could open it,
    // so the mapped bytes cannot change while the map lives.
    let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    std::fs::remove_file(&path).unwrap();
    Arc::new(map)
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn owned_tensors_are_64_byte_aligned() {
    for dtype in DType::ALL.iter().copied().filter(|d| !d.is_quantized()) {
        for n in [1, 3, 16, 17, 1000, 100_000] {
            let t = Tensor::zeros(&[n], dtype).unwrap();
            assert_eq!(t.storage_kind(), StorageKind::Owned);
            assert!(is_aligned(t.as_bytes().unwrap()), "{dtype} {n}");
            assert!(is_aligned(t.storage().as_bytes()));
        }
    }
    let t = Tensor::from_f32(&[5], &[1.0; 5]).unwrap();
    assert!(is_aligned(t.as_bytes().unwrap()));
}

#[test]
fn pooled_tensors_and_buffers_are_64_byte_aligned() {
    let pool = TensorPool::new(1 << 20);
    for bytes in [1, 63, 64, 65, 4096, 100_001] {
        // Twice: a fresh buffer, then a reused one.
        for _ in 0..2 {
            let buf = pool.rent(bytes).unwrap();
            assert_eq!(buf.len(), bytes);
            assert!(is_aligned(buf.as_bytes()));
        }
    }
    for dtype in DType::ALL.iter().copied() {
        let t = Tensor::rent(&pool, &[7, 256], dtype).unwrap();
        assert_eq!(t.storage_kind(), StorageKind::Pooled);
        assert!(is_aligned(t.as_bytes().unwrap()));
    }
}

#[test]
fn mapped_tensor_reads_the_file_in_place() {
    let values: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
    let mut file = vec![0xAB; 64];
    file.extend(f32_bytes(&values));
    let map = map_bytes(&file);
    let t = Tensor::from_mapped(map.clone(), 64..64 + 96, &[4, 6], DType::F32).unwrap();
    assert_eq!(t.storage_kind(), StorageKind::Mapped);
    // Page-aligned map + 64-byte offset: the data is 64-byte aligned and is the
    // map's own memory, not a copy.
    let data = t.as_bytes().unwrap();
    assert!(is_aligned(data));
    assert_eq!(data.as_ptr(), map[64..].as_ptr());
    assert_eq!(t.as_slice::<f32>().unwrap(), &values[..]);
    assert_eq!(t.row(2).unwrap().to_f32_vec().unwrap(), &values[12..18]);
    let col = t.narrow(1, 5, 1).unwrap().to_f32_vec().unwrap();
    assert_eq!(col, [values[5], values[11], values[17], values[23]]);
}

#[test]
fn mapped_tensor_keeps_the_map_alive() {
    let values = [1.5f32, -2.0, 3.25];
    let t = {
        let map = map_bytes(&f32_bytes(&values));
        Tensor::from_mapped(map, 0..12, &[3], DType::F32).unwrap()
    };
    // The caller's Arc is gone; the tensor's keeps the map.
    assert_eq!(t.to_f32_vec().unwrap(), values);
}

#[test]
fn mapped_half_precision_tensors() {
    let halves: Vec<half::f16> = [0.5f32, -1.0, 65504.0, 6.1035156e-5]
        .map(half::f16::from_f32)
        .to_vec();
    let bytes: Vec<u8> = halves.iter().flat_map(|h| h.to_le_bytes()).collect();
    let map = map_bytes(&bytes);
    // f16 needs only 2-byte alignment: offset 2 is fine.
    let t = Tensor::from_mapped(map, 2..8, &[3], DType::F16).unwrap();
    assert_eq!(t.to_f32_vec().unwrap(), [-1.0, 65504.0, 6.1035156e-5]);
}

#[test]
fn misaligned_mapped_ranges_are_rejected() {
    let map = map_bytes(&[0u8; 256]);
    for start in [1, 2, 3, 5, 66] {
        let err =
            Tensor::from_mapped(map.clone(), start..start + 16, &[4], DType::F32).unwrap_err();
        match err {
            TensorError::Misaligned {
                op,
                dtype,
                align,
                address,
            } => {
                assert_eq!(op, "from_mapped");
                assert_eq!(dtype, DType::F32);
                assert_eq!(align, 4);
                assert_eq!(address, map.as_ptr() as usize + start);
            }
            other => panic!("start {start}: unexpected {other:?}"),
        }
    }
    assert!(matches!(
        Tensor::from_mapped(map.clone(), 1..5, &[2], DType::BF16),
        Err(TensorError::Misaligned { align: 2, .. })
    ));
    // The message is readable.
    let msg = Tensor::from_mapped(map, 2..18, &[4], DType::F32)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("from_mapped") && msg.contains("f32") && msg.contains("4-byte"),
        "{msg}"
    );
}

#[test]
fn mapped_ranges_are_checked_against_shape_and_source() {
    let map = map_bytes(&[0u8; 64]);
    assert_eq!(
        Tensor::from_mapped(map.clone(), 0..12, &[4], DType::F32).unwrap_err(),
        TensorError::LengthMismatch {
            op: "from_mapped",
            expected: 16,
            actual: 12,
        }
    );
    assert_eq!(
        Tensor::from_mapped(map.clone(), 60..76, &[4], DType::F32).unwrap_err(),
        TensorError::RangeOutOfStorage {
            op: "from_mapped",
            start: 60,
            end: 76,
            available: 64,
        }
    );
    // A reversed range has length 0, not a huge one.
    #[expect(
        clippy::reversed_empty_ranges,
        reason = "a reversed range is the input under test"
    )]
    let reversed = 16..8;
    assert!(matches!(
        Tensor::from_mapped(map.clone(), reversed, &[2], DType::F32),
        Err(TensorError::LengthMismatch { actual: 0, .. })
    ));
    assert!(matches!(
        Tensor::from_mapped(map, 0..0, &[usize::MAX, 4], DType::F32),
        Err(TensorError::SizeOverflow { .. })
    ));
}

#[test]
fn mapped_tensors_are_read_only() {
    let map = map_bytes(&[0u8; 16]);
    let mut t = Tensor::from_mapped(map, 0..16, &[4], DType::F32).unwrap();
    assert_eq!(
        t.as_mut_slice::<f32>().unwrap_err(),
        TensorError::ReadOnly {
            op: "as_mut_slice",
            storage: "mapped",
        }
    );
}

#[test]
fn any_byte_source_can_back_a_tensor() {
    // Not only memory maps: anything `AsRef<[u8]>`, e.g. bytes read from a
    // file. A Vec<u8> is only byte-aligned, so place the data at an aligned
    // offset (moving the Vec into the Arc keeps its heap buffer in place).
    let mut bytes = vec![0u8; 16];
    let start = (4 - bytes.as_ptr() as usize % 4) % 4;
    bytes[start..start + 8].copy_from_slice(&f32_bytes(&[7.0, 8.0]));
    let source: MapSource = Arc::new(bytes);
    let t = Tensor::from_mapped(source.clone(), start..start + 8, &[2], DType::F32).unwrap();
    assert_eq!(t.to_f32_vec().unwrap(), [7.0, 8.0]);
    assert!(Tensor::from_mapped(source, start + 1..start + 9, &[2], DType::F32).is_err());
}
