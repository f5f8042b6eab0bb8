//! Running `git` in the workspace: the baseline history records the commit it was measured
//! on, and the baseline guard reads the commits that changed the baseline.

use std::path::Path;
use std::process::Command;

/// Runs `git ARGS` in `root`; its stdout, or an error naming the command and git's message.
pub(crate) fn git(root: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "`git {}` failed ({}): {}",
            args.join(" "),
            output.status,
            stderr.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The full hash of `HEAD`, and whether tracked files differ from it (the measurement then
/// includes uncommitted changes).
pub(crate) fn head(root: &Path) -> Result<(String, bool), String> {
    let hash = git(root, &["rev-parse", "HEAD"])?.trim().to_string();
    let changes = git(root, &["status", "--porcelain", "--untracked-files=no"])?;
    Ok((hash, !changes.trim().is_empty()))
}
