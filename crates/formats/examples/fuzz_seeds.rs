//! Writes small valid GGUF files to seed the fuzz corpus:
//! each GGUF of the fixture folders given (the tiny-llama files, one per
//! weight type in `fixtures/oracle/types`) with its metadata (tokenizer
//! included) and every tensor shrunk to one row of one block, plus a file
//! with every metadata value type.
//!
//! `cargo run -p smallmind-formats --example fuzz_seeds -- <out dir> <fixture dir>...`

use std::path::PathBuf;

use smallmind_formats::gguf::{GgufFile, GgufWriter, MetadataArray, MetadataValue};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(PathBuf::from);
    let out = args
        .next()
        .ok_or("usage: fuzz_seeds <out dir> <fixture dir>...")?;
    std::fs::create_dir_all(&out)?;
    for folder in args {
        // Seeds are named `<folder>-<file>-shrunk.gguf`: two folders may hold the same file name.
        let prefix = folder
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("seed");
        let prefix = prefix.to_owned();
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if path.extension().is_some_and(|e| e == "gguf") {
                let file = GgufFile::open(&path)?;
                shrunk(&file)?.write_file(out.join(format!("{prefix}-{stem}-shrunk.gguf")))?;
            }
        }
    }
    every_type()?.write_file(out.join("every-value-type.gguf"))?;
    Ok(())
}

/// Same metadata, each tensor reduced to dims `[block_size]`.
fn shrunk(file: &GgufFile) -> Result<GgufWriter<'static>, Box<dyn std::error::Error>> {
    let mut w = GgufWriter::new();
    for (key, value) in file.metadata().iter() {
        w.add_metadata(key, value.clone())?;
    }
    for info in file.tensors() {
        let ty = info.ggml_type();
        let data = vec![0x11u8; ty.type_size() as usize];
        w.add_tensor(info.name(), &[ty.block_size()], ty, data)?;
    }
    Ok(w)
}

fn every_type() -> Result<GgufWriter<'static>, Box<dyn std::error::Error>> {
    use MetadataArray as A;
    use MetadataValue as V;
    let mut w = GgufWriter::new();
    w.add_metadata("general.alignment", V::U32(16))?;
    let values = [
        V::U8(1),
        V::I8(-1),
        V::U16(2),
        V::I16(-2),
        V::U32(3),
        V::I32(-3),
        V::F32(0.5),
        V::Bool(true),
        V::String("s".into()),
        V::U64(4),
        V::I64(-4),
        V::F64(0.25),
        V::Array(A::Array(vec![A::Bool(vec![false]), A::I16(vec![5, 6])])),
    ];
    for (i, v) in values.into_iter().enumerate() {
        w.add_metadata(format!("k{i}"), v)?;
    }
    w.add_tensor(
        "t",
        &[2, 2],
        smallmind_formats::gguf::GgmlType::BF16,
        vec![0u8; 8],
    )?;
    Ok(w)
}
