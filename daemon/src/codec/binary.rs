//! Tensor elements as raw little-endian bytes, for the Open Inference Protocol binary extension
//! (BOOL is one byte, 0 or 1).

use edgeserve_accel::{DType, TensorData};

/// Bytes one element of `dtype` takes.
pub fn element_size(dtype: DType) -> usize {
    match dtype {
        DType::F64 | DType::I64 => 8,
        DType::F32 | DType::I32 => 4,
        DType::U8 | DType::Bool => 1,
    }
}

/// Reads `bytes` as elements of `dtype`; the length must be a whole number of elements.
pub fn data_from_le_bytes(bytes: &[u8], dtype: DType) -> Result<TensorData, String> {
    let size = element_size(dtype);
    if !bytes.len().is_multiple_of(size) {
        return Err(format!("{} bytes is not a whole number of {dtype} elements", bytes.len()));
    }
    fn each<T, const N: usize>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
        bytes.chunks_exact(N).map(|c| f(c.try_into().unwrap_or([0; N]))).collect()
    }
    Ok(match dtype {
        DType::F32 => TensorData::F32(each(bytes, f32::from_le_bytes)),
        DType::F64 => TensorData::F64(each(bytes, f64::from_le_bytes)),
        DType::I64 => TensorData::I64(each(bytes, i64::from_le_bytes)),
        DType::I32 => TensorData::I32(each(bytes, i32::from_le_bytes)),
        DType::U8 => TensorData::U8(bytes.to_vec()),
        DType::Bool => {
            if let Some(i) = bytes.iter().position(|b| *b > 1) {
                return Err(format!("BOOL element {i} is {}, expected 0 or 1", bytes[i]));
            }
            TensorData::Bool(bytes.iter().map(|b| *b == 1).collect())
        }
    })
}

/// Writes elements as little-endian bytes.
pub fn data_to_le_bytes(data: &TensorData) -> Vec<u8> {
    match data {
        TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::U8(v) => v.clone(),
        TensorData::Bool(v) => v.iter().map(|b| u8::from(*b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_partial_elements() {
        let data = TensorData::F32(vec![1.5, -2.0]);
        let bytes = data_to_le_bytes(&data);
        assert_eq!(bytes.len(), 8);
        assert_eq!(data_from_le_bytes(&bytes, DType::F32).unwrap(), data);
        assert!(data_from_le_bytes(&bytes[..7], DType::F32).is_err());
        let i = TensorData::I64(vec![-3, 1 << 40]);
        assert_eq!(data_from_le_bytes(&data_to_le_bytes(&i), DType::I64).unwrap(), i);
        assert!(data_from_le_bytes(&[0, 2], DType::Bool).is_err());
    }
}
