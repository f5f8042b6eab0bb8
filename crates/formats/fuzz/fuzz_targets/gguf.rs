//! Fuzz target: parse arbitrary bytes as GGUF and touch every accessor.
//!
//! Invariants checked beyond "no panic": every tensor of a parsed file has
//! exactly `n_bytes` of data, lookups by name find it, and writing the parsed
//! file back with `GgufWriter` gives a file that parses to the same tensors,
//! data and metadata keys.

#![no_main]

use libfuzzer_sys::fuzz_target;
use smallmind_formats::gguf::{GgmlType, GgufFile, GgufWriter};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes(data) else {
        return;
    };
    touch_metadata(&file);
    touch_tensors(&file);
    rewrite_and_compare(&file);
});

fn touch_metadata(file: &GgufFile<&[u8]>) {
    let _ = (file.version(), file.alignment(), file.data_offset());
    let m = file.metadata();
    assert_eq!(m.iter().len(), m.len());
    for (key, value) in m.iter() {
        let _ = value.to_string();
        let _ = value.type_description();
        // Pointer identity: values may be NaN.
        assert!(m.get(key).is_some_and(|v| std::ptr::eq(v, value)));
        let _ = m.get_u8(key);
        let _ = m.get_i8(key);
        let _ = m.get_u16(key);
        let _ = m.get_i16(key);
        let _ = m.get_u32(key);
        let _ = m.get_i32(key);
        let _ = m.get_u64(key);
        let _ = m.get_i64(key);
        let _ = m.get_f32(key);
        let _ = m.get_f64(key);
        let _ = m.get_bool(key);
        let _ = m.get_int::<u32>(key);
        let _ = m.get_int::<i64>(key);
        let _ = m.get_float(key);
        let _ = m.get_str(key);
        let _ = m.get_str_array(key);
        let _ = m.get_i32_array(key);
        let _ = m.get_f32_array(key);
        if let Ok(array) = m.get_array(key) {
            let _ = (array.len(), array.element_type(), array.integer_at(0));
        }
    }
    assert!(m.get_u32("\u{0}missing").is_err());
}

fn touch_tensors(file: &GgufFile<&[u8]>) {
    for info in file.tensors() {
        let bytes = file.tensor_data(info).expect("validated tensor readable");
        assert_eq!(bytes.len() as u64, info.n_bytes());
        assert_eq!(file.tensor(info.name()).expect("by name"), info);
        assert_eq!(info.n_rows() * info.row_len(), info.n_elements());
        assert_eq!(info.offset() % file.alignment(), 0);
        let ty = info.ggml_type();
        assert_eq!(GgmlType::from_id(ty.id()), Some(ty));
        assert_eq!(ty.bytes_for(info.n_elements()), Some(info.n_bytes()));
    }
}

fn rewrite_and_compare(file: &GgufFile<&[u8]>) {
    let mut w = GgufWriter::new();
    w.set_version(file.version()).expect("version 2 or 3");
    for (key, value) in file.metadata().iter() {
        w.add_metadata(key, value.clone()).expect("valid metadata");
    }
    for info in file.tensors() {
        let data = file.tensor_data(info).expect("readable");
        w.add_tensor(info.name(), info.dims(), info.ggml_type(), data)
            .expect("valid tensor");
    }
    let bytes = w.to_bytes().expect("in-memory write");
    let again = GgufFile::from_bytes(bytes.as_slice()).expect("rewrite parses");
    assert_eq!(again.tensors().len(), file.tensors().len());
    for (a, b) in file.tensors().iter().zip(again.tensors()) {
        assert_eq!(
            (a.name(), a.dims(), a.ggml_type()),
            (b.name(), b.dims(), b.ggml_type())
        );
        assert_eq!(file.tensor_data(a).ok(), again.tensor_data(b).ok());
    }
    let keys = |f: &GgufFile<&[u8]>| {
        f.metadata()
            .iter()
            .map(|(k, _)| k.to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(file), keys(&again));
}
