//! Bad GGUF input: a valid small file from the writer, corrupted one field at
//! a time. Every case must give the specific error, never a panic.

mod common;

use common::*;
use smallmind_formats::gguf::{GgmlType, GgufFile, GgufWriter, MetadataValue};
use smallmind_formats::{FormatError, Section};

fn parse(bytes: &[u8]) -> Result<GgufFile<&[u8]>, FormatError> {
    GgufFile::from_bytes(bytes)
}

fn parse_err(bytes: &[u8]) -> FormatError {
    match parse(bytes) {
        Ok(_) => panic!("corrupted file parsed"),
        Err(e) => e,
    }
}

/// Offsets of the header fields.
const VERSION_AT: usize = 4;
const TENSOR_COUNT_AT: usize = 8;
const KV_COUNT_AT: usize = 16;

#[test]
fn the_small_file_is_valid() {
    let bytes = small_file();
    let file = parse(&bytes).unwrap();
    assert_eq!(file.tensors().len(), 3);
    assert_eq!(file.tensor(SECOND).unwrap().offset(), 32);
    assert_eq!(file.tensor(THIRD).unwrap().offset(), 96);
    assert_eq!(file.data_offset() + 96 + 16, bytes.len() as u64);
    touch_everything(&file);
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = small_file();
    // The last field of the header part is the third tensor's u64 offset.
    let infos_end = tensor_fields(&bytes, THIRD, 1).offset + 8;
    for len in 0..bytes.len() {
        let err = parse_err(&bytes[..len]);
        let expected = if len < infos_end {
            matches!(
                err,
                FormatError::Truncated { .. } | FormatError::CountTooLarge { .. }
            )
        } else {
            matches!(err, FormatError::TensorPastEnd { .. })
        };
        assert!(expected, "prefix {len}: {err}");
    }
}

#[test]
fn wrong_magic() {
    let mut bytes = small_file();
    bytes[..4].copy_from_slice(b"GGML");
    let err = parse_err(&bytes);
    assert!(matches!(err, FormatError::BadMagic { found } if &found == b"GGML"));
}

#[test]
fn unsupported_versions() {
    for version in [0, 1, 4, u32::MAX] {
        let mut bytes = small_file();
        put_u32(&mut bytes, VERSION_AT, version);
        let err = parse_err(&bytes);
        assert!(matches!(err, FormatError::UnsupportedVersion { version: v } if v == version));
        assert_eq!(
            err.to_string(),
            format!("unsupported GGUF version {version}")
        );
    }
    let mut bytes = small_file();
    put_u32(&mut bytes, VERSION_AT, 3u32.swap_bytes());
    assert!(matches!(
        parse_err(&bytes),
        FormatError::BigEndian { version: 3 }
    ));
}

#[test]
fn version_2_is_read() {
    let mut bytes = small_file();
    put_u32(&mut bytes, VERSION_AT, 2);
    assert_eq!(parse(&bytes).unwrap().version(), 2);
}

#[test]
fn huge_tensor_and_metadata_counts() {
    for (at, what) in [
        (TENSOR_COUNT_AT, "tensor count"),
        (KV_COUNT_AT, "metadata count"),
    ] {
        for count in [u64::MAX, u64::MAX / 8, 1 << 40] {
            let mut bytes = small_file();
            put_u64(&mut bytes, at, count);
            let err = parse_err(&bytes);
            assert!(
                matches!(err, FormatError::CountTooLarge { what: w, count: c, .. } if w == what && c == count),
                "{err}"
            );
        }
    }
}

#[test]
fn huge_string_length() {
    for len in [u64::MAX, 1 << 40, 10_000] {
        let mut bytes = small_file();
        let key = key_fields(&bytes, NAME_KEY);
        put_u64(&mut bytes, key.key_len, len);
        let err = parse_err(&bytes);
        assert!(
            matches!(
                &err,
                FormatError::CountTooLarge {
                    what: "string length",
                    section: Section::MetadataKey { index: 0 },
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn huge_array_length() {
    for len in [u64::MAX, u64::MAX / 4 + 1, 1 << 40] {
        let mut bytes = small_file();
        // Array value: element type u32, then the u64 count.
        let count_at = key_fields(&bytes, ARRAY_KEY).value + 4;
        put_u64(&mut bytes, count_at, len);
        let err = parse_err(&bytes);
        assert!(
            matches!(&err, FormatError::CountTooLarge { what: "array length", section: Section::MetadataValue { key }, .. } if key == ARRAY_KEY),
            "{err}"
        );
    }
}

#[test]
fn unknown_value_type_and_invalid_bool() {
    let mut bytes = small_file();
    let at = key_fields(&bytes, COUNT_KEY).value_type;
    put_u32(&mut bytes, at, 13);
    assert!(matches!(
        parse_err(&bytes),
        FormatError::UnknownValueType { type_id: 13, .. }
    ));

    let mut bytes = small_file();
    let at = key_fields(&bytes, FLAG_KEY).value;
    bytes[at] = 2;
    assert!(matches!(
        parse_err(&bytes),
        FormatError::InvalidBool { byte: 2, .. }
    ));
}

#[test]
fn invalid_utf8_in_key_and_tensor_name() {
    let mut bytes = small_file();
    let at = key_fields(&bytes, NAME_KEY).key;
    bytes[at] = 0xff;
    assert!(matches!(parse_err(&bytes), FormatError::InvalidUtf8 { .. }));

    let mut bytes = small_file();
    let at = tensor_fields(&bytes, FIRST, 2).name;
    bytes[at + 1] = 0xc3; // a lead byte followed by ASCII
    let err = parse_err(&bytes);
    assert!(
        matches!(
            &err,
            FormatError::InvalidUtf8 {
                section: Section::TensorInfo {
                    index: 0,
                    name: None
                },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn duplicate_key_and_tensor_name() {
    // "test.count" → "test.array" is not the same length; rename a key to
    // another of equal length instead: "test.name" and "test.flag".
    let mut bytes = small_file();
    let at = key_fields(&bytes, FLAG_KEY).key;
    bytes[at..at + NAME_KEY.len()].copy_from_slice(NAME_KEY.as_bytes());
    assert!(matches!(parse_err(&bytes), FormatError::DuplicateKey { key } if key == NAME_KEY));

    let mut bytes = small_file();
    let at = tensor_fields(&bytes, THIRD, 1).name;
    bytes[at..at + FIRST.len()].copy_from_slice(FIRST.as_bytes());
    assert!(matches!(parse_err(&bytes), FormatError::DuplicateTensor { name } if name == FIRST));
}

#[test]
fn tensor_shape_errors() {
    let mut bytes = small_file();
    let f = tensor_fields(&bytes, FIRST, 2);
    put_u32(&mut bytes, f.n_dims, 5);
    assert!(matches!(
        parse_err(&bytes),
        FormatError::BadDimCount { n_dims: 5, .. }
    ));

    let mut bytes = small_file();
    put_u32(&mut bytes, f.n_dims, u32::MAX);
    assert!(matches!(parse_err(&bytes), FormatError::BadDimCount { .. }));

    let mut bytes = small_file();
    put_u64(&mut bytes, f.dims + 8, 0);
    assert!(matches!(
        parse_err(&bytes),
        FormatError::ZeroDim { axis: 1, .. }
    ));

    let mut bytes = small_file();
    put_u64(&mut bytes, f.dims, 1 << 40);
    put_u64(&mut bytes, f.dims + 8, 1 << 40);
    assert!(matches!(
        parse_err(&bytes),
        FormatError::DimsOverflow { .. }
    ));

    // Q8_0 rows must be whole blocks of 32.
    let mut bytes = small_file();
    let s = tensor_fields(&bytes, SECOND, 1);
    put_u64(&mut bytes, s.dims, 16);
    let err = parse_err(&bytes);
    assert!(
        matches!(
            err,
            FormatError::NotBlockMultiple {
                ne0: 16,
                block_size: 32,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unknown_dtype() {
    for type_id in [4, 5, 31, 99, u32::MAX] {
        let mut bytes = small_file();
        let at = tensor_fields(&bytes, SECOND, 1).ggml_type;
        put_u32(&mut bytes, at, type_id);
        let err = parse_err(&bytes);
        assert!(
            matches!(&err, FormatError::UnknownGgmlType { name, type_id: t } if name == SECOND && *t == type_id),
            "{err}"
        );
        assert!(err.to_string().contains(SECOND));
    }
}

#[test]
fn offset_past_end() {
    for offset in [128, 1 << 40, u64::MAX - 31] {
        let mut bytes = small_file();
        let at = tensor_fields(&bytes, THIRD, 1).offset;
        put_u64(&mut bytes, at, offset);
        let err = parse_err(&bytes);
        assert!(
            matches!(&err, FormatError::TensorPastEnd { name, .. } if name == THIRD),
            "{offset}: {err}"
        );
    }
}

#[test]
fn misaligned_offset() {
    let mut bytes = small_file();
    let at = tensor_fields(&bytes, THIRD, 1).offset;
    put_u64(&mut bytes, at, 97);
    let err = parse_err(&bytes);
    assert!(
        matches!(&err, FormatError::MisalignedOffset { name, offset: 97, alignment: 32 } if name == THIRD),
        "{err}"
    );
}

#[test]
fn overlapping_tensors() {
    // Second (34 bytes at 32) moved onto the first (32 bytes at 0).
    let mut bytes = small_file();
    let at = tensor_fields(&bytes, SECOND, 1).offset;
    put_u64(&mut bytes, at, 0);
    let err = parse_err(&bytes);
    assert!(
        matches!(err, FormatError::OverlappingTensors { .. }),
        "{err}"
    );

    // Third moved to 64: inside second's [32, 66).
    let mut bytes = small_file();
    let at = tensor_fields(&bytes, THIRD, 1).offset;
    put_u64(&mut bytes, at, 64);
    let err = parse_err(&bytes);
    assert!(
        matches!(&err, FormatError::OverlappingTensors { first, second, first_end: 66, .. } if first == SECOND && second == THIRD),
        "{err}"
    );
}

fn file_with_alignment(value: MetadataValue) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.alignment", MetadataValue::U32(64))
        .unwrap();
    w.add_tensor("t", &[4], GgmlType::F32, vec![0u8; 16])
        .unwrap();
    let mut bytes = w.to_bytes().unwrap();
    // Replace the u32 value with `value` of the same width.
    let f = key_fields(&bytes, "general.alignment");
    put_u32(&mut bytes, f.value_type, value.value_type().id());
    let raw = match value {
        MetadataValue::U32(v) => v.to_le_bytes(),
        MetadataValue::I32(v) => v.to_le_bytes(),
        MetadataValue::F32(v) => v.to_le_bytes(),
        _ => unreachable!("4-byte values only"),
    };
    bytes[f.value..f.value + 4].copy_from_slice(&raw);
    bytes
}

#[test]
fn alignment_values() {
    let ok = file_with_alignment(MetadataValue::U32(64));
    let file = parse(&ok).unwrap();
    assert_eq!((file.alignment(), file.data_offset() % 64), (64, 0));
    // Writers vary in the integer type: i32 is accepted.
    assert_eq!(
        parse(&file_with_alignment(MetadataValue::I32(64)))
            .unwrap()
            .alignment(),
        64
    );
    for bad in [
        MetadataValue::U32(0),
        MetadataValue::U32(48),
        MetadataValue::I32(-64),
        MetadataValue::F32(64.0),
    ] {
        let bytes = file_with_alignment(bad.clone());
        let err = parse_err(&bytes);
        assert!(
            matches!(err, FormatError::BadAlignment { .. }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn missing_key_and_wrong_type() {
    let bytes = small_file();
    let file = parse(&bytes).unwrap();
    let m = file.metadata();
    let err = m.get_u32("llama.block_count").unwrap_err();
    assert!(matches!(&err, FormatError::MissingKey { key } if key == "llama.block_count"));
    assert_eq!(err.to_string(), "missing metadata key `llama.block_count`");
    let err = m.get_str(COUNT_KEY).unwrap_err();
    assert!(
        matches!(&err, FormatError::WrongType { key, expected: "string", found } if key == COUNT_KEY && found == "u32")
    );
    let err = m.get_str_array(ARRAY_KEY).unwrap_err();
    assert!(matches!(&err, FormatError::WrongType { found, .. } if found == "array of u32"));
    assert_eq!(m.get_array(ARRAY_KEY).unwrap().integer_at(2), Some(3));
}

#[test]
fn tensor_lookups() {
    let bytes = small_file();
    let file = parse(&bytes).unwrap();
    assert!(matches!(
        file.tensor("nope"),
        Err(FormatError::TensorNotFound { .. })
    ));
    assert!(file.tensor_data_by_name("nope").is_err());
    // An info from a bigger file is refused, not read out of bounds.
    let big = GgufFile::open(gguf_fixture("tiny-llama-F32.gguf")).unwrap();
    let far = big.tensors().iter().max_by_key(|t| t.offset()).unwrap();
    assert!(matches!(
        file.tensor_data(far),
        Err(FormatError::TensorPastEnd { .. })
    ));
}

#[test]
fn empty_and_tiny_inputs() {
    for bytes in [&b""[..], b"G", b"GGUF", b"GGUF\x03\0\0\0"] {
        assert!(matches!(
            parse_err(bytes),
            FormatError::Truncated {
                section: Section::Header,
                ..
            }
        ));
    }
}

/// Every block type the engine reads, with its block size and bytes per block.
const BLOCK_TYPES: [(GgmlType, u64, u64); 14] = [
    (GgmlType::Q8_0, 32, 34),
    (GgmlType::Q4_0, 32, 18),
    (GgmlType::Q4_1, 32, 20),
    (GgmlType::Q5_0, 32, 22),
    (GgmlType::Q5_1, 32, 24),
    (GgmlType::IQ4_NL, 32, 18),
    (GgmlType::Q2_K, 256, 84),
    (GgmlType::Q3_K, 256, 110),
    (GgmlType::Q4_K, 256, 144),
    (GgmlType::Q5_K, 256, 176),
    (GgmlType::Q6_K, 256, 210),
    (GgmlType::IQ4_XS, 256, 136),
    (GgmlType::IQ3_S, 256, 110),
    (GgmlType::IQ2_XS, 256, 74),
];

/// A file whose only tensor, `weights`, is two rows of one block of `ty`.
fn one_block_type_file(ty: GgmlType, block: u64, bytes: u64) -> Vec<u8> {
    let mut w = GgufWriter::new();
    let data = vec![0u8; usize::try_from(2 * bytes).unwrap()];
    w.add_tensor("weights", &[block, 2], ty, data).unwrap();
    w.to_bytes().unwrap()
}

#[test]
fn every_block_type_checks_its_rows_and_bytes() {
    for (ty, block, bytes) in BLOCK_TYPES {
        assert_eq!((ty.block_size(), ty.type_size()), (block, bytes), "{ty}");
        let file = one_block_type_file(ty, block, bytes);
        parse(&file).unwrap_or_else(|e| panic!("{ty}: the valid file fails: {e}"));

        // A row that is not whole blocks, written and read.
        let mut w = GgufWriter::new();
        let err = w
            .add_tensor("weights", &[block / 2, 2], ty, vec![0u8; bytes as usize])
            .unwrap_err();
        assert!(
            matches!(&err, FormatError::NotBlockMultiple { name, ne0, block_size, ggml_type } if name == "weights" && *ne0 == block / 2 && *block_size == block && *ggml_type == ty.name()),
            "{ty}: {err}"
        );
        let mut patched = file.clone();
        put_u64(
            &mut patched,
            tensor_fields(&file, "weights", 2).dims,
            block + 1,
        );
        let err = parse_err(&patched);
        assert!(
            matches!(&err, FormatError::NotBlockMultiple { name, .. } if name == "weights"),
            "{ty}: {err}"
        );

        // Bytes that disagree with the shape.
        for given in [bytes, 2 * bytes - 1, 2 * bytes + 1] {
            let mut w = GgufWriter::new();
            let err = w
                .add_tensor("weights", &[block, 2], ty, vec![0u8; given as usize])
                .unwrap_err();
            assert!(
                matches!(&err, FormatError::InvalidWrite { name, .. } if name == "weights"),
                "{ty}, {given} bytes: {err}"
            );
        }

        // A truncated block: the file ends inside the tensor's last block.
        for cut in [1, bytes / 2, bytes] {
            let keep = file.len() - usize::try_from(cut).unwrap();
            let err = parse_err(&file[..keep]);
            assert!(
                matches!(&err, FormatError::TensorPastEnd { name, .. } if name == "weights"),
                "{ty}, {cut} bytes cut: {err}"
            );
        }
    }
}
