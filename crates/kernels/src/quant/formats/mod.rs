//! One module per block format: its byte layout, dequantizer, quantizer and
//! the [`BlockFormat`](super::BlockFormat) / [`WeightFormat`](super::WeightFormat)
//! / [`ActFormat`](super::ActFormat) impls. Formats of one family share a
//! module of integer views and SIMD tiles (`block32`, `kblock`).

mod block32;
mod kblock;
mod q4_0;
mod q4_1;
mod q4_k;
mod q6_k;
mod q8_0;
mod q8_1;
mod q8_k;

pub(crate) use block32::{Act32, Block32, Kind, RawScale};
pub(crate) use kblock::{KBlock, KKind};
pub use q4_0::BlockQ4_0;
pub use q4_1::BlockQ4_1;
pub use q4_k::BlockQ4K;
pub use q6_k::BlockQ6K;
pub use q8_0::BlockQ8_0;
pub use q8_1::BlockQ8_1;
pub use q8_k::BlockQ8K;
