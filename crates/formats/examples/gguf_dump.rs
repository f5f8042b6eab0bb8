//! Prints the metadata and tensor infos of a GGUF file.
//!
//! `cargo run -p smallmind-formats --example gguf_dump -- <file.gguf>`

use smallmind_formats::gguf::GgufFile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: gguf_dump <file.gguf>")?;
    let file = GgufFile::open(&path)?;
    println!(
        "GGUF v{}, alignment {}, data at {}",
        file.version(),
        file.alignment(),
        file.data_offset()
    );
    for (key, value) in file.metadata().iter() {
        println!("{key} = {value}");
    }
    for t in file.tensors() {
        println!(
            "{:<28} {:<6} dims {:?} offset {} bytes {}",
            t.name(),
            t.ggml_type(),
            t.dims(),
            t.offset(),
            t.n_bytes()
        );
    }
    Ok(())
}
