//! `TreeEnsembleRegressor` (ONNX-ML opsets 1 and 3): `X [N, C]` (any numeric type) →
//! `Y [N, n_targets]` f32, with onnxruntime's aggregation, `base_values` and `post_transform`.
//!
//! Attributes: `nodes_*` (all modes, `nodes_missing_value_tracks_true`, `nodes_values` or
//! `nodes_values_as_tensor`), `target_ids/nodeids/treeids/weights` (or
//! `target_weights_as_tensor`), `n_targets`, `aggregate_function`, `base_values` (or
//! `base_values_as_tensor`), `post_transform`. As in onnxruntime, a single-target ensemble only
//! applies `PROBIT` (other transforms are ignored) and uses the first weight of each leaf.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::{
    batch_dim, build, f64_list, probit, rows_f64, rules_batch_by_k, Built, Kernel, PostTransform,
};
use super::trees::{Aggregate, Ensemble, Score};

const OP: &str = "TreeEnsembleRegressor";

/// The parsed `TreeEnsembleRegressor`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TreeEnsembleRegressor {
    ensemble: Ensemble,
    aggregate: Aggregate,
    base_values: Vec<f64>,
    post_transform: PostTransform,
}

/// Op register builder for `TreeEnsembleRegressor`.
pub(crate) fn builder(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let n_targets: i64 = node.get_attr_opt("n_targets")?.unwrap_or(0);
    let n_targets = usize::try_from(n_targets)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format_err!("{OP} node `{}`: attribute n_targets must be > 0", node.name))?;
    let ensemble = Ensemble::parse(ctx, node, OP, "target", n_targets)?;
    let base_values = f64_list(ctx, node, "base_values")?.unwrap_or_default();
    build(
        node,
        TreeEnsembleRegressor {
            ensemble,
            aggregate: Aggregate::parse(node, OP)?,
            base_values,
            post_transform: PostTransform::parse(node, OP)?,
        },
    )
}

impl TreeEnsembleRegressor {
    /// Final scores of one row from the aggregated ones, as onnxruntime's aggregators do.
    fn finalize(&self, scores: &[Score], out: &mut [f32]) {
        let n_trees = self.ensemble.n_trees().max(1) as f64;
        if scores.len() == 1 {
            // onnxruntime's single-target path: only PROBIT is applied.
            let origin = if self.base_values.len() == 1 { self.base_values[0] } else { 0.0 };
            let s = scores[0];
            let v = match self.aggregate {
                Aggregate::Sum => s.score + origin,
                Aggregate::Average => s.score / n_trees + origin,
                Aggregate::Min | Aggregate::Max => {
                    if s.has {
                        s.score + origin
                    } else {
                        origin
                    }
                }
            };
            out[0] = v as f32;
            if self.post_transform == PostTransform::Probit {
                out[0] = probit(out[0]);
            }
            return;
        }
        let use_base = self.base_values.len() == scores.len();
        for (k, (s, o)) in scores.iter().zip(out.iter_mut()).enumerate() {
            let base = if use_base { self.base_values[k] } else { 0.0 };
            let v = match self.aggregate {
                Aggregate::Sum => s.score + base,
                Aggregate::Average => s.score / n_trees + base,
                Aggregate::Min | Aggregate::Max => base + if s.has { s.score } else { 0.0 },
            };
            *o = v as f32;
        }
        self.post_transform.apply_row(out);
    }

    /// Evaluates on `[N, C]` rows.
    pub(crate) fn run(
        &self,
        x: &tract_ndarray::Array2<f64>,
    ) -> TractResult<tract_ndarray::Array2<f32>> {
        self.ensemble.check_features(OP, x.ncols())?;
        let k = self.ensemble.n_targets;
        let mut out = tract_ndarray::Array2::<f32>::zeros((x.nrows(), k));
        let mut scores = vec![Score::default(); k];
        for (row, mut o) in x.rows().into_iter().zip(out.rows_mut()) {
            scores.iter_mut().for_each(|s| *s = Score::default());
            let row = row.to_vec();
            self.ensemble.accumulate(&row, self.aggregate, &mut scores)?;
            let o = o.as_slice_mut().ok_or_else(|| format_err!("{OP}: output not contiguous"))?;
            self.finalize(&scores, o);
        }
        Ok(out)
    }
}

impl Kernel for TreeEnsembleRegressor {
    fn op_type(&self) -> &'static str {
        OP
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        rules_batch_by_k(s, inputs, &outputs[0], DatumType::F32, self.ensemble.n_targets)
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = batch_dim(inputs[0], OP)?;
        Ok(tvec!(f32::fact([n, self.ensemble.n_targets.to_dim()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = rows_f64(&inputs[0], OP)?;
        Ok(tvec!(self.run(&x)?.into_tensor().into_tvalue()))
    }
}
