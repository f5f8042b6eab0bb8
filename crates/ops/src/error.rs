//! The one error type of the ops crate.

use smallmind_kernels::KernelError;
use smallmind_tensor::TensorError;

/// Why an op refused its arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsError {
    /// A buffer's length does not match the shape the op was given.
    #[error("{op}: `{operand}` has length {actual}, expected {expected}")]
    Length {
        /// The op.
        op: &'static str,
        /// The buffer.
        operand: &'static str,
        /// The length its shape implies.
        expected: usize,
        /// The length passed.
        actual: usize,
    },
    /// Two dimensions that must agree do not.
    #[error("{op}: {what}")]
    Shape {
        /// The op.
        op: &'static str,
        /// The disagreement, with the numbers.
        what: String,
    },
    /// A weight is stored in a dtype this op cannot use.
    #[error("{op}: unsupported weight dtype {dtype}")]
    DType {
        /// The op.
        op: &'static str,
        /// The dtype's name.
        dtype: &'static str,
    },
    /// A kernel rejected its arguments.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// A tensor access failed.
    #[error(transparent)]
    Tensor(#[from] TensorError),
}
