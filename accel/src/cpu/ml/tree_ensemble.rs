//! `TreeEnsemble` (ONNX-ML opset 5): `X [N, F]` (f32, f64 or f16) → `Y [N, n_targets]` of the
//! same type, with onnxruntime's semantics (it rewrites the node into a `TreeEnsembleRegressor`
//! without base values).
//!
//! Attributes: `nodes_featureids`, `nodes_modes` (uint8 tensor, `0` `BRANCH_LEQ` ... `6`
//! `BRANCH_MEMBER`), `nodes_splits` (tensor), `nodes_truenodeids`/`nodes_trueleafs`,
//! `nodes_falsenodeids`/`nodes_falseleafs`, `nodes_missing_value_tracks_true`,
//! `membership_values` (NaN-separated sets, one per `BRANCH_MEMBER` node), `leaf_targetids`,
//! `leaf_weights` (tensor), `tree_roots`, `n_targets`, `aggregate_function` (`0` AVERAGE, `1`
//! SUM (default), `2` MIN, `3` MAX) and `post_transform` (`0` NONE (default) ... `4` PROBIT).
//! `nodes_hitrates` is ignored.
//!
//! Where onnxruntime (1.32) departs from the ONNX spec, this follows onnxruntime:
//! - `post_transform` `1` is LOGISTIC and `2` SOFTMAX (the spec says `1` SOFTMAX, `2`
//!   LOGISTIC), see [`PostTransform::from_ort_code`];
//! - a single-target ensemble only applies `PROBIT` (onnxruntime issue 26596);
//! - a `BRANCH_MEMBER` set of 31 values or more, or with a value outside `0..=30`, must hold
//!   integers (int32) and is tested with `x` truncated to an integer; smaller sets by equality.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::{batch_dim, build, rows_f64, tensor_attr_vec, Built, Kernel, PostTransform};
use super::trees::{Aggregate, Ensemble, Mode, Score, V5Parts};

const OP: &str = "TreeEnsemble";

/// The parsed `TreeEnsemble`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TreeEnsemble {
    ensemble: Ensemble,
    aggregate: Aggregate,
    post_transform: PostTransform,
}

/// Op register builder for `TreeEnsemble`.
pub(crate) fn builder(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let name = &node.name;
    let ints = |a: &str| -> TractResult<Vec<i64>> {
        Ok(node.get_attr_opt_vec::<i64>(a)?.unwrap_or_default())
    };
    let n_targets: i64 = node.get_attr_opt("n_targets")?.unwrap_or(0);
    let n_targets = usize::try_from(n_targets)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format_err!("{OP} node `{name}`: attribute n_targets must be > 0"))?;
    let modes = tensor_attr_vec::<i64>(ctx, node, OP, "nodes_modes")?
        .ok_or_else(|| format_err!("{OP} node `{name}`: attribute nodes_modes is missing"))?
        .into_iter()
        .map(|code| {
            Mode::from_code(code).ok_or_else(|| {
                format_err!("{OP} node `{name}`: attribute nodes_modes: unknown mode {code}")
            })
        })
        .collect::<TractResult<Vec<Mode>>>()?;
    let leaf_weights = tensor_attr_vec::<f64>(ctx, node, OP, "leaf_weights")?
        .ok_or_else(|| format_err!("{OP} node `{name}`: attribute leaf_weights is missing"))?;
    let parts = V5Parts {
        features: ints("nodes_featureids")?,
        modes,
        splits: tensor_attr_vec::<f64>(ctx, node, OP, "nodes_splits")?.unwrap_or_default(),
        true_ids: ints("nodes_truenodeids")?,
        true_leafs: ints("nodes_trueleafs")?,
        false_ids: ints("nodes_falsenodeids")?,
        false_leafs: ints("nodes_falseleafs")?,
        missing: ints("nodes_missing_value_tracks_true")?,
        membership_values: tensor_attr_vec::<f64>(ctx, node, OP, "membership_values")?
            .unwrap_or_default(),
        leaf_targets: ints("leaf_targetids")?,
        leaf_weights,
        roots: ints("tree_roots")?,
        n_targets,
    };
    let ensemble = Ensemble::from_v5(OP, name, parts)?;
    let aggregate = match node.get_attr_opt::<i64>("aggregate_function")?.unwrap_or(1) {
        0 => Aggregate::Average,
        1 => Aggregate::Sum,
        2 => Aggregate::Min,
        3 => Aggregate::Max,
        other => bail!("{OP} node `{name}`: attribute aggregate_function: unknown value {other}"),
    };
    let code = node.get_attr_opt::<i64>("post_transform")?.unwrap_or(0);
    let post_transform = PostTransform::from_ort_code(code).ok_or_else(|| {
        format_err!("{OP} node `{name}`: attribute post_transform: unknown value {code}")
    })?;
    build(node, TreeEnsemble { ensemble, aggregate, post_transform })
}

/// The output type for an input of type `dt`: the same float type (f32 for others).
fn output_type(dt: DatumType) -> DatumType {
    match dt {
        DatumType::F64 => DatumType::F64,
        DatumType::F16 => DatumType::F16,
        _ => DatumType::F32,
    }
}

impl TreeEnsemble {
    /// Aggregated, untransformed scores `[N, n_targets]`.
    fn scores(&self, x: &tract_ndarray::Array2<f64>) -> TractResult<tract_ndarray::Array2<f64>> {
        self.ensemble.check_features(OP, x.ncols())?;
        let k = self.ensemble.n_targets;
        let n_trees = self.ensemble.n_trees().max(1) as f64;
        let mut out = tract_ndarray::Array2::<f64>::zeros((x.nrows(), k));
        let mut scores = vec![Score::default(); k];
        for (row, mut o) in x.rows().into_iter().zip(out.rows_mut()) {
            scores.iter_mut().for_each(|s| *s = Score::default());
            let row = row.to_vec();
            self.ensemble.accumulate(&row, self.aggregate, &mut scores)?;
            for (s, o) in scores.iter().zip(o.iter_mut()) {
                *o = match self.aggregate {
                    Aggregate::Sum => s.score,
                    Aggregate::Average => s.score / n_trees,
                    Aggregate::Min | Aggregate::Max if s.has => s.score,
                    Aggregate::Min | Aggregate::Max => 0.0,
                };
            }
        }
        Ok(out)
    }

    /// The post transform onnxruntime applies to rows of this many targets.
    fn transform(&self) -> PostTransform {
        if self.ensemble.n_targets == 1 && self.post_transform != PostTransform::Probit {
            PostTransform::None
        } else {
            self.post_transform
        }
    }

    /// Evaluates on `x`, giving an output of type `dt` (f64, else computed in f32).
    pub(crate) fn run(&self, x: &Tensor, dt: DatumType) -> TractResult<Tensor> {
        let mut scores = self.scores(&rows_f64(x, OP)?)?;
        let transform = self.transform();
        if dt == DatumType::F64 {
            for mut row in scores.rows_mut() {
                let row =
                    row.as_slice_mut().ok_or_else(|| format_err!("{OP}: output not contiguous"))?;
                transform.apply_row(row);
            }
            return Ok(scores.into_tensor());
        }
        let mut out = scores.mapv(|v| v as f32);
        for mut row in out.rows_mut() {
            let row =
                row.as_slice_mut().ok_or_else(|| format_err!("{OP}: output not contiguous"))?;
            transform.apply_row(row);
        }
        out.into_tensor().cast_to_dt(dt).map(|t| t.into_owned())
    }
}

impl Kernel for TreeEnsemble {
    fn op_type(&self) -> &'static str {
        OP
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        let output = &outputs[0];
        s.given(&inputs[0].datum_type, move |s, dt| s.equals(&output.datum_type, output_type(dt)))?;
        s.equals(&output.rank, 2)?;
        s.equals(&output.shape[1], self.ensemble.n_targets.to_dim())?;
        s.given(&inputs[0].rank, move |s, rank| {
            if rank == 2 {
                s.equals(&output.shape[0], &inputs[0].shape[0])?;
            } else {
                s.equals(&output.shape[0], 1.to_dim())?;
            }
            Ok(())
        })
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = batch_dim(inputs[0], OP)?;
        let dt = output_type(inputs[0].datum_type);
        Ok(tvec!(dt.fact([n, self.ensemble.n_targets.to_dim()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let dt = output_type(inputs[0].datum_type());
        Ok(tvec!(self.run(&inputs[0], dt)?.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Tree 0: `x0 in {1, 3}` → leaf 0 (target 0, 10) else `x1 >= 0.5` → leaf 1 (target 1, 2)
    /// else leaf 2 (target 0, -1). Tree 1: a single leaf 3 (target 1, 4).
    fn ensemble(aggregate: Aggregate) -> TreeEnsemble {
        let parts = V5Parts {
            features: vec![0, 1, 0],
            modes: vec![Mode::Member, Mode::Gte, Mode::Leq],
            splits: vec![0.0, 0.5, 0.0],
            true_ids: vec![0, 1, 3],
            true_leafs: vec![1, 1, 1],
            false_ids: vec![1, 2, 3],
            false_leafs: vec![0, 1, 1],
            missing: vec![],
            membership_values: vec![1.0, 3.0, f64::NAN],
            leaf_targets: vec![0, 1, 0, 1],
            leaf_weights: vec![10.0, 2.0, -1.0, 4.0],
            roots: vec![0, 2],
            n_targets: 2,
        };
        TreeEnsemble {
            ensemble: Ensemble::from_v5(OP, "t", parts).unwrap(),
            aggregate,
            post_transform: PostTransform::None,
        }
    }

    /// One `BRANCH_MEMBER` stump on feature 0 with `members`: leaf 1.0 (in) or 0.0 (out).
    fn member_stump(members: Vec<f64>) -> TractResult<TreeEnsemble> {
        let parts = V5Parts {
            features: vec![0],
            modes: vec![Mode::Member],
            splits: vec![0.0],
            true_ids: vec![0],
            true_leafs: vec![1],
            false_ids: vec![1],
            false_leafs: vec![1],
            membership_values: members,
            leaf_targets: vec![0, 0],
            leaf_weights: vec![1.0, 0.0],
            roots: vec![0],
            n_targets: 1,
            ..V5Parts::default()
        };
        Ok(TreeEnsemble {
            ensemble: Ensemble::from_v5(OP, "m", parts)?,
            aggregate: Aggregate::Sum,
            post_transform: PostTransform::None,
        })
    }

    #[test]
    fn small_sets_by_equality_big_sets_by_truncation() {
        let xs = [0.0, 0.5, 2.0, 2.5, -0.5, 40.0, 40.5, f64::NAN, f64::INFINITY, 1e12];
        let x = tract_ndarray::Array2::from_shape_vec((xs.len(), 1), xs.to_vec()).unwrap();
        let hits = |members: Vec<f64>| -> Vec<f64> {
            member_stump(members).unwrap().scores(&x).unwrap().iter().copied().collect()
        };
        // Values checked against onnxruntime 1.32.
        assert_eq!(hits(vec![0.0, 2.0]), vec![1., 0., 1., 0., 0., 0., 0., 0., 0., 0.]);
        assert_eq!(hits(vec![0.0, 2.0, 40.0]), vec![1., 1., 1., 1., 1., 1., 1., 0., 0., 0.]);
        let err = member_stump(vec![0.5, 40.0, f64::NAN]).unwrap_err().to_string();
        assert!(err.contains("membership_values") && err.contains("`m`"), "{err}");
    }

    #[test]
    fn member_gte_and_leaf_root() {
        let x = tract_ndarray::arr2(&[[1.0, 0.0], [2.0, 0.7], [2.0, 0.2], [3.0, 9.0]]);
        let sum = ensemble(Aggregate::Sum).scores(&x).unwrap();
        assert_eq!(sum, tract_ndarray::arr2(&[[10.0, 4.0], [0.0, 6.0], [-1.0, 4.0], [10.0, 4.0]]));
        let avg = ensemble(Aggregate::Average).scores(&x).unwrap();
        assert_eq!(avg.row(1).to_vec(), vec![0.0, 3.0]);
    }
}
