//! ONNX-ML TreeEnsembleClassifier (scikit-learn forests and boosted trees): the trees become
//! flat node tables and one work item walks every tree for one row.

use std::collections::HashMap;

use super::{bad, to_i32, want_f32, Arg, Lowerer};
use crate::gpu::graph::{Dt, HostData, HostTensor, Node};
use crate::AccelError;

/// Node modes, as the `tree_ensemble` kernel numbers them.
fn mode_code(mode: &str) -> Option<i64> {
    Some(match mode {
        "BRANCH_LEQ" => 0,
        "BRANCH_LT" => 1,
        "BRANCH_GTE" => 2,
        "BRANCH_GT" => 3,
        "BRANCH_EQ" => 4,
        "BRANCH_NEQ" => 5,
        "LEAF" => 6,
        _ => return None,
    })
}

pub(super) fn classifier(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let x = l.input(node, 0)?;
    want_f32(node, &x)?;
    let [rows, features] = match x.shape.as_slice() {
        [r, f] => [*r, *f],
        s => return Err(bad(node, format!("input {s:?} must be 2-D [rows, features]"))),
    };
    let ints = |name: &str| node.ints(name).unwrap_or_default();
    let labels = node
        .ints("classlabels_int64s")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad(node, "only integer class labels (classlabels_int64s) are supported"))?;
    let classes = labels.len();
    let post = match node.string("post_transform").as_deref().unwrap_or("NONE") {
        "NONE" => 0,
        "SOFTMAX" => 1,
        "LOGISTIC" => 2,
        other => return Err(bad(node, format!("post_transform {other}"))),
    };
    let (tree_ids, node_ids, feat_ids) =
        (ints("nodes_treeids"), ints("nodes_nodeids"), ints("nodes_featureids"));
    let (true_ids, false_ids) = (ints("nodes_truenodeids"), ints("nodes_falsenodeids"));
    let values = node.floats("nodes_values").unwrap_or_default();
    let modes = node.strings("nodes_modes").unwrap_or_default();
    let missing = ints("nodes_missing_value_tracks_true");
    let count = tree_ids.len();
    let same = [
        node_ids.len(),
        feat_ids.len(),
        true_ids.len(),
        false_ids.len(),
        values.len(),
        modes.len(),
    ];
    if count == 0
        || same.iter().any(|&n| n != count)
        || (!missing.is_empty() && missing.len() != count)
    {
        return Err(bad(node, "the nodes_* attributes differ in length"));
    }
    let mut index = HashMap::new();
    for i in 0..count {
        index.insert((tree_ids[i], node_ids[i]), i as i64);
    }
    let lookup = |tree: i64, id: i64| {
        index
            .get(&(tree, id))
            .copied()
            .ok_or_else(|| bad(node, format!("tree {tree} has no node {id}")))
    };
    let mut feat = Vec::with_capacity(count);
    let mut mode = Vec::with_capacity(count);
    let mut tnext = Vec::with_capacity(count);
    let mut fnext = Vec::with_capacity(count);
    for i in 0..count {
        let m = mode_code(&modes[i]).ok_or_else(|| bad(node, format!("node mode {}", modes[i])))?;
        mode.push(m);
        if m == 6 {
            feat.push(0);
            tnext.push(i as i64);
            fnext.push(i as i64);
            continue;
        }
        if feat_ids[i] < 0 || feat_ids[i] as usize >= features {
            return Err(bad(
                node,
                format!("feature {} is out of range for {features} features", feat_ids[i]),
            ));
        }
        feat.push(feat_ids[i]);
        tnext.push(lookup(tree_ids[i], true_ids[i])?);
        fnext.push(lookup(tree_ids[i], false_ids[i])?);
    }
    let mut roots: Vec<i64> = Vec::new();
    let mut seen = Vec::new();
    for (i, &tree) in tree_ids.iter().enumerate().take(count) {
        if !seen.contains(&tree) {
            seen.push(tree);
            roots.push(lookup(tree, 0).unwrap_or(i as i64));
        }
    }
    let (c_trees, c_nodes, c_ids) =
        (ints("class_treeids"), ints("class_nodeids"), ints("class_ids"));
    let weights = node.floats("class_weights").unwrap_or_default();
    if c_nodes.len() != c_trees.len()
        || c_ids.len() != c_trees.len()
        || weights.len() != c_trees.len()
    {
        return Err(bad(node, "the class_* attributes differ in length"));
    }
    if classes == 2 && c_ids.iter().all(|&c| c == 0) {
        return Err(bad(node, "binary classifiers with one weight per leaf are not supported"));
    }
    let mut leafw = vec![0f32; count * classes];
    for i in 0..c_trees.len() {
        let at = lookup(c_trees[i], c_nodes[i])? as usize;
        let class = usize::try_from(c_ids[i]).ok().filter(|&c| c < classes).ok_or_else(|| {
            bad(node, format!("class id {} is out of range for {classes} labels", c_ids[i]))
        })?;
        leafw[at * classes + class] += weights[i];
    }
    let base = node.floats("base_values").filter(|b| !b.is_empty()).unwrap_or(vec![0.0; classes]);
    if base.len() != classes {
        return Err(bad(
            node,
            format!("base_values has {} entries for {classes} classes", base.len()),
        ));
    }
    let thr = values;
    let trees = roots.len();
    let i64s = |v: Vec<i64>| HostTensor { shape: vec![v.len()], data: HostData::I64(v) };
    let f32s = |v: Vec<f32>| HostTensor { shape: vec![v.len()], data: HostData::F32(v) };
    let mut missing_true = missing;
    missing_true.resize(count, 0);
    let tables = [
        ("feat", i64s(feat)),
        ("thr", f32s(thr)),
        ("mode", i64s(mode)),
        ("true", i64s(tnext)),
        ("false", i64s(fnext)),
        ("missing", i64s(missing_true)),
        ("leafw", f32s(leafw)),
        ("roots", i64s(roots)),
        ("base", f32s(base)),
        ("labels", i64s(labels)),
    ];
    let mut args = vec![Arg::Buf(x.slot)];
    for (what, t) in tables {
        args.push(Arg::Buf(l.derived(node, what, t)));
    }
    let label = l.temp(Dt::I64, vec![rows]);
    let scores = l.temp(Dt::F32, vec![rows, classes]);
    args.extend([
        Arg::Buf(label.slot.clone()),
        Arg::Buf(scores.slot.clone()),
        Arg::Int(to_i32(node, trees)?),
        Arg::Int(to_i32(node, classes)?),
        Arg::Int(to_i32(node, features)?),
        Arg::Int(to_i32(node, count)?),
        Arg::Int(post),
        Arg::Int(to_i32(node, rows)?),
    ]);
    l.launch(node, "tree_ensemble", rows, args);
    l.set_output(node, 0, label);
    l.set_output(node, 1, scores);
    Ok(())
}
