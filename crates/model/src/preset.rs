//! Benchmark presets (WORKLOADS.md): configs and seeded random weights.
