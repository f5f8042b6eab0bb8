//! `cargo xtask profile`: builds the CLI in release and runs its hot-path profile.

/// Flags of `cargo xtask profile`.
#[derive(clap::Args)]
pub(crate) struct Args {}

/// Runs the task.
pub(crate) fn run(_args: &Args) -> Result<(), String> {
    Err("not implemented yet".into())
}
