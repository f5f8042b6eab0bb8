//! A bounds-checked little-endian cursor over the bytes of a GGUF file.
//!
//! Every read checks the bytes left first, and every count read from the
//! file is checked against the bytes left (times the smallest encoding of one
//! item) before anything is allocated from it.

use super::value::{MetadataArray, MetadataValue, MetadataValueType};
use crate::error::{FormatError, Result, Section};

/// Deepest nesting of arrays inside arrays accepted in metadata. Real files
/// use at most 2; the limit keeps hostile files from exhausting the stack.
pub const MAX_ARRAY_DEPTH: usize = 8;

/// A position in a byte slice plus the [`Section`] being read, for errors.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    pub(crate) section: Section,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            section: Section::Header,
        }
    }

    /// Current absolute offset.
    pub(crate) fn pos(&self) -> u64 {
        self.pos as u64
    }

    /// Bytes left after the current position.
    pub(crate) fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    /// The next `n` bytes, or [`FormatError::Truncated`].
    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let available = self.remaining();
        if n > available {
            return Err(FormatError::Truncated {
                section: self.section.clone(),
                offset: self.pos(),
                needed: n,
                available,
            });
        }
        // `n <= remaining`, which is a `usize`.
        let n = n as usize;
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self.take(N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        self.array().map(u64::from_le_bytes)
    }

    /// Checks that `count` items of at least `min_item_bytes` each can fit in
    /// the bytes left, and returns `count` as a `usize` safe to allocate.
    pub(crate) fn check_count(
        &self,
        what: &'static str,
        count: u64,
        min_item_bytes: u64,
    ) -> Result<usize> {
        let available = self.remaining();
        let fits = count
            .checked_mul(min_item_bytes)
            .is_some_and(|total| total <= available);
        if !fits {
            return Err(FormatError::CountTooLarge {
                section: self.section.clone(),
                what,
                count,
                min_item_bytes,
                available,
            });
        }
        // `count <= available` (items are at least one byte), a `usize`.
        Ok(count as usize)
    }

    /// A GGUF string: u64 byte length, then UTF-8 bytes (no terminator).
    pub(crate) fn string(&mut self) -> Result<String> {
        let len = self.u64()?;
        self.check_count("string length", len, 1)?;
        let offset = self.pos();
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(FormatError::InvalidUtf8 {
                section: self.section.clone(),
                offset,
            }),
        }
    }

    /// A u32 metadata value type id.
    pub(crate) fn value_type(&mut self) -> Result<MetadataValueType> {
        let type_id = self.u32()?;
        MetadataValueType::from_id(type_id).ok_or_else(|| FormatError::UnknownValueType {
            section: self.section.clone(),
            type_id,
        })
    }

    fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            byte => Err(FormatError::InvalidBool {
                section: self.section.clone(),
                byte,
            }),
        }
    }

    /// One metadata value of type `ty`; `depth` counts enclosing arrays.
    pub(crate) fn value(&mut self, ty: MetadataValueType, depth: usize) -> Result<MetadataValue> {
        use MetadataValue as V;
        use MetadataValueType as T;
        Ok(match ty {
            T::U8 => V::U8(self.u8()?),
            T::I8 => V::I8(i8::from_le_bytes(self.array()?)),
            T::U16 => V::U16(u16::from_le_bytes(self.array()?)),
            T::I16 => V::I16(i16::from_le_bytes(self.array()?)),
            T::U32 => V::U32(self.u32()?),
            T::I32 => V::I32(i32::from_le_bytes(self.array()?)),
            T::F32 => V::F32(f32::from_le_bytes(self.array()?)),
            T::Bool => V::Bool(self.bool()?),
            T::String => V::String(self.string()?),
            T::Array => V::Array(self.metadata_array(depth + 1)?),
            T::U64 => V::U64(self.u64()?),
            T::I64 => V::I64(i64::from_le_bytes(self.array()?)),
            T::F64 => V::F64(f64::from_le_bytes(self.array()?)),
        })
    }

    /// An array: u32 element type, u64 count, elements. `depth` is this
    /// array's nesting level (1 for a top-level array value).
    fn metadata_array(&mut self, depth: usize) -> Result<MetadataArray> {
        if depth > MAX_ARRAY_DEPTH {
            return Err(FormatError::ArrayTooDeep {
                section: self.section.clone(),
                max_depth: MAX_ARRAY_DEPTH,
            });
        }
        let element = self.value_type()?;
        let count = self.u64()?;
        let n = self.check_count("array length", count, element.min_encoded_size())?;
        self.array_elements(element, n, depth)
    }

    fn array_elements(
        &mut self,
        element: MetadataValueType,
        n: usize,
        depth: usize,
    ) -> Result<MetadataArray> {
        use MetadataArray as A;
        use MetadataValueType as T;
        Ok(match element {
            T::U8 => A::U8(self.take(n as u64)?.to_vec()),
            T::I8 => A::I8(self.fixed_elements(n, i8::from_le_bytes)?),
            T::U16 => A::U16(self.fixed_elements(n, u16::from_le_bytes)?),
            T::I16 => A::I16(self.fixed_elements(n, i16::from_le_bytes)?),
            T::U32 => A::U32(self.fixed_elements(n, u32::from_le_bytes)?),
            T::I32 => A::I32(self.fixed_elements(n, i32::from_le_bytes)?),
            T::F32 => A::F32(self.fixed_elements(n, f32::from_le_bytes)?),
            T::Bool => A::Bool(self.elements(n, Self::bool)?),
            T::String => A::String(self.elements(n, Self::string)?),
            T::Array => A::Array(self.elements(n, |r| r.metadata_array(depth + 1))?),
            T::U64 => A::U64(self.fixed_elements(n, u64::from_le_bytes)?),
            T::I64 => A::I64(self.fixed_elements(n, i64::from_le_bytes)?),
            T::F64 => A::F64(self.fixed_elements(n, f64::from_le_bytes)?),
        })
    }

    /// `n` fixed-size little-endian numbers decoded with `decode`.
    fn fixed_elements<T, const N: usize>(
        &mut self,
        n: usize,
        decode: fn([u8; N]) -> T,
    ) -> Result<Vec<T>> {
        // `n * N` was checked against the bytes left by `check_count`.
        let bytes = self.take((n * N) as u64)?;
        Ok(bytes
            .chunks_exact(N)
            .map(|chunk| {
                let mut raw = [0u8; N];
                raw.copy_from_slice(chunk);
                decode(raw)
            })
            .collect())
    }

    /// `n` variable-size elements read one by one with `read`.
    fn elements<T>(
        &mut self,
        n: usize,
        mut read: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(read(self)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_past_end_is_truncated() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.take(2).unwrap(), &[1, 2]);
        assert!(matches!(
            r.take(2),
            Err(FormatError::Truncated {
                offset: 2,
                needed: 2,
                available: 1,
                ..
            })
        ));
    }

    #[test]
    fn huge_counts_are_refused_before_allocating() {
        let r = Reader::new(&[0; 16]);
        assert!(r.check_count("x", u64::MAX, 8).is_err());
        assert!(r.check_count("x", 3, 8).is_err());
        assert_eq!(r.check_count("x", 2, 8).unwrap(), 2);
    }

    #[test]
    fn deep_arrays_are_refused() {
        // Array of arrays of arrays ... each with one element.
        let mut bytes = Vec::new();
        for _ in 0..=MAX_ARRAY_DEPTH {
            bytes.extend_from_slice(&MetadataValueType::Array.id().to_le_bytes());
            bytes.extend_from_slice(&1u64.to_le_bytes());
        }
        let mut r = Reader::new(&bytes);
        let got = r.value(MetadataValueType::Array, 0);
        assert!(matches!(got, Err(FormatError::ArrayTooDeep { .. })));
    }
}
