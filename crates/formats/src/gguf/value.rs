//! Metadata values: [`MetadataValueType`], [`MetadataValue`], [`MetadataArray`].
//!
//! GGUF metadata values are one of 13 types (ids as in the GGUF spec:
//! u8 = 0, i8, u16, i16, u32, i32, f32, bool, string, array, u64, i64,
//! f64 = 12). Arrays hold elements of one type, which may itself be `array`
//! (each inner array then has its own element type). Arrays are stored here
//! as typed vectors, so a 50 000-entry token list is one `Vec<String>`.

use std::fmt;

/// The type id of a metadata value, as stored in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetadataValueType {
    /// `u8`, id 0.
    U8,
    /// `i8`, id 1.
    I8,
    /// `u16`, id 2.
    U16,
    /// `i16`, id 3.
    I16,
    /// `u32`, id 4.
    U32,
    /// `i32`, id 5.
    I32,
    /// `f32`, id 6.
    F32,
    /// `bool` (one byte, 0 or 1), id 7.
    Bool,
    /// UTF-8 string (u64 length + bytes), id 8.
    String,
    /// Array (element type u32 + u64 count + elements), id 9.
    Array,
    /// `u64`, id 10.
    U64,
    /// `i64`, id 11.
    I64,
    /// `f64`, id 12.
    F64,
}

/// Bytes of a u64 length prefix.
const LEN_BYTES: u64 = 8;
/// Bytes of a u32 type id.
const TYPE_ID_BYTES: u64 = 4;

impl MetadataValueType {
    /// The type with this id, or `None`.
    pub fn from_id(id: u32) -> Option<Self> {
        use MetadataValueType::*;
        const BY_ID: [MetadataValueType; 13] = [
            U8, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64,
        ];
        BY_ID.get(usize::try_from(id).ok()?).copied()
    }

    /// The id stored in files.
    pub fn id(self) -> u32 {
        use MetadataValueType::*;
        match self {
            U8 => 0,
            I8 => 1,
            U16 => 2,
            I16 => 3,
            U32 => 4,
            I32 => 5,
            F32 => 6,
            Bool => 7,
            String => 8,
            Array => 9,
            U64 => 10,
            I64 => 11,
            F64 => 12,
        }
    }

    /// Lower-case name, e.g. `"u32"`.
    pub fn name(self) -> &'static str {
        use MetadataValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }

    /// The smallest number of bytes one value of this type takes in a file:
    /// its fixed size, a string's length prefix, or an array's type + count.
    /// Used to bound counts read from the file before allocating.
    pub fn min_encoded_size(self) -> u64 {
        use MetadataValueType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 => 8,
            String => LEN_BYTES,
            Array => TYPE_ID_BYTES + LEN_BYTES,
        }
    }
}

impl fmt::Display for MetadataValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum MetadataValue {
    /// `u8`.
    U8(u8),
    /// `i8`.
    I8(i8),
    /// `u16`.
    U16(u16),
    /// `i16`.
    I16(i16),
    /// `u32`.
    U32(u32),
    /// `i32`.
    I32(i32),
    /// `f32`.
    F32(f32),
    /// `bool`.
    Bool(bool),
    /// UTF-8 string.
    String(String),
    /// Array of one element type.
    Array(MetadataArray),
    /// `u64`.
    U64(u64),
    /// `i64`.
    I64(i64),
    /// `f64`.
    F64(f64),
}

impl MetadataValue {
    /// The value's type.
    pub fn value_type(&self) -> MetadataValueType {
        use MetadataValue as V;
        use MetadataValueType as T;
        match self {
            V::U8(_) => T::U8,
            V::I8(_) => T::I8,
            V::U16(_) => T::U16,
            V::I16(_) => T::I16,
            V::U32(_) => T::U32,
            V::I32(_) => T::I32,
            V::F32(_) => T::F32,
            V::Bool(_) => T::Bool,
            V::String(_) => T::String,
            V::Array(_) => T::Array,
            V::U64(_) => T::U64,
            V::I64(_) => T::I64,
            V::F64(_) => T::F64,
        }
    }

    /// A name for error messages: the type, and the element type for arrays
    /// (e.g. `"array of string"`).
    pub fn type_description(&self) -> String {
        match self {
            MetadataValue::Array(a) => format!("array of {}", a.element_type()),
            other => other.value_type().name().to_owned(),
        }
    }

    /// The value as an integer, for any of the eight integer types.
    pub fn as_integer(&self) -> Option<i128> {
        use MetadataValue as V;
        Some(match *self {
            V::U8(v) => v.into(),
            V::I8(v) => v.into(),
            V::U16(v) => v.into(),
            V::I16(v) => v.into(),
            V::U32(v) => v.into(),
            V::I32(v) => v.into(),
            V::U64(v) => v.into(),
            V::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// The value as `f64`, for `f32` and `f64`.
    pub fn as_float(&self) -> Option<f64> {
        match *self {
            MetadataValue::F32(v) => Some(v.into()),
            MetadataValue::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The string, for `string` values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetadataValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The array, for `array` values.
    pub fn as_array(&self) -> Option<&MetadataArray> {
        match self {
            MetadataValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// Most array elements [`fmt::Display`] shows before `...`.
const DISPLAY_ARRAY_HEAD: usize = 8;

impl fmt::Display for MetadataValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MetadataValue as V;
        match self {
            V::U8(v) => write!(f, "{v}"),
            V::I8(v) => write!(f, "{v}"),
            V::U16(v) => write!(f, "{v}"),
            V::I16(v) => write!(f, "{v}"),
            V::U32(v) => write!(f, "{v}"),
            V::I32(v) => write!(f, "{v}"),
            V::F32(v) => write!(f, "{v}"),
            V::Bool(v) => write!(f, "{v}"),
            V::String(v) => write!(f, "{v:?}"),
            V::Array(v) => write!(f, "{v}"),
            V::U64(v) => write!(f, "{v}"),
            V::I64(v) => write!(f, "{v}"),
            V::F64(v) => write!(f, "{v}"),
        }
    }
}

/// An array value: a vector of one element type.
#[derive(Clone, Debug, PartialEq)]
pub enum MetadataArray {
    /// `u8` elements.
    U8(Vec<u8>),
    /// `i8` elements.
    I8(Vec<i8>),
    /// `u16` elements.
    U16(Vec<u16>),
    /// `i16` elements.
    I16(Vec<i16>),
    /// `u32` elements.
    U32(Vec<u32>),
    /// `i32` elements.
    I32(Vec<i32>),
    /// `f32` elements.
    F32(Vec<f32>),
    /// `bool` elements.
    Bool(Vec<bool>),
    /// String elements.
    String(Vec<String>),
    /// Nested arrays, each with its own element type.
    Array(Vec<MetadataArray>),
    /// `u64` elements.
    U64(Vec<u64>),
    /// `i64` elements.
    I64(Vec<i64>),
    /// `f64` elements.
    F64(Vec<f64>),
}

/// Applies `$body` to the vector inside any [`MetadataArray`] variant.
macro_rules! each_array {
    ($array:expr, $v:ident => $body:expr) => {
        match $array {
            MetadataArray::U8($v) => $body,
            MetadataArray::I8($v) => $body,
            MetadataArray::U16($v) => $body,
            MetadataArray::I16($v) => $body,
            MetadataArray::U32($v) => $body,
            MetadataArray::I32($v) => $body,
            MetadataArray::F32($v) => $body,
            MetadataArray::Bool($v) => $body,
            MetadataArray::String($v) => $body,
            MetadataArray::Array($v) => $body,
            MetadataArray::U64($v) => $body,
            MetadataArray::I64($v) => $body,
            MetadataArray::F64($v) => $body,
        }
    };
}

impl MetadataArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        each_array!(self, v => v.len())
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn element_type(&self) -> MetadataValueType {
        use MetadataArray as A;
        use MetadataValueType as T;
        match self {
            A::U8(_) => T::U8,
            A::I8(_) => T::I8,
            A::U16(_) => T::U16,
            A::I16(_) => T::I16,
            A::U32(_) => T::U32,
            A::I32(_) => T::I32,
            A::F32(_) => T::F32,
            A::Bool(_) => T::Bool,
            A::String(_) => T::String,
            A::Array(_) => T::Array,
            A::U64(_) => T::U64,
            A::I64(_) => T::I64,
            A::F64(_) => T::F64,
        }
    }

    /// The strings, for arrays of strings.
    pub fn as_strings(&self) -> Option<&[String]> {
        match self {
            MetadataArray::String(v) => Some(v),
            _ => None,
        }
    }

    /// The numbers, for arrays of `i32`.
    pub fn as_i32s(&self) -> Option<&[i32]> {
        match self {
            MetadataArray::I32(v) => Some(v),
            _ => None,
        }
    }

    /// The numbers, for arrays of `u32`.
    pub fn as_u32s(&self) -> Option<&[u32]> {
        match self {
            MetadataArray::U32(v) => Some(v),
            _ => None,
        }
    }

    /// The numbers, for arrays of `f32`.
    pub fn as_f32s(&self) -> Option<&[f32]> {
        match self {
            MetadataArray::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The inner arrays, for arrays of arrays.
    pub fn as_arrays(&self) -> Option<&[MetadataArray]> {
        match self {
            MetadataArray::Array(v) => Some(v),
            _ => None,
        }
    }

    /// Element `index` as an integer, for arrays of any integer type.
    pub fn integer_at(&self, index: usize) -> Option<i128> {
        use MetadataArray as A;
        Some(match self {
            A::U8(v) => (*v.get(index)?).into(),
            A::I8(v) => (*v.get(index)?).into(),
            A::U16(v) => (*v.get(index)?).into(),
            A::I16(v) => (*v.get(index)?).into(),
            A::U32(v) => (*v.get(index)?).into(),
            A::I32(v) => (*v.get(index)?).into(),
            A::U64(v) => (*v.get(index)?).into(),
            A::I64(v) => (*v.get(index)?).into(),
            _ => return None,
        })
    }
}

impl fmt::Display for MetadataArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}; {}]", self.element_type(), self.len())?;
        each_array!(self, v => write_head(f, v))
    }
}

/// Writes ` [a, b, ...]`: the first [`DISPLAY_ARRAY_HEAD`] elements.
fn write_head<T: fmt::Debug>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    let head = &items[..items.len().min(DISPLAY_ARRAY_HEAD)];
    write!(f, " {head:?}")?;
    if items.len() > head.len() {
        write!(f, "...")?;
    }
    Ok(())
}
