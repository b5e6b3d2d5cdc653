//! Tensor elements as raw little-endian bytes, for the Open Inference Protocol binary extension
//! (BOOL is one byte, 0 or 1).

use edgeserve_accel::{DType, TensorData};

/// Bytes one element of `dtype` takes.
pub fn element_size(dtype: DType) -> usize {
    dtype.size()
}

/// Reads `bytes` as elements of `dtype`; the length must be a whole number of elements.
pub fn data_from_le_bytes(bytes: &[u8], dtype: DType) -> Result<TensorData, String> {
    TensorData::from_le_bytes(bytes, dtype)
}

/// Writes elements as little-endian bytes.
pub fn data_to_le_bytes(data: &TensorData) -> Vec<u8> {
    data.to_le_bytes()
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
