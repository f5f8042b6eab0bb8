//! The repository's `fixtures/` folder: tiny models and reference outputs made by Hugging Face
//! transformers, PyTorch and gguf-py (each subfolder's README says how).

use std::path::PathBuf;

/// The repository's `fixtures/` folder (found from this crate's manifest, so it works from any
/// crate, any working directory and any clone).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures"))
}

/// `fixtures/<relative>`; panics, naming the path, when it does not exist.
pub fn fixture(relative: &str) -> PathBuf {
    let path = fixtures_dir().join(relative);
    assert!(
        path.exists(),
        "fixture {} is missing (the repository's fixtures/ folder should hold it)",
        path.display()
    );
    path
}

/// The little-endian values of a fixture tensor's raw bytes (a safetensors view's `data()`),
/// copied into an aligned `Vec`; panics when the length is not a whole number of values.
pub fn pod_vec<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    let mut out = vec![T::zeroed(); bytes.len() / size_of::<T>()];
    assert_eq!(bytes.len(), out.len() * size_of::<T>(), "whole values");
    bytemuck::cast_slice_mut::<T, u8>(&mut out).copy_from_slice(bytes);
    out
}
