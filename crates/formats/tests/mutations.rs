//! Property test: random corruptions of a valid GGUF file never panic; when
//! the result still parses, every accessor works and every tensor's bytes
//! are in bounds.

mod common;

use common::{small_file, touch_everything};
use proptest::prelude::*;
use smallmind_formats::gguf::GgufFile;

/// Cases per property (each parse is microseconds; keep the binary fast).
const CASES: u32 = 10_000;

fn check(bytes: &[u8]) {
    if let Ok(file) = GgufFile::from_bytes(bytes) {
        touch_everything(&file);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A few random bytes overwritten.
    #[test]
    fn byte_flips_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = small_file();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        check(&bytes);
    }

    /// A random u64 written over a random position: hits counts, lengths,
    /// dims and offsets with extreme values.
    #[test]
    fn u64_overwrites_never_panic(at in any::<prop::sample::Index>(), value in prop_oneof![
        any::<u64>(),
        Just(u64::MAX),
        Just(0u64),
        (0u64..512),
        (0u64..64).prop_map(|s| 1u64 << s),
    ]) {
        let mut bytes = small_file();
        let i = at.index(bytes.len() - 8);
        bytes[i..i + 8].copy_from_slice(&value.to_le_bytes());
        check(&bytes);
    }

    /// Random truncation, insertion and deletion.
    #[test]
    fn splices_never_panic(at in any::<prop::sample::Index>(), cut in 0usize..16, insert in prop::collection::vec(any::<u8>(), 0..16)) {
        let mut bytes = small_file();
        let i = at.index(bytes.len());
        let end = (i + cut).min(bytes.len());
        bytes.splice(i..end, insert);
        check(&bytes);
    }
}
