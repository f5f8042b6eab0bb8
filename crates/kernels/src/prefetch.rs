//! A software prefetch hint, for the GEMV kernels: weight rows of a few
//! hundred floats are too short a stream for the hardware prefetcher to ramp
//! up before the loop moves on, so the kernels ask for the lines they will
//! read one or two row groups later.

/// Asks the CPU to bring the cache line at `p` into L1. A hint only.
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch is only a
    // hint: it never faults or reads memory architecturally, whatever `p` is.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The cache line the hints work in.
const LINE: usize = 64;

/// For a loop that reads a stream `step` bytes at a time, now at byte
/// `offset` of `base`: asks for the lines `ahead` bytes further on, each line
/// once — every line of the step when a step spans lines (512-bit pairs), on
/// the first step into each line when several steps share one (256-bit and
/// scalar). `step` is a constant of the loop, so the choice folds away.
#[inline(always)]
pub(crate) fn prefetch_stream(base: *const u8, offset: usize, step: usize, ahead: usize) {
    let at = base.wrapping_add(offset + ahead);
    if step >= LINE {
        for line in 0..step / LINE {
            prefetch(at.wrapping_add(line * LINE));
        }
    } else if offset % LINE < step {
        prefetch(at);
    }
}

/// How far ahead (bytes) a loop over groups of rows of `group_bytes` each
/// should prefetch: the whole number of groups nearest `target`, at least one.
#[inline(always)]
pub(crate) fn groups_ahead(group_bytes: usize, target: usize) -> usize {
    let group = group_bytes.max(1);
    ((target + group / 2) / group).max(1) * group
}
