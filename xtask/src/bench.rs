//! `cargo xtask bench`: runs the benches and gates instruction counts (owned by the bench work).

/// Flags of `cargo xtask bench`.
#[derive(clap::Args)]
pub(crate) struct Args {}

/// Runs the task.
pub(crate) fn run(_args: &Args) -> Result<(), String> {
    Err("not implemented yet".into())
}
