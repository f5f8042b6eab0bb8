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
