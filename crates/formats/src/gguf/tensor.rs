//! [`TensorInfo`]: a tensor's name, dims, type and place in the data section.
//!
//! A tensor info in the file is: name (string), `n_dims` (u32), `n_dims`
//! dims (u64 each, **ne0 first**: ne0 is the contiguous row length, so dims
//! are reversed relative to numpy/PyTorch shapes), ggml type id (u32), and
//! offset (u64) relative to the start of the data section.

use super::ggml_type::GgmlType;
use super::reader::Reader;
use crate::error::{FormatError, Result, Section};

/// Most dimensions a tensor may have (`GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;

/// Smallest encoding of one tensor info: empty name (8-byte length), n_dims
/// (4), one dim (8), type (4), offset (8).
pub(crate) const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 8 + 4 + 8;

/// Description of one tensor, validated: dims nonzero, element and byte
/// counts without overflow, ne0 a whole number of blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    name: String,
    /// ne0 first; entries past `n_dims` are 1.
    dims: [u64; MAX_DIMS],
    n_dims: usize,
    ggml_type: GgmlType,
    offset: u64,
    n_elements: u64,
    n_bytes: u64,
}

impl TensorInfo {
    /// Builds and validates an info (used by the reader and the writer).
    pub fn new(name: String, dims: &[u64], ggml_type: GgmlType, offset: u64) -> Result<Self> {
        check_dim_count(&name, dims.len() as u64)?;
        let n_elements = element_count(&name, dims)?;
        let n_bytes = byte_count(&name, dims, ggml_type, n_elements)?;
        let mut padded = [1u64; MAX_DIMS];
        padded[..dims.len()].copy_from_slice(dims);
        Ok(Self {
            name,
            dims: padded,
            n_dims: dims.len(),
            ggml_type,
            offset,
            n_elements,
            n_bytes,
        })
    }

    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Dims, ne0 (the contiguous row length) first: `[ne0, ne1, ...]`.
    /// Reverse them for a numpy-order shape.
    pub fn dims(&self) -> &[u64] {
        &self.dims[..self.n_dims]
    }

    /// Element type.
    pub fn ggml_type(&self) -> GgmlType {
        self.ggml_type
    }

    /// Offset of the first byte, relative to the data section.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Number of elements (product of dims).
    pub fn n_elements(&self) -> u64 {
        self.n_elements
    }

    /// Number of bytes in the data section.
    pub fn n_bytes(&self) -> u64 {
        self.n_bytes
    }

    /// Row length ne0, in elements.
    pub fn row_len(&self) -> u64 {
        self.dims[0]
    }

    /// Number of rows: the product of all dims but ne0.
    pub fn n_rows(&self) -> u64 {
        // Cannot overflow: the full product was checked.
        self.n_elements / self.dims[0]
    }

    /// Relative end offset (`offset + n_bytes`), `None` on overflow.
    pub(crate) fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.n_bytes)
    }
}

fn check_dim_count(name: &str, n_dims: u64) -> Result<()> {
    if n_dims == 0 || n_dims > MAX_DIMS as u64 {
        return Err(FormatError::BadDimCount {
            name: name.to_owned(),
            n_dims: u32::try_from(n_dims).unwrap_or(u32::MAX),
            max: MAX_DIMS,
        });
    }
    Ok(())
}

/// Product of dims; every dim nonzero, product ≤ `i64::MAX` (ggml's limit).
fn element_count(name: &str, dims: &[u64]) -> Result<u64> {
    if let Some(axis) = dims.iter().position(|&d| d == 0) {
        return Err(FormatError::ZeroDim {
            name: name.to_owned(),
            axis,
            dims: dims.to_vec(),
        });
    }
    dims.iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= i64::MAX as u64)
        .ok_or_else(|| FormatError::DimsOverflow {
            name: name.to_owned(),
            dims: dims.to_vec(),
        })
}

/// Bytes of the tensor; ne0 must be a whole number of blocks.
fn byte_count(name: &str, dims: &[u64], ty: GgmlType, n_elements: u64) -> Result<u64> {
    let ne0 = dims[0];
    if !ne0.is_multiple_of(ty.block_size()) {
        return Err(FormatError::NotBlockMultiple {
            name: name.to_owned(),
            ne0,
            ggml_type: ty.name(),
            block_size: ty.block_size(),
        });
    }
    ty.bytes_for(n_elements)
        .ok_or_else(|| FormatError::DimsOverflow {
            name: name.to_owned(),
            dims: dims.to_vec(),
        })
}

/// Reads tensor info `index` at the reader's position.
pub(crate) fn read_tensor_info(r: &mut Reader<'_>, index: u64) -> Result<TensorInfo> {
    r.section = Section::TensorInfo { index, name: None };
    let name = r.string()?;
    r.section = Section::TensorInfo {
        index,
        name: Some(name.clone()),
    };
    let n_dims = r.u32()?;
    check_dim_count(&name, n_dims.into())?;
    let mut dims = [0u64; MAX_DIMS];
    for dim in dims.iter_mut().take(n_dims as usize) {
        *dim = r.u64()?;
    }
    let type_id = r.u32()?;
    let offset = r.u64()?;
    let ggml_type = GgmlType::from_id(type_id).ok_or_else(|| FormatError::UnknownGgmlType {
        name: name.clone(),
        type_id,
    })?;
    TensorInfo::new(name, &dims[..n_dims as usize], ggml_type, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked() {
        let ok = TensorInfo::new("w".into(), &[64, 3], GgmlType::Q8_0, 0).unwrap();
        assert_eq!(
            (ok.n_elements(), ok.n_bytes(), ok.n_rows()),
            (192, 6 * 34, 3)
        );
        let bad = |dims: &[u64], ty| TensorInfo::new("w".into(), dims, ty, 0).unwrap_err();
        assert!(matches!(
            bad(&[], GgmlType::F32),
            FormatError::BadDimCount { n_dims: 0, .. }
        ));
        assert!(matches!(
            bad(&[1; 5], GgmlType::F32),
            FormatError::BadDimCount { n_dims: 5, .. }
        ));
        assert!(matches!(
            bad(&[4, 0], GgmlType::F32),
            FormatError::ZeroDim { axis: 1, .. }
        ));
        assert!(matches!(
            bad(&[1 << 32, 1 << 32], GgmlType::F32),
            FormatError::DimsOverflow { .. }
        ));
        assert!(matches!(
            bad(&[1 << 62], GgmlType::F32),
            FormatError::DimsOverflow { .. }
        ));
        assert!(matches!(
            bad(&[48, 2], GgmlType::Q4_0),
            FormatError::NotBlockMultiple { ne0: 48, .. }
        ));
    }
}
