//! Shared helpers for the GGUF tests: fixture paths, a small valid file built
//! with the writer, and byte offsets of its fields so tests can corrupt them.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::path::PathBuf;

use smallmind_formats::gguf::{GgmlType, GgufFile, GgufWriter, MetadataArray, MetadataValue};

/// `fixtures/tiny-llama-gguf/<name>` in the repository.
pub(crate) fn gguf_fixture(name: &str) -> PathBuf {
    smallmind_testkit::fixture(&format!("tiny-llama-gguf/{name}"))
}

/// `fixtures/tiny-llama/<name>` in the repository.
pub(crate) fn hf_fixture(name: &str) -> PathBuf {
    smallmind_testkit::fixture(&format!("tiny-llama/{name}"))
}

/// Tensor names of [`small_file`], in file order.
pub(crate) const FIRST: &str = "tensor.first";
/// Q8_0, one block.
pub(crate) const SECOND: &str = "tensor.second";
/// F16, 8 elements.
pub(crate) const THIRD: &str = "tensor.third";

/// Key of a u32 entry of [`small_file`].
pub(crate) const COUNT_KEY: &str = "test.count";
/// Key of a u32 array entry of [`small_file`].
pub(crate) const ARRAY_KEY: &str = "test.array";
/// Key of a string entry of [`small_file`].
pub(crate) const NAME_KEY: &str = "test.name";
/// Key of a bool entry of [`small_file`].
pub(crate) const FLAG_KEY: &str = "test.flag";

/// A small valid v3 file (alignment 32):
/// - metadata: `test.name` = "small", `test.count` = 7 (u32),
///   `test.array` = [1, 2, 3] (u32), `test.flag` = true;
/// - tensors: `tensor.first` F32 dims [4, 2] at 0 (32 bytes),
///   `tensor.second` Q8_0 [32] at 32 (34 bytes), `tensor.third` F16 [8] at
///   96 (16 bytes). The file ends right after the last tensor.
pub(crate) fn small_file() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_metadata(NAME_KEY, MetadataValue::String("small".into()))
        .unwrap();
    w.add_metadata(COUNT_KEY, MetadataValue::U32(7)).unwrap();
    w.add_metadata(
        ARRAY_KEY,
        MetadataValue::Array(MetadataArray::U32(vec![1, 2, 3])),
    )
    .unwrap();
    w.add_metadata(FLAG_KEY, MetadataValue::Bool(true)).unwrap();
    let first: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let second: Vec<u8> = (0..34u8).collect();
    let third = vec![0x3c; 16];
    w.add_tensor(FIRST, &[4, 2], GgmlType::F32, first).unwrap();
    w.add_tensor(SECOND, &[32], GgmlType::Q8_0, second).unwrap();
    w.add_tensor(THIRD, &[8], GgmlType::F16, third).unwrap();
    w.to_bytes().unwrap()
}

/// Offset of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

/// Offset of the u64 length prefix of the string `s` (first occurrence).
fn string_at(bytes: &[u8], s: &str) -> usize {
    let mut needle = (s.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(s.as_bytes());
    find(bytes, &needle)
}

/// Field offsets of one metadata entry.
pub(crate) struct KeyFields {
    /// The key's u64 length.
    pub(crate) key_len: usize,
    /// The key's bytes.
    pub(crate) key: usize,
    /// The u32 value type.
    pub(crate) value_type: usize,
    /// The value (for arrays: the u32 element type).
    pub(crate) value: usize,
}

/// Field offsets of metadata entry `key`.
pub(crate) fn key_fields(bytes: &[u8], key: &str) -> KeyFields {
    let key_len = string_at(bytes, key);
    let value_type = key_len + 8 + key.len();
    KeyFields {
        key_len,
        key: key_len + 8,
        value_type,
        value: value_type + 4,
    }
}

/// Field offsets of one tensor info.
pub(crate) struct TensorFields {
    /// The name's u64 length.
    pub(crate) name_len: usize,
    /// The name's bytes.
    pub(crate) name: usize,
    /// The u32 n_dims.
    pub(crate) n_dims: usize,
    /// dims[0] (u64).
    pub(crate) dims: usize,
    /// The u32 ggml type.
    pub(crate) ggml_type: usize,
    /// The u64 offset.
    pub(crate) offset: usize,
}

/// Field offsets of tensor info `name` with `n_dims` dims.
pub(crate) fn tensor_fields(bytes: &[u8], name: &str, n_dims: usize) -> TensorFields {
    let name_len = string_at(bytes, name);
    let n_dims_at = name_len + 8 + name.len();
    let dims = n_dims_at + 4;
    let ggml_type = dims + 8 * n_dims;
    TensorFields {
        name_len,
        name: name_len + 8,
        n_dims: n_dims_at,
        dims,
        ggml_type,
        offset: ggml_type + 4,
    }
}

/// Overwrites a little-endian u32 at `at`.
pub(crate) fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Overwrites a little-endian u64 at `at`.
pub(crate) fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Calls every accessor of a parsed file, checking the invariants the
/// parser promises (every tensor's bytes available with the exact length).
pub(crate) fn touch_everything<D: AsRef<[u8]>>(file: &GgufFile<D>) {
    let _ = (file.version(), file.alignment(), file.data_offset());
    for (key, value) in file.metadata().iter() {
        let _ = value.to_string();
        let _ = file.metadata().get_int::<i64>(key);
        let _ = file.metadata().get_str(key);
        let _ = file.metadata().get_str_array(key);
        let _ = file.metadata().get_float(key);
    }
    for info in file.tensors() {
        let data = file
            .tensor_data(info)
            .expect("validated tensor is readable");
        assert_eq!(data.len() as u64, info.n_bytes());
        assert_eq!(file.tensor(info.name()).unwrap(), info);
        assert_eq!(info.n_rows() * info.row_len(), info.n_elements());
    }
}
