//! [`Metadata`]: the ordered key/value section of a GGUF file, with typed
//! getters whose errors name the key.

use std::collections::HashMap;

use super::value::{MetadataArray, MetadataValue};
use crate::error::{FormatError, Result};

/// Metadata entries in file order, with lookup by key. Keys are unique.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    entries: Vec<(String, MetadataValue)>,
    index: HashMap<String, usize>,
}

/// Defines a strict getter `$name(key) -> $ty` for `MetadataValue::$variant`.
macro_rules! strict_getter {
    ($(#[$doc:meta])* $name:ident, $variant:ident, $ty:ty, $expected:literal) => {
        $(#[$doc])*
        pub fn $name(&self, key: &str) -> Result<$ty> {
            match self.require(key)? {
                MetadataValue::$variant(v) => Ok(*v),
                other => Err(wrong_type(key, $expected, other)),
            }
        }
    };
}

impl Metadata {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an entry; errors if the key is already present.
    pub fn insert(&mut self, key: String, value: MetadataValue) -> Result<()> {
        if self.index.contains_key(&key) {
            return Err(FormatError::DuplicateKey { key });
        }
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
        Ok(())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in file order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &MetadataValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    /// The value of `key`, or [`FormatError::MissingKey`].
    pub fn require(&self, key: &str) -> Result<&MetadataValue> {
        self.get(key).ok_or_else(|| FormatError::MissingKey {
            key: key.to_owned(),
        })
    }

    strict_getter!(
        /// A `u8` value.
        get_u8, U8, u8, "u8"
    );
    strict_getter!(
        /// An `i8` value.
        get_i8, I8, i8, "i8"
    );
    strict_getter!(
        /// A `u16` value.
        get_u16, U16, u16, "u16"
    );
    strict_getter!(
        /// An `i16` value.
        get_i16, I16, i16, "i16"
    );
    strict_getter!(
        /// A `u32` value (use [`Metadata::get_int`] to accept any integer type).
        get_u32, U32, u32, "u32"
    );
    strict_getter!(
        /// An `i32` value.
        get_i32, I32, i32, "i32"
    );
    strict_getter!(
        /// A `u64` value.
        get_u64, U64, u64, "u64"
    );
    strict_getter!(
        /// An `i64` value.
        get_i64, I64, i64, "i64"
    );
    strict_getter!(
        /// An `f32` value.
        get_f32, F32, f32, "f32"
    );
    strict_getter!(
        /// An `f64` value.
        get_f64, F64, f64, "f64"
    );
    strict_getter!(
        /// A `bool` value.
        get_bool, Bool, bool, "bool"
    );

    /// An integer of any of the eight integer types, converted to `T` if it
    /// fits. Writers differ in which integer type they use for the same key
    /// (u32 vs i32 vs u64), so model loaders should prefer this getter.
    pub fn get_int<T: TryFrom<i128>>(&self, key: &str) -> Result<T> {
        let value = self.require(key)?;
        let wide = value
            .as_integer()
            .ok_or_else(|| wrong_type(key, "an integer", value))?;
        T::try_from(wide).map_err(|_| FormatError::ValueOutOfRange {
            key: key.to_owned(),
            value: wide,
            target: std::any::type_name::<T>(),
        })
    }

    /// An `f32` or `f64` value, as `f64`.
    pub fn get_float(&self, key: &str) -> Result<f64> {
        let value = self.require(key)?;
        value
            .as_float()
            .ok_or_else(|| wrong_type(key, "a float", value))
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        let value = self.require(key)?;
        value
            .as_str()
            .ok_or_else(|| wrong_type(key, "string", value))
    }

    /// An array value of any element type.
    pub fn get_array(&self, key: &str) -> Result<&MetadataArray> {
        let value = self.require(key)?;
        value
            .as_array()
            .ok_or_else(|| wrong_type(key, "array", value))
    }

    /// An array of strings (e.g. `tokenizer.ggml.tokens`).
    pub fn get_str_array(&self, key: &str) -> Result<&[String]> {
        self.typed_array(key, "array of string", MetadataArray::as_strings)
    }

    /// An array of `i32` (e.g. `tokenizer.ggml.token_type`).
    pub fn get_i32_array(&self, key: &str) -> Result<&[i32]> {
        self.typed_array(key, "array of i32", MetadataArray::as_i32s)
    }

    /// An array of `f32` (e.g. `tokenizer.ggml.scores`).
    pub fn get_f32_array(&self, key: &str) -> Result<&[f32]> {
        self.typed_array(key, "array of f32", MetadataArray::as_f32s)
    }

    fn typed_array<'a, T: ?Sized>(
        &'a self,
        key: &str,
        expected: &'static str,
        view: impl FnOnce(&'a MetadataArray) -> Option<&'a T>,
    ) -> Result<&'a T> {
        let value = self.require(key)?;
        value
            .as_array()
            .and_then(view)
            .ok_or_else(|| wrong_type(key, expected, value))
    }
}

fn wrong_type(key: &str, expected: &'static str, found: &MetadataValue) -> FormatError {
    FormatError::WrongType {
        key: key.to_owned(),
        expected,
        found: found.type_description(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        let mut m = Metadata::new();
        m.insert("a.u32".into(), MetadataValue::U32(7)).unwrap();
        m.insert("a.i64".into(), MetadataValue::I64(-3)).unwrap();
        m.insert("a.big".into(), MetadataValue::U64(u64::MAX))
            .unwrap();
        m.insert("a.s".into(), MetadataValue::String("x".into()))
            .unwrap();
        m
    }

    #[test]
    fn getters_check_key_and_type() {
        let m = sample();
        assert_eq!(m.get_u32("a.u32").unwrap(), 7);
        assert!(matches!(m.get_u32("nope"), Err(FormatError::MissingKey { key }) if key == "nope"));
        assert!(
            matches!(m.get_u32("a.i64"), Err(FormatError::WrongType { key, .. }) if key == "a.i64")
        );
        assert_eq!(m.get_str("a.s").unwrap(), "x");
        assert!(m.get_str_array("a.s").is_err());
    }

    #[test]
    fn tolerant_integer_getter() {
        let m = sample();
        assert_eq!(m.get_int::<usize>("a.u32").unwrap(), 7);
        assert_eq!(m.get_int::<i32>("a.i64").unwrap(), -3);
        assert!(matches!(
            m.get_int::<u32>("a.i64"),
            Err(FormatError::ValueOutOfRange { value: -3, .. })
        ));
        assert!(m.get_int::<u32>("a.big").is_err());
        assert!(m.get_int::<u32>("a.s").is_err());
    }

    #[test]
    fn duplicate_keys_are_refused_and_order_kept() {
        let mut m = sample();
        let dup = m.insert("a.s".into(), MetadataValue::Bool(true));
        assert!(matches!(dup, Err(FormatError::DuplicateKey { .. })));
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a.u32", "a.i64", "a.big", "a.s"]);
    }
}
