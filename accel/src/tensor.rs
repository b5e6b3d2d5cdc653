//! Host-side tensors exchanged between the daemon and the backends.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::AccelError;

/// Element types a model's inputs and outputs may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit IEEE 754 float (ONNX FLOAT, OIP FP32).
    F32,
    /// 64-bit IEEE 754 float (ONNX DOUBLE, OIP FP64).
    F64,
    /// 64-bit signed integer (ONNX INT64, OIP INT64).
    I64,
    /// 32-bit signed integer (ONNX INT32, OIP INT32).
    I32,
    /// 8-bit unsigned integer (ONNX UINT8, OIP UINT8).
    U8,
    /// Boolean, one byte 0 or 1 (ONNX BOOL, OIP BOOL).
    Bool,
    /// IEEE 754 half precision (ONNX FLOAT16, OIP FP16).
    F16,
    /// UTF-8 text (ONNX STRING, OIP BYTES).
    Str,
}

impl DType {
    /// The short name used in edgeserve's files and messages (`f32`, `i64`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::U8 => "u8",
            DType::Bool => "bool",
            DType::F16 => "f16",
            DType::Str => "str",
        }
    }

    /// Parses the short name (`f32`, `i64`, ...).
    /// Bytes one element takes (BOOL: one byte; STR: 0, its elements vary in length).
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 => 2,
            DType::U8 | DType::Bool => 1,
            DType::Str => 0,
        }
    }

    /// The dtype of a short name as [`DType::as_str`] writes it (`f32`, `i64`, `str`, ...);
    /// `None` for any other text.
    pub fn parse(s: &str) -> Option<DType> {
        Some(match s {
            "f32" => DType::F32,
            "f64" => DType::F64,
            "i64" => DType::I64,
            "i32" => DType::I32,
            "u8" => DType::U8,
            "bool" => DType::Bool,
            "f16" => DType::F16,
            "str" => DType::Str,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The elements of a tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// [`DType::F32`] elements.
    F32(Vec<f32>),
    /// [`DType::F64`] elements.
    F64(Vec<f64>),
    /// [`DType::I64`] elements.
    I64(Vec<i64>),
    /// [`DType::I32`] elements.
    I32(Vec<i32>),
    /// [`DType::U8`] elements.
    U8(Vec<u8>),
    /// [`DType::Bool`] elements.
    Bool(Vec<bool>),
    /// [`DType::F16`] elements.
    F16(Vec<half::f16>),
    /// [`DType::Str`] elements.
    Str(Vec<String>),
}

impl TensorData {
    /// `n` zeros (false) of `dtype`.
    pub fn zeros(dtype: DType, n: usize) -> TensorData {
        match dtype {
            DType::F32 => TensorData::F32(vec![0.0; n]),
            DType::F64 => TensorData::F64(vec![0.0; n]),
            DType::I64 => TensorData::I64(vec![0; n]),
            DType::I32 => TensorData::I32(vec![0; n]),
            DType::U8 => TensorData::U8(vec![0; n]),
            DType::Bool => TensorData::Bool(vec![false; n]),
            DType::F16 => TensorData::F16(vec![half::f16::ZERO; n]),
            DType::Str => TensorData::Str(vec![String::new(); n]),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::I64(_) => DType::I64,
            TensorData::I32(_) => DType::I32,
            TensorData::U8(_) => DType::U8,
            TensorData::Bool(_) => DType::Bool,
            TensorData::F16(_) => DType::F16,
            TensorData::Str(_) => DType::Str,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::Bool(v) => v.len(),
            TensorData::F16(v) => v.len(),
            TensorData::Str(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as little-endian bytes (BOOL: one byte, 0 or 1; STR: each element as a
    /// 4-byte little-endian length and its UTF-8 bytes, the Open Inference Protocol's BYTES).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        // Sized once up front (`flat_map` only knows a lower bound, so it grew step by step).
        fn each<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
            let mut out = Vec::with_capacity(v.len() * N);
            for x in v {
                out.extend_from_slice(&f(*x));
            }
            out
        }
        match self {
            TensorData::F32(v) => each(v, |x| x.to_le_bytes()),
            TensorData::F64(v) => each(v, |x| x.to_le_bytes()),
            TensorData::I64(v) => each(v, |x| x.to_le_bytes()),
            TensorData::I32(v) => each(v, |x| x.to_le_bytes()),
            TensorData::U8(v) => v.clone(),
            TensorData::Bool(v) => v.iter().map(|b| u8::from(*b)).collect(),
            TensorData::F16(v) => each(v, |x| x.to_le_bytes()),
            TensorData::Str(v) => {
                let mut out = Vec::new();
                for s in v {
                    out.extend((s.len() as u32).to_le_bytes());
                    out.extend(s.as_bytes());
                }
                out
            }
        }
    }

    /// Reads little-endian `bytes` as elements of `dtype`; the length must be a whole number
    /// of elements and BOOL bytes 0 or 1.
    pub fn from_le_bytes(bytes: &[u8], dtype: DType) -> Result<TensorData, String> {
        if dtype == DType::Str {
            return strings_from_bytes(bytes).map(TensorData::Str);
        }
        let size = dtype.size();
        if !bytes.len().is_multiple_of(size) {
            return Err(format!("{} bytes is not a whole number of {dtype} elements", bytes.len()));
        }
        // Generic over the conversion (not a `fn` pointer) so it inlines: the loop then compiles
        // to vector loads instead of one call per element (a 64-row binary request spent 10% of
        // its CPU in the pointer calls).
        // Whole arrays (`as_chunks`), not fallible slice conversions: the loop is then a plain
        // vector copy on little-endian machines (a 64-row binary request spent 3% of its CPU here
        // with `chunks_exact` and `try_into`).
        fn each<T, const N: usize>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
            bytes.as_chunks::<N>().0.iter().map(|&c| f(c)).collect()
        }
        Ok(match dtype {
            DType::F32 => TensorData::F32(each(bytes, f32::from_le_bytes)),
            DType::F64 => TensorData::F64(each(bytes, f64::from_le_bytes)),
            DType::I64 => TensorData::I64(each(bytes, i64::from_le_bytes)),
            DType::I32 => TensorData::I32(each(bytes, i32::from_le_bytes)),
            DType::U8 => TensorData::U8(bytes.to_vec()),
            DType::F16 => TensorData::F16(each(bytes, half::f16::from_le_bytes)),
            DType::Str => return strings_from_bytes(bytes).map(TensorData::Str),
            DType::Bool => {
                if let Some(i) = bytes.iter().position(|b| *b > 1) {
                    return Err(format!("BOOL element {i} is {}, expected 0 or 1", bytes[i]));
                }
                TensorData::Bool(bytes.iter().map(|b| *b == 1).collect())
            }
        })
    }
}

/// Reads length-prefixed UTF-8 strings (4-byte little-endian length, then the bytes).
fn strings_from_bytes(mut bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| format!("BYTES element {} has a truncated length", out.len()))?;
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return Err(format!(
                "BYTES element {} declares {len} bytes, {} left",
                out.len(),
                rest.len()
            ));
        }
        let text = std::str::from_utf8(&rest[..len])
            .map_err(|_| format!("BYTES element {} is not UTF-8 text", out.len()))?;
        out.push(text.to_string());
        bytes = &rest[len..];
    }
    Ok(out)
}

/// A dense, row-major tensor on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

impl Tensor {
    /// Builds a tensor, checking that the data fills the shape exactly.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor, AccelError> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(AccelError::InvalidInput(format!(
                "shape {shape:?} needs {expected} elements, got {}",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    /// The shape, batch first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The elements.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Splits the tensor into its shape and elements.
    pub fn into_parts(self) -> (Vec<usize>, TensorData) {
        (self.shape, self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_endian_bytes_read_back_what_was_written_for_every_dtype() {
        let datas = [
            TensorData::F32(vec![0.1, -2.5e-8, f32::INFINITY, 3.0, f32::MIN_POSITIVE]),
            TensorData::F64(vec![0.1, -2.5e-300, f64::NEG_INFINITY, 7.0, 1.0 / 3.0]),
            TensorData::F16(vec![half::f16::from_f32(0.5), half::f16::MAX]),
            TensorData::I64(vec![i64::MIN, -1, 0, 1, i64::MAX]),
            TensorData::I32(vec![i32::MIN, -1, 0, 1, i32::MAX]),
            TensorData::U8(vec![0, 1, 255]),
            TensorData::Bool(vec![true, false, true]),
            TensorData::Str(vec!["a".into(), "".into(), "é".into()]),
        ];
        for data in datas {
            let bytes = data.to_le_bytes();
            assert_eq!(TensorData::from_le_bytes(&bytes, data.dtype()).unwrap(), data);
        }
        // Known bytes, so a byte order mistake on both sides cannot cancel out.
        assert_eq!(
            TensorData::from_le_bytes(&[0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0], DType::F32).unwrap(),
            TensorData::F32(vec![1.0, -2.0])
        );
        let err = TensorData::from_le_bytes(&[0; 7], DType::F32).unwrap_err();
        assert!(err.contains("7 bytes is not a whole number"), "{err}");
    }
}
