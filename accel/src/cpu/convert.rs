//! Conversions between the HAL's tensors and tract's.

use tract_onnx::prelude::{DatumType, TValue};

use crate::{AccelError, DType, Tensor, TensorData};

/// The HAL dtype of a tract datum type, if the HAL has one.
pub(crate) fn dtype_of(dt: DatumType) -> Option<DType> {
    Some(match dt {
        DatumType::F32 => DType::F32,
        DatumType::F64 => DType::F64,
        DatumType::I64 => DType::I64,
        DatumType::I32 => DType::I32,
        DatumType::U8 => DType::U8,
        DatumType::Bool => DType::Bool,
        DatumType::F16 => DType::F16,
        DatumType::String => DType::Str,
        // tract keeps ONNX int64 casts as symbolic dims (TDim); their values are plain integers.
        DatumType::TDim => DType::I64,
        _ => return None,
    })
}

/// Moves a HAL tensor into a tract value.
pub(crate) fn to_tract(tensor: Tensor) -> Result<TValue, AccelError> {
    use tract_onnx::prelude::Tensor as T;
    let (shape, data) = tensor.into_parts();
    let t = match &data {
        TensorData::F32(v) => T::from_shape(&shape, v),
        TensorData::F64(v) => T::from_shape(&shape, v),
        TensorData::I64(v) => T::from_shape(&shape, v),
        TensorData::I32(v) => T::from_shape(&shape, v),
        TensorData::U8(v) => T::from_shape(&shape, v),
        TensorData::Bool(v) => T::from_shape(&shape, v),
        TensorData::F16(v) => T::from_shape(&shape, v),
        TensorData::Str(v) => {
            tract_onnx::prelude::tract_ndarray::ArrayD::from_shape_vec(shape.clone(), v.clone())
                .map(T::from)
                .map_err(|e| tract_onnx::prelude::TractError::msg(e.to_string()))
        }
    };
    t.map(TValue::from).map_err(|e| AccelError::InvalidInput(format!("{e:#}")))
}

/// Copies a tract value out into a HAL tensor.
pub(crate) fn from_tract(value: &TValue) -> Result<Tensor, AccelError> {
    let internal = |e: tract_onnx::prelude::TractError| AccelError::Internal(format!("{e:#}"));
    let view = value.try_as_plain_ram().map_err(internal)?;
    let data = match value.datum_type() {
        DatumType::F32 => TensorData::F32(view.as_slice::<f32>().map_err(internal)?.to_vec()),
        DatumType::F64 => TensorData::F64(view.as_slice::<f64>().map_err(internal)?.to_vec()),
        DatumType::I64 => TensorData::I64(view.as_slice::<i64>().map_err(internal)?.to_vec()),
        DatumType::I32 => TensorData::I32(view.as_slice::<i32>().map_err(internal)?.to_vec()),
        DatumType::U8 => TensorData::U8(view.as_slice::<u8>().map_err(internal)?.to_vec()),
        DatumType::Bool => TensorData::Bool(view.as_slice::<bool>().map_err(internal)?.to_vec()),
        DatumType::F16 => {
            TensorData::F16(view.as_slice::<tract_onnx::prelude::f16>().map_err(internal)?.to_vec())
        }
        DatumType::String => TensorData::Str(view.as_slice::<String>().map_err(internal)?.to_vec()),
        DatumType::TDim => {
            let ints = value.cast_to::<i64>().map_err(internal)?;
            let ints = ints.try_as_plain_ram().map_err(internal)?;
            TensorData::I64(ints.as_slice::<i64>().map_err(internal)?.to_vec())
        }
        other => {
            return Err(AccelError::Unsupported { what: format!("output dtype {other:?}") });
        }
    };
    Tensor::new(value.shape().to_vec(), data)
}
