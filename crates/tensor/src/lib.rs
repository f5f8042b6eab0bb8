//! # smallmind-tensor — the tensor layer
//!
//! Sits directly on `smallmind-kernels` and knows nothing of ops or models: it
//! describes *where numbers are*, not what to compute with them. Ops take
//! tensors from here, check shapes and dtypes, and hand plain slices to the
//! kernels.
//!
//! - [`DType`] and [`Element`] ([`dtype`]): f32, f16, bf16, described as blocks
//!   so that block-quantized types can join later.
//! - [`Shape`], [`Strides`], [`Layout`] ([`shape`]): dimensions, strides in
//!   elements, offsets, and the view arithmetic, all checked for overflow.
//! - [`AlignedBuf`] and [`Storage`] ([`storage`]): 64-byte aligned buffers, and
//!   the owned / pooled / memory-mapped bytes a tensor shares with its views.
//! - [`Tensor`] ([`tensor`]): a layout and a dtype over a storage; cheap views,
//!   typed slices, f32 conversion.
//! - [`TensorPool`] and [`PooledBuffer`] ([`pool`]): a thread-safe buffer pool
//!   by size class with an RAII guard, a retention bound and statistics.
//! - [`TensorError`] ([`error`]): every failure, with the op, shapes and dtypes.
//!
//! No function here panics on bad input; each returns a [`TensorError`]. The
//! crate has no `unsafe` code: alignment comes from a `#[repr(align(64))]`
//! block type and typed views are checked `bytemuck` casts. Memory maps are
//! made by loaders (mapping a file is `unsafe`) and only *accepted* here.
//!
//! ```
//! use smallmind_tensor::{DType, Tensor};
//!
//! // (2, 3) row-major.
//! let t = Tensor::from_f32(&[2, 3], &[0., 1., 2., 3., 4., 5.])?;
//! let col = t.narrow(1, 1, 1)?; // (2, 1): [1, 4]
//! assert_eq!(col.to_f32_vec()?, [1., 4.]);
//! let tt = t.transpose(0, 1)?; // (3, 2), strides [1, 3]
//! assert_eq!(tt.to_f32_vec()?, [0., 3., 1., 4., 2., 5.]);
//! assert!(tt.reshape(&[6]).is_err()); // not contiguous
//! assert_eq!(Tensor::zeros(&[4], DType::BF16)?.to_f32_vec()?, [0.; 4]);
//! # Ok::<(), smallmind_tensor::TensorError>(())
//! ```

#![forbid(unsafe_code)]

pub mod dtype;
pub mod error;
pub mod pool;
pub mod shape;
pub mod storage;
pub mod tensor;

pub use dtype::{DType, Element};
pub use error::{Result, TensorError};
pub use pool::{PoolStats, PooledBuffer, TensorPool};
pub use shape::{Layout, MAX_RANK, Shape, Strides};
pub use storage::{ALIGN, AlignedBuf, MapSource, Storage, StorageKind};
pub use tensor::Tensor;
