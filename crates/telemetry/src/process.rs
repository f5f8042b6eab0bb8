//! Facts about the running process that the allocator cannot see.

/// The peak resident set size of this process in bytes (`VmHWM` of `/proc/self/status`), or
/// `None` where that is not available (not Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Restarts the peak resident set size at the current one (writes `5` to
/// `/proc/self/clear_refs`, Linux ≥ 4.0), so [`peak_rss_bytes`] measures what follows. Returns
/// whether that worked.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
