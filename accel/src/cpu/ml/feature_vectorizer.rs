//! `FeatureVectorizer` (ONNX-ML opset 1): concatenates its inputs (`[N, d_i]`, any numeric
//! type, cast to f32) along the last axis into `Y [N, sum(inputdimensions)]`; input `i` fills
//! `inputdimensions[i]` columns, truncated or zero-padded. A 1-D input is one row.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::{batch_dim, build, rows_f32, rules_batch_by_k, Built, Kernel};

const OP: &str = "FeatureVectorizer";

/// The parsed `FeatureVectorizer`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FeatureVectorizer {
    dims: Vec<usize>,
}

/// Op register builder for `FeatureVectorizer`.
pub(crate) fn builder(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let dims: Vec<i64> = node.get_attr_opt_vec("inputdimensions")?.unwrap_or_default();
    let dims: Vec<usize> =
        dims.iter().map(|d| usize::try_from(*d)).collect::<Result<_, _>>().map_err(|_| {
            format_err!("{OP} node `{}`: attribute inputdimensions is negative", node.name)
        })?;
    if dims.len() != node.input.len() {
        bail!(
            "{OP} node `{}`: attribute inputdimensions has {} values for {} inputs",
            node.name,
            dims.len(),
            node.input.len()
        );
    }
    build(node, FeatureVectorizer { dims })
}

impl FeatureVectorizer {
    /// Concatenates `inputs` (each `[N, d]`).
    pub(crate) fn run(
        &self,
        inputs: &[tract_ndarray::Array2<f32>],
    ) -> TractResult<tract_ndarray::Array2<f32>> {
        let n = inputs.first().map(|x| x.nrows()).unwrap_or(0);
        let total: usize = self.dims.iter().sum();
        let mut y = tract_ndarray::Array2::<f32>::zeros((n, total));
        let mut col = 0;
        for (x, d) in inputs.iter().zip(&self.dims) {
            if x.nrows() != n {
                bail!("{OP}: inputs have {} and {n} rows", x.nrows());
            }
            let w = x.ncols().min(*d);
            y.slice_mut(tract_ndarray::s![.., col..col + w])
                .assign(&x.slice(tract_ndarray::s![.., ..w]));
            col += d;
        }
        Ok(y)
    }
}

impl Kernel for FeatureVectorizer {
    fn op_type(&self) -> &'static str {
        OP
    }

    fn input_arity(&self) -> Option<usize> {
        Some(self.dims.len())
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        rules_batch_by_k(s, inputs, &outputs[0], DatumType::F32, self.dims.iter().sum())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = batch_dim(inputs[0], OP)?;
        Ok(tvec!(f32::fact([n, self.dims.iter().sum::<usize>().to_dim()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let xs: Vec<_> = inputs.iter().map(|x| rows_f32(x, OP)).collect::<TractResult<_>>()?;
        Ok(tvec!(self.run(&xs)?.into_tensor().into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenates_with_padding_and_truncation() {
        let fv = FeatureVectorizer { dims: vec![3, 1] };
        let a = tract_ndarray::arr2(&[[1f32, 2.0], [3.0, 4.0]]);
        let b = tract_ndarray::arr2(&[[5f32, 6.0], [7.0, 8.0]]);
        let y = fv.run(&[a, b]).unwrap();
        assert_eq!(y, tract_ndarray::arr2(&[[1f32, 2.0, 0.0, 5.0], [3.0, 4.0, 0.0, 7.0]]));
    }
}
