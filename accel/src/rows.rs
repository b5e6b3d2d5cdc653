//! Row operations on [`Tensor`]s along the batch dimension (dim 0): concatenating requests into
//! one batch, splitting a batch's outputs back, and padding to a bound batch size.

use std::borrow::Borrow;
use std::ops::Range;

use crate::{AccelError, Tensor, TensorData};

macro_rules! each_variant {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            TensorData::F32($v) => TensorData::F32($body),
            TensorData::F64($v) => TensorData::F64($body),
            TensorData::I64($v) => TensorData::I64($body),
            TensorData::I32($v) => TensorData::I32($body),
            TensorData::U8($v) => TensorData::U8($body),
            TensorData::Bool($v) => TensorData::Bool($body),
            TensorData::F16($v) => TensorData::F16($body),
            TensorData::Str($v) => TensorData::Str($body),
        }
    };
}

impl TensorData {
    /// The elements in `range` (clamped to the length).
    pub fn slice(&self, range: Range<usize>) -> TensorData {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        each_variant!(self, v => v[start..end].to_vec())
    }

    /// Makes room for `additional` more elements.
    pub fn reserve(&mut self, additional: usize) {
        match self {
            TensorData::F32(v) => v.reserve(additional),
            TensorData::F64(v) => v.reserve(additional),
            TensorData::I64(v) => v.reserve(additional),
            TensorData::I32(v) => v.reserve(additional),
            TensorData::U8(v) => v.reserve(additional),
            TensorData::Bool(v) => v.reserve(additional),
            TensorData::F16(v) => v.reserve(additional),
            TensorData::Str(v) => v.reserve(additional),
        }
    }

    /// Appends `other`'s elements; they must be of the same dtype.
    pub fn extend_from(&mut self, other: &TensorData) -> Result<(), AccelError> {
        match (self, other) {
            (TensorData::F32(a), TensorData::F32(b)) => a.extend_from_slice(b),
            (TensorData::F64(a), TensorData::F64(b)) => a.extend_from_slice(b),
            (TensorData::I64(a), TensorData::I64(b)) => a.extend_from_slice(b),
            (TensorData::I32(a), TensorData::I32(b)) => a.extend_from_slice(b),
            (TensorData::U8(a), TensorData::U8(b)) => a.extend_from_slice(b),
            (TensorData::Bool(a), TensorData::Bool(b)) => a.extend_from_slice(b),
            (TensorData::F16(a), TensorData::F16(b)) => a.extend_from_slice(b),
            (TensorData::Str(a), TensorData::Str(b)) => a.extend_from_slice(b),
            (a, b) => {
                return Err(AccelError::InvalidInput(format!(
                    "cannot join {} elements to {} elements",
                    b.dtype(),
                    a.dtype()
                )))
            }
        }
        Ok(())
    }
}

impl Tensor {
    /// Rows (the size of dim 0; 1 for a scalar).
    pub fn rows(&self) -> usize {
        self.shape().first().copied().unwrap_or(1)
    }

    /// Elements per row (the product of the dimensions after dim 0).
    pub fn row_len(&self) -> usize {
        self.shape().iter().skip(1).product()
    }

    /// Whether `other` can be stacked under `self` along dim 0: same dtype, same rank (at
    /// least 1) and the same dimensions after dim 0.
    pub fn rows_compatible(&self, other: &Tensor) -> bool {
        self.dtype() == other.dtype()
            && !self.shape().is_empty()
            && self.shape().len() == other.shape().len()
            && self.shape()[1..] == other.shape()[1..]
    }

    /// Stacks `parts` along dim 0: shape `[sum of rows, rest...]`. Errors
    /// ([`AccelError::InvalidInput`]) when `parts` is empty or two parts differ in dtype, rank or
    /// a dimension after dim 0.
    /// Takes the parts by reference (`&[&Tensor]`) or by value, so a batch is copied once.
    pub fn concat_rows<T: Borrow<Tensor>>(parts: &[T]) -> Result<Tensor, AccelError> {
        let first = parts
            .first()
            .ok_or_else(|| AccelError::InvalidInput("no tensors to concatenate".into()))?
            .borrow();
        let mut rows = 0;
        let mut data = TensorData::zeros(first.dtype(), 0);
        data.reserve(parts.iter().map(|p| p.borrow().data().len()).sum());
        for part in parts {
            let part = part.borrow();
            if !first.rows_compatible(part) {
                return Err(AccelError::InvalidInput(format!(
                    "cannot stack a {} {} tensor under a {} {} one",
                    part.dtype(),
                    crate::format_shape_of(part.shape()),
                    first.dtype(),
                    crate::format_shape_of(first.shape())
                )));
            }
            rows += part.rows();
            data.extend_from(part.data())?;
        }
        let mut shape = first.shape().to_vec();
        shape[0] = rows;
        Tensor::new(shape, data)
    }

    /// Rows `range` of the tensor (dim 0), as a new tensor. Errors when the tensor is a scalar or
    /// the range ends past its rows.
    pub fn slice_rows(&self, range: Range<usize>) -> Result<Tensor, AccelError> {
        if self.shape().is_empty() || range.end > self.rows() || range.start > range.end {
            return Err(AccelError::InvalidInput(format!(
                "rows {}..{} of a {} tensor",
                range.start,
                range.end,
                crate::format_shape_of(self.shape())
            )));
        }
        let n = self.row_len();
        let data = self.data().slice(range.start * n..range.end * n);
        let mut shape = self.shape().to_vec();
        shape[0] = range.len();
        Tensor::new(shape, data)
    }

    /// Splits the tensor along dim 0 into consecutive parts of `rows[i]` rows; the counts must
    /// sum to the tensor's rows.
    pub fn split_rows(&self, rows: &[usize]) -> Result<Vec<Tensor>, AccelError> {
        let total: usize = rows.iter().sum();
        if self.shape().is_empty() || total != self.rows() {
            return Err(AccelError::InvalidInput(format!(
                "cannot split a {} tensor into {total} rows",
                crate::format_shape_of(self.shape())
            )));
        }
        let mut at = 0;
        rows.iter()
            .map(|&r| {
                let part = self.slice_rows(at..at + r);
                at += r;
                part
            })
            .collect()
    }

    /// The tensor grown to `rows` rows along dim 0 with zeros (false, empty text); unchanged when
    /// it already has that many or more, or is a scalar.
    pub fn pad_rows(self, rows: usize) -> Result<Tensor, AccelError> {
        if self.shape().is_empty() || self.rows() >= rows {
            return Ok(self);
        }
        let extra = (rows - self.rows()) * self.row_len();
        let (mut shape, mut data) = self.into_parts();
        data.extend_from(&TensorData::zeros(data.dtype(), extra))?;
        shape[0] = rows;
        Tensor::new(shape, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    fn t(shape: &[usize], data: TensorData) -> Tensor {
        Tensor::new(shape.to_vec(), data).unwrap()
    }

    #[test]
    fn concat_then_split_gives_the_parts_back_for_every_dtype() {
        let parts_of = |dtype: DType| {
            let mut out = Vec::new();
            for (i, rows) in [1usize, 2, 3].into_iter().enumerate() {
                let n = rows * 2;
                let data = match dtype {
                    DType::F32 => TensorData::F32((0..n).map(|x| (x + i * 10) as f32).collect()),
                    DType::F64 => TensorData::F64((0..n).map(|x| x as f64 + 0.5).collect()),
                    DType::I64 => TensorData::I64((0..n).map(|x| x as i64 - 3).collect()),
                    DType::I32 => TensorData::I32((0..n).map(|x| x as i32 * 7).collect()),
                    DType::U8 => TensorData::U8((0..n).map(|x| x as u8).collect()),
                    DType::Bool => TensorData::Bool((0..n).map(|x| x % 2 == 0).collect()),
                    DType::F16 => {
                        TensorData::F16((0..n).map(|x| half::f16::from_f32(x as f32)).collect())
                    }
                    DType::Str => TensorData::Str((0..n).map(|x| format!("s{i}{x}")).collect()),
                };
                out.push(t(&[rows, 2], data));
            }
            out
        };
        for dtype in [
            DType::F32,
            DType::F64,
            DType::I64,
            DType::I32,
            DType::U8,
            DType::Bool,
            DType::F16,
            DType::Str,
        ] {
            let parts = parts_of(dtype);
            let joined = Tensor::concat_rows(&parts).unwrap();
            assert_eq!(joined.shape(), &[6, 2]);
            assert_eq!(joined.dtype(), dtype);
            assert_eq!(joined.split_rows(&[1, 2, 3]).unwrap(), parts);
        }
    }

    #[test]
    fn incompatible_parts_are_refused() {
        let a = t(&[1, 2], TensorData::F32(vec![0.0; 2]));
        let b = t(&[1, 3], TensorData::F32(vec![0.0; 3]));
        let c = t(&[1, 2], TensorData::I64(vec![0; 2]));
        assert!(!a.rows_compatible(&b));
        assert!(Tensor::concat_rows(&[a.clone(), b]).is_err());
        assert!(Tensor::concat_rows(&[a.clone(), c]).is_err());
        assert!(Tensor::concat_rows::<Tensor>(&[]).is_err());
        assert!(a.split_rows(&[2]).is_err());
    }

    #[test]
    fn padding_adds_zero_rows_that_slicing_removes() {
        let a = t(&[3, 2], TensorData::I32(vec![1, 2, 3, 4, 5, 6]));
        let padded = a.clone().pad_rows(4).unwrap();
        assert_eq!(padded.shape(), &[4, 2]);
        assert_eq!(padded.data(), &TensorData::I32(vec![1, 2, 3, 4, 5, 6, 0, 0]));
        assert_eq!(padded.slice_rows(0..3).unwrap(), a);
        let s = t(&[1, 1], TensorData::Str(vec!["x".into()])).pad_rows(2).unwrap();
        assert_eq!(s.data(), &TensorData::Str(vec!["x".into(), String::new()]));
    }
}
