//! `cargo xtask proofs`: the exhaustive error proofs that ordinary test runs skip.
//!
//! `crates/kernels/tests/math.rs` bounds the error of the SIMD `exp`, `tanh` and `erf` on a
//! dense grid in every test run; its `exhaustive_*` tests, `#[ignore]`d because each sweeps
//! all 2³² f32 inputs (minutes, not seconds), prove the documented ulp bounds on every input
//! for the machine's best SIMD path. This task runs them in release, prints each function's
//! worst error, and the total time. The scheduled workflow `.github/workflows/proofs.yml`
//! runs it weekly.

use std::time::Instant;

/// The ignored tests this task runs: `cargo test` arguments up to the test binary's own.
const PROOFS: [&str; 6] = [
    "--release",
    "-p",
    "smallmind-kernels",
    "--test",
    "math",
    "exhaustive_",
];

/// Flags of `cargo xtask proofs` (none yet).
#[derive(clap::Args)]
pub(crate) struct Args {}

/// Runs the task.
pub(crate) fn run(_args: &Args) -> Result<(), String> {
    let root = crate::workspace_root();
    let start = Instant::now();
    let status = crate::bench::cargo(&root)
        .arg("test")
        .args(PROOFS)
        .args(["--", "--ignored", "--nocapture", "--test-threads=1"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let elapsed = start.elapsed();
    if !status.success() {
        return Err(format!(
            "the exhaustive proofs failed ({status}) after {elapsed:.0?}"
        ));
    }
    println!("\nthe exhaustive proofs passed in {elapsed:.0?} (build included).");
    Ok(())
}
