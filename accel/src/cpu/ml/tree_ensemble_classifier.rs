//! `TreeEnsembleClassifier` (ONNX-ML opsets 1 and 3), replacing tract's own (which evaluates
//! `BRANCH_GTE` as a leaf): `X [N, C]` (any numeric type) → `Y [N]` labels (i64 from
//! `classlabels_int64s`, String from `classlabels_strings`) and `Z [N, n_classes]` f32 scores.
//!
//! Attributes: `nodes_*`, `class_ids/nodeids/treeids/weights` (or `class_weights_as_tensor`),
//! `classlabels_*`, `base_values` (or `base_values_as_tensor`), `post_transform`. Scores are
//! summed over the trees. The binary cases follow onnxruntime exactly: with one weight column
//! for two classes the scores are `[1-p, p]` (non-negative weights, label threshold 0.5) or
//! `[-s, s]` / `[logistic(-s), logistic(s)]` (mixed weights, threshold 0). With two weight
//! columns for two classes the label is class 1 when its score is > 0 (onnxruntime returns the
//! literal 1/0 there; this returns `classlabels[1]`/`classlabels[0]`, the same for `[0, 1]`).

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::{
    batch_dim, build, f64_list, logistic, probit, rows_f64, rules_batch, rules_batch_by_k, Built,
    Kernel, Labels, PostTransform,
};
use super::trees::{Aggregate, Ensemble, Score};

const OP: &str = "TreeEnsembleClassifier";

/// The parsed `TreeEnsembleClassifier`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TreeEnsembleClassifier {
    ensemble: Ensemble,
    labels: Labels,
    base_values: Vec<f64>,
    post_transform: PostTransform,
}

/// Op register builder for `TreeEnsembleClassifier`.
pub(crate) fn builder(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let labels = Labels::parse(node, OP, "classlabels_int64s")?;
    if labels.len() < 2 {
        bail!("{OP} node `{}`: needs at least two class labels", node.name);
    }
    let ensemble = Ensemble::parse(ctx, node, OP, "class", labels.len())?;
    build(
        node,
        TreeEnsembleClassifier {
            ensemble,
            labels,
            base_values: f64_list(ctx, node, "base_values")?.unwrap_or_default(),
            post_transform: PostTransform::parse(node, OP)?,
        },
    )
}

impl TreeEnsembleClassifier {
    /// Writes the scores of one row into `out` and returns the index of its label
    /// (onnxruntime's `TreeAggregatorClassifier::FinalizeScores`).
    fn finalize(&self, mut p: Vec<Score>, out: &mut [f32]) -> usize {
        let base = &self.base_values;
        if p.len() > 2 {
            for (s, b) in p.iter_mut().zip(base) {
                if s.has {
                    s.score += b;
                } else {
                    *s = Score { score: *b, has: true };
                }
            }
            let mut best: Option<(usize, f64)> = None;
            for (k, s) in p.iter().enumerate() {
                if s.has && best.is_none_or(|(_, w)| s.score > w) {
                    best = Some((k, s.score));
                }
            }
            for (o, s) in out.iter_mut().zip(&p) {
                *o = s.score as f32;
            }
            self.post_transform.apply_row(out);
            return best.map(|b| b.0).unwrap_or(0);
        }
        let mut additional = -1;
        match base.len() {
            2 => {
                if p[1].has {
                    p[1].score = base[1] + p[0].score;
                    p[0].score = -p[1].score;
                } else {
                    p[1].score += base[1];
                    p[0].score += base[0];
                }
            }
            1 => {
                p[0].score += base[0];
                if !p[1].has {
                    p.pop();
                }
            }
            0 => {
                additional = 3;
                if !p[1].has {
                    p.pop();
                }
            }
            _ => (),
        }
        let pos_weight = if p.len() == 2 && p[1].has {
            p[1].score
        } else if p[0].has {
            p[0].score
        } else {
            0.0
        };
        let binary_case = self.ensemble.distinct_ids == 1;
        let label = if binary_case {
            let (positive, a) = if self.ensemble.weights_all_positive {
                (pos_weight > 0.5, if pos_weight > 0.5 { 0 } else { 1 })
            } else {
                (pos_weight > 0.0, if pos_weight > 0.0 { 2 } else { 3 })
            };
            additional = a;
            usize::from(positive)
        } else {
            usize::from(pos_weight > 0.0)
        };
        if p.len() == 2 {
            out[0] = p[0].score as f32;
            out[1] = p[1].score as f32;
            self.post_transform.apply_row(out);
        } else {
            let s = p[0].score as f32;
            out[1] = 0.0;
            if self.post_transform == PostTransform::Probit {
                out[0] = probit(s);
            } else {
                match additional {
                    0 | 1 => {
                        out[0] = 1.0 - s;
                        out[1] = s;
                    }
                    2 | 3 if self.post_transform == PostTransform::Logistic => {
                        out[0] = logistic(-s);
                        out[1] = logistic(s);
                    }
                    2 | 3 => {
                        out[0] = -s;
                        out[1] = s;
                    }
                    _ => out[0] = s,
                }
            }
        }
        label
    }

    /// Evaluates on `[N, C]` rows: label indices and scores.
    pub(crate) fn run(
        &self,
        x: &tract_ndarray::Array2<f64>,
    ) -> TractResult<(Vec<usize>, tract_ndarray::Array2<f32>)> {
        self.ensemble.check_features(OP, x.ncols())?;
        let k = self.labels.len();
        let mut out = tract_ndarray::Array2::<f32>::zeros((x.nrows(), k));
        let mut labels = Vec::with_capacity(x.nrows());
        for (row, mut o) in x.rows().into_iter().zip(out.rows_mut()) {
            let mut scores = vec![Score::default(); k];
            self.ensemble.accumulate(&row.to_vec(), Aggregate::Sum, &mut scores)?;
            let o = o.as_slice_mut().ok_or_else(|| format_err!("{OP}: output not contiguous"))?;
            labels.push(self.finalize(scores, o));
        }
        Ok((labels, out))
    }
}

impl Kernel for TreeEnsembleClassifier {
    fn op_type(&self) -> &'static str {
        OP
    }

    fn output_arity(&self) -> usize {
        2
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        rules_batch(s, inputs, &outputs[0], self.labels.datum_type())?;
        rules_batch_by_k(s, inputs, &outputs[1], DatumType::F32, self.labels.len())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = batch_dim(inputs[0], OP)?;
        Ok(tvec!(
            self.labels.datum_type().fact([n.clone()]),
            f32::fact([n, self.labels.len().to_dim()])
        ))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = rows_f64(&inputs[0], OP)?;
        let (labels, scores) = self.run(&x)?;
        Ok(tvec!(self.labels.tensor(&labels)?.into_tvalue(), scores.into_tensor().into_tvalue()))
    }
}
