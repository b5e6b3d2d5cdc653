//! `SVMRegressor` (ONNX-ML opset 1): `X [N, C]` (any numeric type, computed in f32) →
//! `Y [N, 1]` f32 = `sum_v coefficients[v] K(x, support_vectors[v]) + rho[0]`, or
//! `<x, coefficients> + rho[0]` without support vectors (`n_supports = 0`, liblinear mode);
//! `one_class = 1` turns the value into ±1. `post_transform` is ignored, as in onnxruntime.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::{batch_dim, build, rows_f32, rules_batch_by_k, Built, Kernel};
use super::svm::SvmKernel;

const OP: &str = "SVMRegressor";

/// The parsed `SVMRegressor`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SvmRegressor {
    kernel: SvmKernel,
    /// `[n_supports, n_features]`, empty in liblinear mode.
    support_vectors: Vec<f32>,
    n_features: usize,
    coefficients: Vec<f32>,
    rho: f32,
    one_class: bool,
}

/// Op register builder for `SVMRegressor`.
pub(crate) fn builder(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let name = &node.name;
    let n_supports: i64 = node.get_attr_opt("n_supports")?.unwrap_or(0);
    let n_supports = usize::try_from(n_supports)
        .map_err(|_| format_err!("{OP} node `{name}`: attribute n_supports is negative"))?;
    let coefficients: Vec<f32> = node.get_attr_opt_vec("coefficients")?.unwrap_or_default();
    let rho: Vec<f32> = node.get_attr_opt_vec("rho")?.unwrap_or_default();
    let support_vectors: Vec<f32> = node.get_attr_opt_vec("support_vectors")?.unwrap_or_default();
    let Some(&rho) = rho.first() else { bail!("{OP} node `{name}`: attribute rho is missing") };
    if coefficients.is_empty() {
        bail!("{OP} node `{name}`: attribute coefficients is missing");
    }
    let (kernel, n_features) = if n_supports > 0 {
        if !support_vectors.len().is_multiple_of(n_supports) || support_vectors.is_empty() {
            bail!(
                "{OP} node `{name}`: attribute support_vectors has {} values, not a multiple of n_supports = {n_supports}",
                support_vectors.len()
            );
        }
        if coefficients.len() < n_supports {
            bail!(
                "{OP} node `{name}`: attribute coefficients has {} values for {n_supports} support vectors",
                coefficients.len()
            );
        }
        (SvmKernel::parse(node, OP)?, support_vectors.len() / n_supports)
    } else {
        (SvmKernel::linear(), coefficients.len())
    };
    let one_class = node.get_attr_opt::<i64>("one_class")?.unwrap_or(0) != 0;
    build(
        node,
        SvmRegressor {
            kernel,
            support_vectors: if n_supports > 0 { support_vectors } else { vec![] },
            n_features,
            coefficients,
            rho,
            one_class,
        },
    )
}

impl SvmRegressor {
    /// Evaluates on `[N, C]` rows.
    pub(crate) fn run(
        &self,
        x: &tract_ndarray::Array2<f32>,
    ) -> TractResult<tract_ndarray::Array2<f32>> {
        if x.ncols() != self.n_features {
            bail!("{OP}: input has {} features, the model {}", x.ncols(), self.n_features);
        }
        let mut out = tract_ndarray::Array2::<f32>::zeros((x.nrows(), 1));
        for (r, row) in x.rows().into_iter().enumerate() {
            let row = row.to_vec();
            let y = if self.support_vectors.is_empty() {
                self.kernel.eval(&row, &self.coefficients) + self.rho
            } else {
                let sum: f64 = self
                    .support_vectors
                    .chunks(self.n_features)
                    .zip(&self.coefficients)
                    .map(|(v, c)| f64::from(*c) * f64::from(self.kernel.eval(&row, v)))
                    .sum();
                (sum + f64::from(self.rho)) as f32
            };
            out[(r, 0)] = if self.one_class {
                if y > 0.0 {
                    1.0
                } else {
                    -1.0
                }
            } else {
                y
            };
        }
        Ok(out)
    }
}

impl Kernel for SvmRegressor {
    fn op_type(&self) -> &'static str {
        OP
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        rules_batch_by_k(s, inputs, &outputs[0], DatumType::F32, 1)
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact([batch_dim(inputs[0], OP)?, 1.to_dim()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = rows_f32(&inputs[0], OP)?;
        Ok(tvec!(self.run(&x)?.into_tensor().into_tvalue()))
    }
}
