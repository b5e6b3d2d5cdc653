//! `Scaler` (ONNX-ML opset 1): `Y = (X - offset) * scale` in f32, `offset`/`scale` of length 1
//! or of the last dim of `X` (any numeric type); `Y` has the shape of `X`.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::{build, Built, Kernel};

const OP: &str = "Scaler";

/// The parsed `Scaler`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

/// Op register builder for `Scaler`.
pub(crate) fn builder(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let offset: Vec<f32> = node.get_attr_opt_vec("offset")?.unwrap_or_else(|| vec![0.0]);
    let scale: Vec<f32> = node.get_attr_opt_vec("scale")?.unwrap_or_else(|| vec![1.0]);
    if offset.is_empty() || scale.is_empty() {
        bail!("{OP} node `{}`: attributes offset and scale must not be empty", node.name);
    }
    build(node, Scaler { offset, scale })
}

impl Scaler {
    /// Scales `x` (f32, last axis = features).
    pub(crate) fn run(&self, x: &mut tract_ndarray::ArrayD<f32>) -> TractResult<()> {
        let c = x.shape().last().copied().unwrap_or(1);
        for (name, v) in [("offset", &self.offset), ("scale", &self.scale)] {
            if v.len() != 1 && v.len() != c {
                bail!("{OP}: attribute {name} has {} values for {c} features", v.len());
            }
        }
        let pick = |v: &[f32], i: usize| if v.len() == 1 { v[0] } else { v[i % c] };
        for (i, y) in x.iter_mut().enumerate() {
            *y = (*y - pick(&self.offset, i)) * pick(&self.scale, i);
        }
        Ok(())
    }
}

impl Kernel for Scaler {
    fn op_type(&self) -> &'static str {
        OP
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        s.equals(&outputs[0].datum_type, DatumType::F32)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut x = inputs[0].cast_to::<f32>()?.to_plain_array_view::<f32>()?.to_owned();
        self.run(&mut x)?;
        Ok(tvec!(x.into_tensor().into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_per_feature_and_broadcasts_a_single_value() {
        let mut x = tract_ndarray::arr2(&[[1f32, 2.0], [3.0, 4.0]]).into_dyn();
        Scaler { offset: vec![1.0, 2.0], scale: vec![2.0] }.run(&mut x).unwrap();
        assert_eq!(x, tract_ndarray::arr2(&[[0f32, 0.0], [4.0, 4.0]]).into_dyn());
        assert!(Scaler { offset: vec![1.0; 3], scale: vec![1.0] }.run(&mut x).is_err());
    }
}
