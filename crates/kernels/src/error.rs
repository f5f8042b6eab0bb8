//! The one error type of the kernels crate.

use crate::dispatch::SimdPath;

/// Why a kernel refused its arguments.
///
/// Kernels check the relations between their slices and dimensions up front and
/// report the first violation here, naming the operation and the operand, instead
/// of panicking on an out-of-bounds index halfway through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// Two operands that must have the same length do not.
    #[error("{op}: `{operand}` has length {actual}, expected {expected}")]
    LengthMismatch {
        /// The kernel, e.g. `"axpy"`.
        op: &'static str,
        /// The offending operand, e.g. `"y"`.
        operand: &'static str,
        /// The length the other arguments imply.
        expected: usize,
        /// The length that was passed.
        actual: usize,
    },
    /// A buffer is shorter than its dimensions and leading dimension require.
    #[error("{op}: `{operand}` has length {actual}, needs at least {required}")]
    BufferTooSmall {
        /// The kernel.
        op: &'static str,
        /// The offending operand.
        operand: &'static str,
        /// The minimum length implied by the dimensions.
        required: usize,
        /// The length that was passed.
        actual: usize,
    },
    /// A leading dimension (row stride) is smaller than the row it must hold.
    #[error(
        "{op}: leading dimension of `{operand}` is {ld}, smaller than its row length {row_len}"
    )]
    LeadingDimension {
        /// The kernel.
        op: &'static str,
        /// The offending operand.
        operand: &'static str,
        /// The leading dimension that was passed.
        ld: usize,
        /// The row length it must cover.
        row_len: usize,
    },
    /// A dimension has a value the kernel cannot work with (for example an odd
    /// RoPE head size, or a row length that does not divide the buffer).
    #[error("{op}: invalid dimension `{dim}` = {value}: {reason}")]
    InvalidDimension {
        /// The kernel.
        op: &'static str,
        /// The dimension's name.
        dim: &'static str,
        /// Its value.
        value: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A dimension product overflows `usize`.
    #[error("{op}: the dimensions of `{operand}` overflow usize")]
    SizeOverflow {
        /// The kernel.
        op: &'static str,
        /// The offending operand.
        operand: &'static str,
    },
    /// A SIMD path was requested that this CPU (or this build) cannot run.
    #[error("SIMD path {0} is not available on this CPU")]
    PathUnavailable(SimdPath),
    /// The `SMALLMIND_SIMD` environment variable names no known path.
    #[error("unknown SIMD path {0:?}: expected one of scalar, v3, v4, neon")]
    UnknownPath(String),
}

/// Returns `Err(LengthMismatch)` unless `actual == expected`.
#[inline]
pub(crate) fn check_len(
    op: &'static str,
    operand: &'static str,
    expected: usize,
    actual: usize,
) -> Result<(), KernelError> {
    if expected == actual {
        Ok(())
    } else {
        Err(KernelError::LengthMismatch {
            op,
            operand,
            expected,
            actual,
        })
    }
}
