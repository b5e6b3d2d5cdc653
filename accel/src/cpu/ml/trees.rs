//! Tree ensembles shared by `TreeEnsembleRegressor`, `TreeEnsembleClassifier` (ONNX-ML
//! opsets 1 and 3) and `TreeEnsemble` (opset 5): parsing of the `nodes_*` and
//! `target_*`/`class_*` attributes (or the opset-5 [`V5Parts`]) into a flat node array, and
//! evaluation of one row with onnxruntime's semantics (node modes, set membership, missing
//! values, aggregation with a "has score" flag per target).

use std::collections::HashMap;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::f64_list;

/// Comparison of a branch node (`nodes_modes`), or `Leaf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `LEAF`.
    Leaf,
    /// `BRANCH_LEQ`: true when `x <= value`.
    Leq,
    /// `BRANCH_LT`: true when `x < value`.
    Lt,
    /// `BRANCH_GTE`: true when `x >= value`.
    Gte,
    /// `BRANCH_GT`: true when `x > value`.
    Gt,
    /// `BRANCH_EQ`: true when `x == value`.
    Eq,
    /// `BRANCH_NEQ`: true when `x != value`.
    Neq,
    /// `BRANCH_MEMBER` (opset 5): true when `x` is in the node's set.
    Member,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "LEAF" => Mode::Leaf,
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            _ => return None,
        })
    }

    /// The opset-5 `nodes_modes` code (`0` `BRANCH_LEQ` ... `6` `BRANCH_MEMBER`).
    pub(crate) fn from_code(code: i64) -> Option<Mode> {
        Some(match code {
            0 => Mode::Leq,
            1 => Mode::Lt,
            2 => Mode::Gte,
            3 => Mode::Gt,
            4 => Mode::Eq,
            5 => Mode::Neq,
            6 => Mode::Member,
            _ => return None,
        })
    }

    /// Whether `x` goes to the true branch (NaN compares false, as in C++).
    pub(crate) fn test(self, x: f64, value: f64) -> bool {
        match self {
            Mode::Leaf | Mode::Member => false,
            Mode::Leq => x <= value,
            Mode::Lt => x < value,
            Mode::Gte => x >= value,
            Mode::Gt => x > value,
            Mode::Eq => x == value,
            Mode::Neq => x != value,
        }
    }
}

/// How the leaf values of the trees combine (`aggregate_function`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aggregate {
    /// `SUM` (the default).
    Sum,
    /// `AVERAGE`: sum divided by the number of trees.
    Average,
    /// `MIN` over the trees reaching a target.
    Min,
    /// `MAX` over the trees reaching a target.
    Max,
}

impl Aggregate {
    /// Reads the optional `aggregate_function` attribute.
    pub(crate) fn parse(node: &NodeProto, op: &str) -> TractResult<Aggregate> {
        let value: Option<String> = node.get_attr_opt("aggregate_function")?;
        Ok(match value.as_deref().unwrap_or("SUM") {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => bail!(
                "{op} node `{}`: attribute aggregate_function: unknown value {other:?}",
                node.name
            ),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Node {
    feature: usize,
    value: f64,
    mode: Mode,
    missing_true: bool,
    /// Index of the true child (branches), of the first weight (leaves).
    t: usize,
    /// Index of the false child (branches), number of weights (leaves).
    f: usize,
    /// Index of the set in [`Ensemble::sets`] (`BRANCH_MEMBER` nodes).
    set: usize,
}

/// One accumulated score: the value and whether any tree contributed to it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Score {
    /// Accumulated value.
    pub score: f64,
    /// Whether a leaf contributed.
    pub has: bool,
}

/// The attributes of an opset-5 `TreeEnsemble`, already read (the `nodes_*` lists index the
/// branches, the `leaf_*` lists the leaves).
#[derive(Debug, Clone, Default)]
pub(crate) struct V5Parts {
    /// `nodes_featureids`.
    pub features: Vec<i64>,
    /// `nodes_modes`, decoded.
    pub modes: Vec<Mode>,
    /// `nodes_splits` (unused for `BRANCH_MEMBER` nodes).
    pub splits: Vec<f64>,
    /// `nodes_truenodeids`.
    pub true_ids: Vec<i64>,
    /// `nodes_trueleafs`.
    pub true_leafs: Vec<i64>,
    /// `nodes_falsenodeids`.
    pub false_ids: Vec<i64>,
    /// `nodes_falseleafs`.
    pub false_leafs: Vec<i64>,
    /// `nodes_missing_value_tracks_true` (may be empty).
    pub missing: Vec<i64>,
    /// `membership_values` (NaN-separated sets).
    pub membership_values: Vec<f64>,
    /// `leaf_targetids`.
    pub leaf_targets: Vec<i64>,
    /// `leaf_weights`.
    pub leaf_weights: Vec<f64>,
    /// `tree_roots`.
    pub roots: Vec<i64>,
    /// `n_targets`.
    pub n_targets: usize,
}

/// The set of a `BRANCH_MEMBER` node. onnxruntime tests small sets (under 31 members, all in
/// `0..=30`) by exact equality, and larger ones (integers only) by the membership of `x`
/// truncated to an int32.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MemberSet {
    values: Vec<f64>,
    big: bool,
}

impl MemberSet {
    fn contains(&self, x: f64) -> bool {
        if !self.big {
            return self.values.contains(&x);
        }
        let t = x.trunc();
        t.is_finite()
            && t >= f64::from(i32::MIN)
            && t <= f64::from(i32::MAX)
            && self.values.contains(&t)
    }
}

/// A parsed tree ensemble.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ensemble {
    nodes: Vec<Node>,
    roots: Vec<usize>,
    /// Member sets of the `BRANCH_MEMBER` nodes.
    sets: Vec<MemberSet>,
    /// `(target or class id, weight)`, grouped by leaf.
    weights: Vec<(usize, f64)>,
    /// Largest feature index a branch reads.
    pub max_feature: Option<usize>,
    /// Number of targets (regressor) or classes (classifier).
    pub n_targets: usize,
    /// Whether every target/class weight is `>= 0`.
    pub weights_all_positive: bool,
    /// Number of distinct target/class ids among the weights.
    pub distinct_ids: usize,
}

fn len_check(
    op: &str,
    node: &NodeProto,
    name: &str,
    len: usize,
    expected: usize,
) -> TractResult<()> {
    if len != expected {
        bail!("{op} node `{}`: attribute {name} has {len} values, expected {expected}", node.name)
    }
    Ok(())
}

impl Ensemble {
    /// Parses the ensemble of `node`; `prefix` is `target` (regressor) or `class` (classifier)
    /// and `n_targets` the number of output columns.
    pub(crate) fn parse(
        ctx: &ParsingContext,
        node: &NodeProto,
        op: &str,
        prefix: &str,
        n_targets: usize,
    ) -> TractResult<Ensemble> {
        let name = &node.name;
        let ints = |a: &str| -> TractResult<Vec<i64>> {
            Ok(node.get_attr_opt_vec::<i64>(a)?.unwrap_or_default())
        };
        let tree_ids = ints("nodes_treeids")?;
        let node_ids = ints("nodes_nodeids")?;
        let features = ints("nodes_featureids")?;
        let true_ids = ints("nodes_truenodeids")?;
        let false_ids = ints("nodes_falsenodeids")?;
        let missing = ints("nodes_missing_value_tracks_true")?;
        let modes: Vec<String> = node.get_attr_opt_vec("nodes_modes")?.unwrap_or_default();
        let values = f64_list(ctx, node, "nodes_values")?.unwrap_or_default();
        let n = tree_ids.len();
        if n == 0 {
            bail!("{op} node `{name}`: attribute nodes_treeids is missing or empty");
        }
        len_check(op, node, "nodes_nodeids", node_ids.len(), n)?;
        len_check(op, node, "nodes_featureids", features.len(), n)?;
        len_check(op, node, "nodes_truenodeids", true_ids.len(), n)?;
        len_check(op, node, "nodes_falsenodeids", false_ids.len(), n)?;
        len_check(op, node, "nodes_modes", modes.len(), n)?;
        len_check(op, node, "nodes_values", values.len(), n)?;
        if !missing.is_empty() {
            len_check(op, node, "nodes_missing_value_tracks_true", missing.len(), n)?;
        }

        let mut index: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
        let mut nodes = Vec::with_capacity(n);
        let mut roots = vec![];
        let mut max_feature = None;
        for i in 0..n {
            let mode = Mode::parse(&modes[i]).ok_or_else(|| {
                format_err!(
                    "{op} node `{name}`: attribute nodes_modes: unknown mode {:?}",
                    modes[i]
                )
            })?;
            if index.insert((tree_ids[i], node_ids[i]), i).is_some() {
                bail!(
                    "{op} node `{name}`: node {} of tree {} is defined twice",
                    node_ids[i],
                    tree_ids[i]
                );
            }
            if i == 0 || tree_ids[i] != tree_ids[i - 1] {
                roots.push(i);
            }
            let feature = if mode == Mode::Leaf {
                0
            } else {
                let f = usize::try_from(features[i]).map_err(|_| {
                    format_err!(
                        "{op} node `{name}`: attribute nodes_featureids: negative feature {}",
                        features[i]
                    )
                })?;
                max_feature = max_feature.max(Some(f));
                f
            };
            nodes.push(Node {
                feature,
                value: values[i],
                mode,
                missing_true: missing.get(i).is_some_and(|m| *m != 0),
                t: 0,
                f: 0,
                set: 0,
            });
        }
        for i in 0..n {
            if nodes[i].mode == Mode::Leaf {
                continue;
            }
            let find = |id: i64, attr: &str| -> TractResult<usize> {
                match index.get(&(tree_ids[i], id)) {
                    Some(&j) if j != i => Ok(j),
                    Some(_) => bail!(
                        "{op} node `{name}`: attribute {attr}: node {} of tree {} points to itself",
                        node_ids[i],
                        tree_ids[i]
                    ),
                    None => bail!(
                        "{op} node `{name}`: attribute {attr}: node {id} of tree {} does not exist",
                        tree_ids[i]
                    ),
                }
            };
            nodes[i].t = find(true_ids[i], "nodes_truenodeids")?;
            nodes[i].f = find(false_ids[i], "nodes_falsenodeids")?;
        }

        let w_ids = ints(&format!("{prefix}_ids"))?;
        let w_nodes = ints(&format!("{prefix}_nodeids"))?;
        let w_trees = ints(&format!("{prefix}_treeids"))?;
        let w_values = f64_list(ctx, node, &format!("{prefix}_weights"))?.unwrap_or_default();
        let m = w_ids.len();
        len_check(op, node, &format!("{prefix}_nodeids"), w_nodes.len(), m)?;
        len_check(op, node, &format!("{prefix}_treeids"), w_trees.len(), m)?;
        len_check(op, node, &format!("{prefix}_weights"), w_values.len(), m)?;
        let weights_all_positive = w_values.iter().all(|w| *w >= 0.0);
        let mut distinct = w_ids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // onnxruntime sorts the weights by (tree, node), keeping the attribute order within a leaf.
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by_key(|&k| (w_trees[k], w_nodes[k], k));
        let mut weights = Vec::with_capacity(m);
        for k in order {
            let Some(&leaf) = index.get(&(w_trees[k], w_nodes[k])) else {
                bail!(
                    "{op} node `{name}`: attribute {prefix}_nodeids: node {} of tree {} does not exist",
                    w_nodes[k],
                    w_trees[k]
                );
            };
            if nodes[leaf].mode != Mode::Leaf {
                // onnxruntime ignores weights on branches (old onnxmltools wrote some).
                continue;
            }
            let target =
                usize::try_from(w_ids[k]).ok().filter(|t| *t < n_targets).ok_or_else(|| {
                    format_err!(
                        "{op} node `{name}`: attribute {prefix}_ids: id {} out of 0..{n_targets}",
                        w_ids[k]
                    )
                })?;
            if nodes[leaf].f == 0 {
                nodes[leaf].t = weights.len();
            }
            nodes[leaf].f += 1;
            weights.push((target, w_values[k]));
        }
        Ok(Ensemble {
            nodes,
            roots,
            sets: vec![],
            weights,
            max_feature,
            n_targets,
            weights_all_positive,
            distinct_ids: distinct.len(),
        })
    }

    /// Builds the ensemble of an opset-5 `TreeEnsemble` node named `name`: branch `i` of
    /// `parts` becomes node `i`, leaf `j` node `n + j` (one weight each).
    pub(crate) fn from_v5(op: &str, name: &str, parts: V5Parts) -> TractResult<Ensemble> {
        let n = parts.features.len();
        if n == 0 {
            bail!("{op} node `{name}`: attribute nodes_featureids is missing or empty");
        }
        let check = |attr: &str, len: usize, expected: usize| -> TractResult<()> {
            if len != expected {
                bail!("{op} node `{name}`: attribute {attr} has {len} values, expected {expected}")
            }
            Ok(())
        };
        check("nodes_modes", parts.modes.len(), n)?;
        check("nodes_truenodeids", parts.true_ids.len(), n)?;
        check("nodes_falsenodeids", parts.false_ids.len(), n)?;
        check("nodes_trueleafs", parts.true_leafs.len(), n)?;
        check("nodes_falseleafs", parts.false_leafs.len(), n)?;
        if !parts.missing.is_empty() {
            check("nodes_missing_value_tracks_true", parts.missing.len(), n)?;
        }
        let m = parts.leaf_targets.len();
        check("leaf_weights", parts.leaf_weights.len(), m)?;
        let n_members = parts.modes.iter().filter(|m| **m == Mode::Member).count();
        if n_members < n {
            check("nodes_splits", parts.splits.len(), n)?;
        }

        // Member sets, NaN-separated, in the order of the BRANCH_MEMBER nodes.
        let mut lists: Vec<Vec<f64>> = vec![vec![]];
        for v in &parts.membership_values {
            if v.is_nan() {
                lists.push(vec![]);
            } else if let Some(last) = lists.last_mut() {
                last.push(*v);
            }
        }
        if lists.last().is_some_and(|s| s.is_empty()) {
            lists.pop();
        }
        if lists.len() < n_members {
            bail!(
                "{op} node `{name}`: attribute membership_values holds {} sets for {n_members} \
                 BRANCH_MEMBER nodes",
                lists.len()
            );
        }
        let mut sets = Vec::with_capacity(lists.len());
        for (k, values) in lists.into_iter().enumerate() {
            let big = values.len() >= 31 || values.iter().any(|v| !(0.0..=30.0).contains(v));
            if big {
                if let Some(v) = values.iter().find(|v| {
                    v.trunc() != **v || **v < f64::from(i32::MIN) || **v > f64::from(i32::MAX)
                }) {
                    bail!(
                        "{op} node `{name}`: attribute membership_values: set {k} has {v}, \
                         not an int32 (sets of 31 values or more, or with values outside \
                         0..=30, must hold integers, as in onnxruntime)"
                    );
                }
            }
            sets.push(MemberSet { values, big });
        }

        let mut nodes = Vec::with_capacity(n + m);
        let mut max_feature = None;
        let mut next_set = 0;
        for i in 0..n {
            let feature = usize::try_from(parts.features[i]).map_err(|_| {
                format_err!(
                    "{op} node `{name}`: attribute nodes_featureids: negative feature {}",
                    parts.features[i]
                )
            })?;
            max_feature = max_feature.max(Some(feature));
            let child = |id: i64, leaf: bool, attr: &str| -> TractResult<usize> {
                let limit = if leaf { m } else { n };
                match usize::try_from(id).ok().filter(|j| *j < limit) {
                    Some(j) if leaf => Ok(n + j),
                    Some(j) if j != i => Ok(j),
                    Some(_) => bail!("{op} node `{name}`: attribute {attr}: node {i} points to itself"),
                    None => bail!(
                        "{op} node `{name}`: attribute {attr}: {} {id} of node {i} out of 0..{limit}",
                        if leaf { "leaf" } else { "node" }
                    ),
                }
            };
            let mode = parts.modes[i];
            let set = if mode == Mode::Member {
                next_set += 1;
                next_set - 1
            } else {
                0
            };
            nodes.push(Node {
                feature,
                value: if mode == Mode::Member { 0.0 } else { parts.splits[i] },
                mode,
                missing_true: parts.missing.get(i).is_some_and(|m| *m != 0),
                t: child(parts.true_ids[i], parts.true_leafs[i] != 0, "nodes_truenodeids")?,
                f: child(parts.false_ids[i], parts.false_leafs[i] != 0, "nodes_falsenodeids")?,
                set,
            });
        }
        let mut weights = Vec::with_capacity(m);
        for j in 0..m {
            let target = usize::try_from(parts.leaf_targets[j])
                .ok()
                .filter(|t| *t < parts.n_targets)
                .ok_or_else(|| {
                    format_err!(
                        "{op} node `{name}`: attribute leaf_targetids: id {} out of 0..{}",
                        parts.leaf_targets[j],
                        parts.n_targets
                    )
                })?;
            weights.push((target, parts.leaf_weights[j]));
            nodes.push(Node {
                feature: 0,
                value: 0.0,
                mode: Mode::Leaf,
                missing_true: false,
                t: j,
                f: 1,
                set: 0,
            });
        }
        let roots = parts
            .roots
            .iter()
            .map(|r| {
                usize::try_from(*r).ok().filter(|r| *r < n).ok_or_else(|| {
                    format_err!("{op} node `{name}`: attribute tree_roots: root {r} out of 0..{n}")
                })
            })
            .collect::<TractResult<Vec<usize>>>()?;
        if roots.is_empty() {
            bail!("{op} node `{name}`: attribute tree_roots is missing or empty");
        }
        let mut distinct: Vec<usize> = weights.iter().map(|w| w.0).collect();
        distinct.sort_unstable();
        distinct.dedup();
        Ok(Ensemble {
            weights_all_positive: weights.iter().all(|w| w.1 >= 0.0),
            distinct_ids: distinct.len(),
            nodes,
            roots,
            sets,
            weights,
            max_feature,
            n_targets: parts.n_targets,
        })
    }

    /// Number of trees.
    pub(crate) fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Checks that rows of `n_features` values hold every feature a branch reads.
    pub(crate) fn check_features(&self, op: &str, n_features: usize) -> TractResult<()> {
        if let Some(f) = self.max_feature {
            if f >= n_features {
                bail!("{op}: a branch reads feature {f} but the input has {n_features} features");
            }
        }
        Ok(())
    }

    fn leaf(&self, root: usize, row: &[f64]) -> TractResult<&Node> {
        let mut ix = root;
        for _ in 0..=self.nodes.len() {
            let node = &self.nodes[ix];
            if node.mode == Mode::Leaf {
                return Ok(node);
            }
            let x = row[node.feature];
            let hit = if node.mode == Mode::Member {
                self.sets[node.set].contains(x)
            } else {
                node.mode.test(x, node.value)
            };
            ix = if hit || (node.missing_true && x.is_nan()) { node.t } else { node.f };
        }
        bail!("tree ensemble has a cycle")
    }

    /// Runs every tree on `row` and aggregates the leaf weights into `scores`
    /// (`n_targets` entries, reset by the caller). With one target, only the first weight of
    /// a leaf counts, as in onnxruntime.
    pub(crate) fn accumulate(
        &self,
        row: &[f64],
        agg: Aggregate,
        scores: &mut [Score],
    ) -> TractResult<()> {
        for &root in &self.roots {
            let leaf = self.leaf(root, row)?;
            let ws = &self.weights[leaf.t..leaf.t + leaf.f];
            let ws = if self.n_targets == 1 { &ws[..ws.len().min(1)] } else { ws };
            for &(target, w) in ws {
                let s = &mut scores[target];
                match agg {
                    Aggregate::Sum | Aggregate::Average => s.score += w,
                    Aggregate::Min => {
                        if !s.has || w < s.score {
                            s.score = w
                        }
                    }
                    Aggregate::Max => {
                        if !s.has || w > s.score {
                            s.score = w
                        }
                    }
                }
                s.has = true;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One stump per mode on feature 0 at 1.0, leaves 10 (true) and 20 (false).
    fn stump(mode: Mode, missing_true: bool) -> Ensemble {
        let branch = Node { feature: 0, value: 1.0, mode, missing_true, t: 1, f: 2, set: 0 };
        let leaf = |w| Node {
            feature: 0,
            value: 0.0,
            mode: Mode::Leaf,
            missing_true: false,
            t: w,
            f: 1,
            set: 0,
        };
        Ensemble {
            nodes: vec![branch, leaf(0), leaf(1)],
            roots: vec![0],
            sets: vec![],
            weights: vec![(0, 10.0), (0, 20.0)],
            max_feature: Some(0),
            n_targets: 1,
            weights_all_positive: true,
            distinct_ids: 1,
        }
    }

    fn eval(e: &Ensemble, x: f64) -> f64 {
        let mut s = [Score::default()];
        e.accumulate(&[x], Aggregate::Sum, &mut s).unwrap();
        s[0].score
    }

    #[test]
    fn every_mode_and_missing_values() {
        for (mode, at_1, at_2) in [
            (Mode::Leq, 10.0, 20.0),
            (Mode::Lt, 20.0, 20.0),
            (Mode::Gte, 10.0, 10.0),
            (Mode::Gt, 20.0, 10.0),
            (Mode::Eq, 10.0, 20.0),
            (Mode::Neq, 20.0, 10.0),
        ] {
            let e = stump(mode, false);
            assert_eq!((eval(&e, 1.0), eval(&e, 2.0)), (at_1, at_2), "{mode:?}");
        }
        assert_eq!(eval(&stump(Mode::Leq, false), f64::NAN), 20.0);
        assert_eq!(eval(&stump(Mode::Leq, true), f64::NAN), 10.0);
        assert_eq!(eval(&stump(Mode::Neq, false), f64::NAN), 10.0);
    }
}
