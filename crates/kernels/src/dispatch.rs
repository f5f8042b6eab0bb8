//! Run-time choice of the SIMD instruction set.
//!
//! The CPU is probed once; every public kernel then calls `dispatch` exactly once
//! per invocation, which monomorphises the kernel body for the chosen
//! [`pulp::Simd`] type and passes that token down (into the parts run by other workers too). Nothing
//! dispatches inside a loop.
//!
//! Which path runs is, in order of precedence:
//! 1. a scoped per-thread override set by [`with_path`] (tests and benches use it
//!    to run every path on one machine);
//! 2. the `SMALLMIND_SIMD` environment variable (`scalar`, `v3`, `v4`, `neon`),
//!    read once;
//! 3. the best path the CPU supports.
//!
//! The override is per thread on purpose: dispatch happens on the calling thread
//! before any work is split among workers, so parallel tests cannot race on it.

use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;

use pulp::WithSimd;

use crate::KernelError;

/// An instruction-set path a kernel can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimdPath {
    /// Portable code, one lane at a time (`pulp::Scalar`).
    Scalar,
    /// x86-64-v3: AVX2 + FMA, 8 f32 lanes.
    V3,
    /// x86-64-v4: AVX-512 (F, BW, CD, DQ, VL), 16 f32 lanes.
    V4,
    /// aarch64 NEON, 4 f32 lanes.
    Neon,
}

impl SimdPath {
    /// Every path, best first.
    pub const ALL: [SimdPath; 4] = [SimdPath::V4, SimdPath::V3, SimdPath::Neon, SimdPath::Scalar];

    /// The lower-case name used by `SMALLMIND_SIMD` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            SimdPath::Scalar => "scalar",
            SimdPath::V3 => "v3",
            SimdPath::V4 => "v4",
            SimdPath::Neon => "neon",
        }
    }

    /// Number of f32 lanes in one vector register on this path.
    pub fn f32_lanes(self) -> usize {
        match self {
            SimdPath::Scalar => 1,
            SimdPath::V3 => 8,
            SimdPath::V4 => 16,
            SimdPath::Neon => 4,
        }
    }

    /// Whether this CPU, with this build, can run the path.
    pub fn is_available(self) -> bool {
        match self {
            SimdPath::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            SimdPath::V3 => pulp::x86::V3::is_available(),
            #[cfg(target_arch = "x86_64")]
            SimdPath::V4 => pulp::x86::V4::is_available(),
            #[cfg(target_arch = "aarch64")]
            SimdPath::Neon => pulp::aarch64::Neon::is_available(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Parses a name as accepted by `SMALLMIND_SIMD`.
    pub fn parse(name: &str) -> Result<SimdPath, KernelError> {
        SimdPath::ALL
            .into_iter()
            .find(|path| path.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| KernelError::UnknownPath(name.to_owned()))
    }
}

impl fmt::Display for SimdPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The paths this CPU can run, best first.
pub fn available_paths() -> impl Iterator<Item = SimdPath> {
    SimdPath::ALL.into_iter().filter(|path| path.is_available())
}

/// The best path this CPU supports, ignoring every override.
pub fn best_path() -> SimdPath {
    available_paths().next().unwrap_or(SimdPath::Scalar)
}

/// The process-wide default: `SMALLMIND_SIMD` if it is set and valid, else the
/// best path. Probed once and cached.
///
/// An unknown or unavailable `SMALLMIND_SIMD` value is reported by
/// [`env_override_error`] and otherwise ignored, so a typo degrades to the best
/// path instead of aborting inference.
pub fn default_path() -> SimdPath {
    detected().0
}

/// The problem with `SMALLMIND_SIMD`, if it was set to something unusable.
pub fn env_override_error() -> Option<&'static KernelError> {
    detected().1.as_ref()
}

fn detected() -> &'static (SimdPath, Option<KernelError>) {
    static DETECTED: OnceLock<(SimdPath, Option<KernelError>)> = OnceLock::new();
    DETECTED.get_or_init(|| match std::env::var("SMALLMIND_SIMD") {
        Err(_) => (best_path(), None),
        Ok(name) => match SimdPath::parse(&name) {
            Ok(path) if path.is_available() => (path, None),
            Ok(path) => (best_path(), Some(KernelError::PathUnavailable(path))),
            Err(err) => (best_path(), Some(err)),
        },
    })
}

thread_local! {
    static THREAD_OVERRIDE: Cell<Option<SimdPath>> = const { Cell::new(None) };
}

/// The path kernels called from this thread will take.
pub fn active_path() -> SimdPath {
    THREAD_OVERRIDE.with(Cell::get).unwrap_or_else(default_path)
}

/// This thread's override, if any (for [`crate::parallel`] to carry into the
/// parts other workers run).
pub(crate) fn thread_override() -> Option<SimdPath> {
    THREAD_OVERRIDE.with(Cell::get)
}

/// Runs `f` with this thread's override set to `path` (`None`: no override),
/// restored on return or unwind.
pub(crate) fn with_override<R>(path: Option<SimdPath>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<SimdPath>);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD_OVERRIDE.with(|cell| cell.set(self.0));
        }
    }
    let _restore = Restore(THREAD_OVERRIDE.with(|cell| cell.replace(path)));
    f()
}

/// Runs `f` with every kernel called from this thread forced onto `path`.
///
/// Overrides nest and are restored when `f` returns or unwinds. The override
/// belongs to the calling thread, and to the parts of work [`crate::parallel`]
/// hands other workers from it; to force a path for kernels called inside
/// `pool.install(..)` of a rayon pool, call `with_path` inside the installed
/// closure.
pub fn with_path<R>(path: SimdPath, f: impl FnOnce() -> R) -> Result<R, KernelError> {
    if !path.is_available() {
        return Err(KernelError::PathUnavailable(path));
    }
    Ok(with_override(Some(path), f))
}

/// Runs `op` monomorphised for the active path. Call once per kernel invocation.
#[inline]
pub(crate) fn dispatch<Op: WithSimd>(op: Op) -> Op::Output {
    match active_path() {
        #[cfg(target_arch = "x86_64")]
        SimdPath::V4 => match pulp::x86::V4::try_new() {
            Some(simd) => pulp::Simd::vectorize(simd, op),
            None => pulp::Simd::vectorize(pulp::Scalar, op),
        },
        #[cfg(target_arch = "x86_64")]
        SimdPath::V3 => match pulp::x86::V3::try_new() {
            Some(simd) => pulp::Simd::vectorize(simd, op),
            None => pulp::Simd::vectorize(pulp::Scalar, op),
        },
        #[cfg(target_arch = "aarch64")]
        SimdPath::Neon => match pulp::aarch64::Neon::try_new() {
            Some(simd) => pulp::Simd::vectorize(simd, op),
            None => pulp::Simd::vectorize(pulp::Scalar, op),
        },
        _ => pulp::Simd::vectorize(pulp::Scalar, op),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_is_always_available_and_listed_last() {
        assert!(SimdPath::Scalar.is_available());
        assert_eq!(available_paths().last(), Some(SimdPath::Scalar));
    }

    #[test]
    fn with_path_overrides_and_restores() {
        let outer = active_path();
        let inner = with_path(SimdPath::Scalar, active_path).unwrap();
        assert_eq!(inner, SimdPath::Scalar);
        assert_eq!(active_path(), outer);
    }

    #[test]
    fn unavailable_path_is_an_error() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            with_path(SimdPath::Neon, || ()),
            Err(KernelError::PathUnavailable(SimdPath::Neon))
        );
    }

    #[test]
    fn parse_accepts_names_and_rejects_junk() {
        assert_eq!(SimdPath::parse("V4").unwrap(), SimdPath::V4);
        assert_eq!(SimdPath::parse(" scalar ").unwrap(), SimdPath::Scalar);
        assert!(matches!(
            SimdPath::parse("avx9"),
            Err(KernelError::UnknownPath(_))
        ));
    }
}
