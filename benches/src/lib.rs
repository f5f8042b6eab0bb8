//! # smallmind-benches — benchmark support
//!
//! Shared input generators for the criterion and gungraun benches in `benches/`.
