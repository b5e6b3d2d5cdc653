//! A loaded model's signature: the names, dtypes and shapes of its inputs and outputs.

use serde::{Deserialize, Serialize};

use crate::{AccelError, DType, Tensor};

/// The value a shape uses for a dimension that may vary (the batch, usually).
pub const DYNAMIC: i64 = -1;

/// One input or output of a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// The name requests and responses use (the ONNX graph's input or output name).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions, batch first; [`DYNAMIC`] where any size is accepted.
    pub shape: Vec<i64>,
}

impl TensorSpec {
    /// Elements of one batch item when every non-batch dimension is fixed.
    pub fn item_len(&self) -> Option<usize> {
        self.shape.iter().skip(1).try_fold(1usize, |acc, &d| (d >= 0).then(|| acc * d as usize))
    }

    /// Checks a tensor against this spec; the message names the input and both shapes.
    pub fn check(&self, tensor: &Tensor) -> Result<(), AccelError> {
        if tensor.dtype() != self.dtype {
            return Err(AccelError::InvalidInput(format!(
                "input {}: expected dtype {}, got {}",
                self.name,
                self.dtype,
                tensor.dtype()
            )));
        }
        let fits = tensor.shape().len() == self.shape.len()
            && self
                .shape
                .iter()
                .zip(tensor.shape())
                .all(|(&want, &got)| want == DYNAMIC || want == got as i64);
        if !fits {
            return Err(AccelError::InvalidInput(format!(
                "input {}: expected shape {}, got {}",
                self.name,
                format_shape(&self.shape),
                format_shape_of(tensor.shape())
            )));
        }
        Ok(())
    }
}

/// Formats a concrete shape the way messages show it: `[2,783]`.
pub fn format_shape_of(shape: &[usize]) -> String {
    format_shape(&shape.iter().map(|&d| d as i64).collect::<Vec<_>>())
}

/// Formats a shape the way messages show it: `[-1,784]`.
pub fn format_shape(shape: &[i64]) -> String {
    let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
    format!("[{}]", dims.join(","))
}

/// The class labels of a ZipMap output (ONNX-ML `ZipMap`): the output tensor holds one
/// probability per label and row (f32 `[batch, labels]`), which clients receive as one
/// `{label: probability}` object per row (SPEC §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ZipMapLabels {
    /// `classlabels_int64s`: integer labels, written as strings in JSON keys.
    Int64(Vec<i64>),
    /// `classlabels_strings`: text labels.
    Strings(Vec<String>),
}

impl ZipMapLabels {
    /// The labels as the JSON object keys clients see (integers written as strings).
    pub fn keys(&self) -> Vec<String> {
        match self {
            ZipMapLabels::Int64(l) => l.iter().map(i64::to_string).collect(),
            ZipMapLabels::Strings(l) => l.clone(),
        }
    }
}

/// The inputs and outputs of a loaded model, in the order `run` takes and returns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Inputs, in the order `run` takes them.
    pub inputs: Vec<TensorSpec>,
    /// Outputs, in the order `run` returns them.
    pub outputs: Vec<TensorSpec>,
    /// Outputs that are ZipMaps, by output name, with their labels.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub zipmaps: std::collections::BTreeMap<String, ZipMapLabels>,
}

impl Signature {
    /// Inputs of zeros (false, empty text) at batch size `batch`: dynamic dimensions past the
    /// batch are 1. The deployment's test inference at load runs them (SPEC §2).
    pub fn zeros(&self, batch: usize) -> Result<Vec<Tensor>, AccelError> {
        self.inputs
            .iter()
            .map(|spec| {
                let shape: Vec<usize> = spec
                    .shape
                    .iter()
                    .enumerate()
                    .map(|(axis, &d)| match (axis, d) {
                        (0, DYNAMIC) => batch,
                        (_, d) if d < 0 => 1,
                        (_, d) => d as usize,
                    })
                    .collect();
                let n: usize = shape.iter().product();
                Tensor::new(shape, crate::TensorData::zeros(spec.dtype, n))
            })
            .collect()
    }

    /// The input with this name.
    pub fn input(&self, name: &str) -> Option<&TensorSpec> {
        self.inputs.iter().find(|s| s.name == name)
    }

    /// Checks a whole batch: one tensor per input, in order, all with the same batch size.
    /// Returns the batch size.
    pub fn check_inputs(&self, inputs: &[Tensor]) -> Result<usize, AccelError> {
        if inputs.len() != self.inputs.len() {
            return Err(AccelError::InvalidInput(format!(
                "expected {} inputs, got {}",
                self.inputs.len(),
                inputs.len()
            )));
        }
        let mut batch = None;
        for (spec, tensor) in self.inputs.iter().zip(inputs) {
            spec.check(tensor)?;
            let b = tensor.shape().first().copied().unwrap_or(1);
            match batch {
                None => batch = Some(b),
                Some(prev) if prev != b => {
                    return Err(AccelError::InvalidInput(format!(
                        "input {}: batch size {b} differs from the other inputs' {prev}",
                        spec.name
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(batch.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorData;

    fn spec() -> TensorSpec {
        TensorSpec { name: "x".into(), dtype: DType::F32, shape: vec![DYNAMIC, 784] }
    }

    #[test]
    fn shape_mismatch_names_input_and_shapes() {
        let t = Tensor::new(vec![2, 783], TensorData::F32(vec![0.0; 2 * 783])).unwrap();
        let err = spec().check(&t).unwrap_err().to_string();
        assert_eq!(err, "input x: expected shape [-1,784], got [2,783]");
    }

    #[test]
    fn dtype_mismatch_is_refused() {
        let t = Tensor::new(vec![1, 784], TensorData::I64(vec![0; 784])).unwrap();
        let err = spec().check(&t).unwrap_err().to_string();
        assert_eq!(err, "input x: expected dtype f32, got i64");
    }

    #[test]
    fn item_len_needs_fixed_dims() {
        assert_eq!(spec().item_len(), Some(784));
        let s = TensorSpec { name: "x".into(), dtype: DType::F32, shape: vec![-1, -1] };
        assert_eq!(s.item_len(), None);
    }

    #[test]
    fn differing_batch_sizes_are_refused() {
        let sig = Signature {
            inputs: vec![
                TensorSpec { name: "a".into(), dtype: DType::F32, shape: vec![-1, 1] },
                TensorSpec { name: "b".into(), dtype: DType::F32, shape: vec![-1, 1] },
            ],
            outputs: vec![],
            zipmaps: Default::default(),
        };
        let a = Tensor::new(vec![2, 1], TensorData::F32(vec![0.0; 2])).unwrap();
        let b = Tensor::new(vec![3, 1], TensorData::F32(vec![0.0; 3])).unwrap();
        let err = sig.check_inputs(&[a, b]).unwrap_err().to_string();
        assert!(err.contains("input b: batch size 3"), "{err}");
    }
}
