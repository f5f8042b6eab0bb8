//! Writer → reader round trips: every value type, nested arrays, every
//! alignment path, and the fixtures rewritten byte for byte.

mod common;

use common::gguf_fixture;
use smallmind_formats::FormatError;
use smallmind_formats::gguf::{
    GgmlType, GgufFile, GgufWriter, MAX_ARRAY_DEPTH, Metadata, MetadataArray, MetadataValue,
};

/// One entry of every value type, and arrays of every element type,
/// including arrays of arrays of different element types.
fn every_value() -> Vec<(String, MetadataValue)> {
    use MetadataArray as A;
    use MetadataValue as V;
    let scalars = [
        V::U8(200),
        V::I8(-100),
        V::U16(60_000),
        V::I16(-30_000),
        V::U32(4_000_000_000),
        V::I32(-2_000_000_000),
        V::F32(1.5e-5),
        V::Bool(true),
        V::String("héllo ✓".into()),
        V::U64(u64::MAX),
        V::I64(i64::MIN),
        V::F64(-2.25e300),
    ];
    let arrays = [
        A::U8(vec![0, 255]),
        A::I8(vec![-1, 1]),
        A::U16(vec![1, 2, 3]),
        A::I16(vec![-3]),
        A::U32(vec![]),
        A::I32(vec![7; 5]),
        A::F32(vec![0.5, -0.25]),
        A::Bool(vec![true, false, true]),
        A::String(vec!["a".into(), String::new(), "Ġ t".into()]),
        A::Array(vec![
            A::String(vec!["x".into()]),
            A::F64(vec![1.0]),
            A::Array(vec![A::U8(vec![9])]),
        ]),
        A::U64(vec![u64::MAX]),
        A::I64(vec![i64::MIN, 0]),
        A::F64(vec![f64::MAX]),
    ];
    let named_scalars = scalars
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("test.scalar.{i}"), v));
    let named_arrays = arrays
        .into_iter()
        .enumerate()
        .map(|(i, a)| (format!("test.array.{i}"), MetadataValue::Array(a)));
    named_scalars.chain(named_arrays).collect()
}

/// Tensors of several types and sizes: (name, dims, type).
const TENSORS: [(&str, &[u64], GgmlType); 5] = [
    ("a", &[3], GgmlType::F32),
    ("b", &[64, 2], GgmlType::Q4_0),
    ("c", &[5, 1, 1, 2], GgmlType::BF16),
    ("d", &[256], GgmlType::Q6_K),
    ("e", &[32, 3], GgmlType::Q4_1),
];

fn pattern(len: u64, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn round_trip(alignment: Option<u32>, version: u32) {
    let mut w = GgufWriter::new();
    w.set_version(version).unwrap();
    if let Some(a) = alignment {
        w.add_metadata("general.alignment", MetadataValue::U32(a))
            .unwrap();
    }
    let mut expected = Metadata::new();
    if let Some(a) = alignment {
        expected
            .insert("general.alignment".into(), MetadataValue::U32(a))
            .unwrap();
    }
    for (key, value) in every_value() {
        w.add_metadata(key.clone(), value.clone()).unwrap();
        expected.insert(key, value).unwrap();
    }
    let mut datas = Vec::new();
    for (i, (name, dims, ty)) in TENSORS.iter().enumerate() {
        let n: u64 = dims.iter().product();
        let data = pattern(ty.bytes_for(n).unwrap(), i as u8);
        w.add_tensor(*name, dims, *ty, data.clone()).unwrap();
        datas.push(data);
    }
    let bytes = w.to_bytes().unwrap();

    let file = GgufFile::from_bytes(bytes.as_slice()).unwrap();
    let align = u64::from(alignment.unwrap_or(32));
    assert_eq!((file.version(), file.alignment()), (version, align));
    assert_eq!(file.data_offset() % align, 0);
    assert_eq!(file.metadata(), &expected);
    for ((name, dims, ty), data) in TENSORS.iter().zip(&datas) {
        let info = file.tensor(name).unwrap();
        assert_eq!((info.dims(), info.ggml_type()), (*dims, *ty));
        assert_eq!(info.offset() % align, 0);
        assert_eq!(file.tensor_data(info).unwrap(), data.as_slice());
    }
}

#[test]
fn every_value_type_and_tensor_round_trips() {
    round_trip(None, 3);
    round_trip(Some(1), 3);
    round_trip(Some(64), 2);
    round_trip(Some(4096), 3);
}

/// Rebuilds a fixture from what the reader returns: same metadata order, same
/// tensors, same alignment. The gguf-py writer lays files out the same way,
/// so the bytes must be identical.
#[test]
fn fixtures_rewrite_byte_for_byte() {
    for suffix in ["F32", "F16", "Q8_0", "Q4_0", "Q4_1"] {
        let path = gguf_fixture(&format!("tiny-llama-{suffix}.gguf"));
        let original = std::fs::read(&path).unwrap();
        let file = GgufFile::from_bytes(original.as_slice()).unwrap();
        let mut w = GgufWriter::new();
        for (key, value) in file.metadata().iter() {
            w.add_metadata(key, value.clone()).unwrap();
        }
        for info in file.tensors() {
            let data = file.tensor_data(info).unwrap();
            w.add_tensor(info.name(), info.dims(), info.ggml_type(), data)
                .unwrap();
        }
        let rewritten = w.to_bytes().unwrap();
        assert!(rewritten == original, "{suffix}: rewrite differs");
    }
}

#[test]
fn write_file_then_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.gguf");
    let mut w = GgufWriter::new();
    w.add_metadata("k", MetadataValue::String("v".into()))
        .unwrap();
    w.add_tensor("t", &[2, 2], GgmlType::F16, vec![1u8; 8])
        .unwrap();
    let written = w.write_file(&path).unwrap();
    assert_eq!(written, std::fs::metadata(&path).unwrap().len());
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.metadata().get_str("k").unwrap(), "v");
    assert_eq!(file.tensor_data_by_name("t").unwrap(), [1u8; 8]);
}

#[test]
fn writer_refuses_what_the_reader_would() {
    let mut w = GgufWriter::new();
    w.add_tensor("t", &[4], GgmlType::F32, vec![0u8; 16])
        .unwrap();
    let dup = w.add_tensor("t", &[4], GgmlType::F32, vec![0u8; 16]);
    assert!(matches!(dup, Err(FormatError::DuplicateTensor { .. })));
    let short = w.add_tensor("u", &[4], GgmlType::F32, vec![0u8; 15]);
    assert!(matches!(short, Err(FormatError::InvalidWrite { .. })));
    let ragged = w.add_tensor("v", &[16], GgmlType::Q8_0, vec![0u8; 17]);
    assert!(matches!(ragged, Err(FormatError::NotBlockMultiple { .. })));
    let align = w.add_metadata("general.alignment", MetadataValue::U32(3));
    assert!(matches!(align, Err(FormatError::InvalidWrite { .. })));
    w.add_metadata("k", MetadataValue::Bool(false)).unwrap();
    let dup_key = w.add_metadata("k", MetadataValue::Bool(true));
    assert!(matches!(dup_key, Err(FormatError::DuplicateKey { .. })));
    assert!(w.set_version(1).is_err());
    let mut deep = MetadataArray::U8(vec![1]);
    for _ in 0..MAX_ARRAY_DEPTH {
        deep = MetadataArray::Array(vec![deep]);
    }
    let too_deep = w.add_metadata("deep", MetadataValue::Array(deep));
    assert!(matches!(too_deep, Err(FormatError::InvalidWrite { .. })));
}

#[test]
fn deepest_allowed_arrays_round_trip() {
    let mut deep = MetadataArray::U8(vec![1]);
    for _ in 1..MAX_ARRAY_DEPTH {
        deep = MetadataArray::Array(vec![deep]);
    }
    let mut w = GgufWriter::new();
    w.add_metadata("deep", MetadataValue::Array(deep.clone()))
        .unwrap();
    let bytes = w.to_bytes().unwrap();
    let file = GgufFile::from_bytes(bytes.as_slice()).unwrap();
    assert_eq!(file.metadata().get_array("deep").unwrap(), &deep);
}

#[test]
fn files_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<GgufFile>();
    send_sync::<GgufFile<Vec<u8>>>();
}
