//! Load-time graph rewrites: constant folding (on the device, with the same kernels that serve
//! requests) and fusion of Conv + BatchNormalization (+ Relu), Gemm/MatMul + Relu.

use std::collections::HashMap;

use super::exec::{self, Device};
use super::graph::{Graph, HostData, HostTensor, Node};
use super::lower::Lowerer;
use crate::AccelError;

/// Evaluates every node whose inputs are all constants; returns how many were folded.
pub(crate) fn fold_constants(graph: &mut Graph, dev: &Device) -> Result<usize, AccelError> {
    let mut folded = 0;
    let mut kept = Vec::with_capacity(graph.nodes.len());
    for node in std::mem::take(&mut graph.nodes) {
        let present: Vec<&String> = node.inputs.iter().filter(|i| !i.is_empty()).collect();
        let constant = !present.is_empty() && present.iter().all(|i| graph.consts.contains_key(*i));
        if !constant {
            kept.push(node);
            continue;
        }
        let plan = Lowerer::single(&graph.consts, graph.opset, &node)?;
        let values = exec::evaluate(dev, &plan, &graph.consts)?;
        let outputs = node.outputs.iter().filter(|o| !o.is_empty());
        for (name, value) in outputs.zip(values) {
            graph.consts.insert(name.clone(), value);
        }
        folded += 1;
    }
    graph.nodes = kept;
    Ok(folded)
}

/// How many inputs read each value; graph outputs count as readers that cannot be fused away.
fn readers(graph: &Graph) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for node in &graph.nodes {
        for i in node.inputs.iter().filter(|i| !i.is_empty()) {
            *n.entry(i.clone()).or_insert(0) += 1;
        }
    }
    for o in &graph.outputs {
        *n.entry(o.clone()).or_insert(0) += 2;
    }
    n
}

/// The index of the only node reading `value`, if exactly one node reads it once.
fn sole_reader(graph: &Graph, readers: &HashMap<String, usize>, value: &str) -> Option<usize> {
    if readers.get(value) != Some(&1) {
        return None;
    }
    graph.nodes.iter().position(|n| n.inputs.iter().any(|i| i == value))
}

fn f32s<'a>(graph: &'a Graph, name: Option<&str>) -> Option<&'a Vec<f32>> {
    match &graph.consts.get(name?)?.data {
        HostData::F32(v) => Some(v),
        HostData::I64(_) => None,
    }
}

/// Folds BatchNormalization into the convolution before it: W' = W·s, b' = (b − mean)·s + β,
/// with s = γ / √(var + ε).
fn conv_batch_norm(graph: &mut Graph, conv: usize, bn: usize) -> bool {
    let (c, b) = (&graph.nodes[conv], &graph.nodes[bn]);
    if b.op != "BatchNormalization" || b.input(0) != c.outputs.first().map(String::as_str) {
        return false;
    }
    if b.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return false;
    }
    let (Some(w), Some(w_t)) =
        (f32s(graph, c.input(1)), c.input(1).and_then(|n| graph.consts.get(n)))
    else {
        return false;
    };
    let params: Option<Vec<&Vec<f32>>> = (1..5).map(|i| f32s(graph, b.input(i))).collect();
    let Some(params) = params else { return false };
    let channels = w_t.shape.first().copied().unwrap_or(0);
    if channels == 0 || params.iter().any(|p| p.len() != channels) {
        return false;
    }
    let bias = match c.input(2) {
        Some(name) => match f32s(graph, Some(name)) {
            Some(v) if v.len() == channels => v.clone(),
            _ => return false,
        },
        None => vec![0.0; channels],
    };
    let eps = b.float("epsilon", 1e-5);
    let (gamma, beta, mean, var) = (params[0], params[1], params[2], params[3]);
    let per = w.len() / channels;
    let mut new_w = w.clone();
    let mut new_b = vec![0f32; channels];
    for ch in 0..channels {
        let s = gamma[ch] / (var[ch] + eps).sqrt();
        for v in &mut new_w[ch * per..(ch + 1) * per] {
            *v *= s;
        }
        new_b[ch] = (bias[ch] - mean[ch]) * s + beta[ch];
    }
    let shape = w_t.shape.clone();
    let (wn, bname) = (format!("{}#fused_w", c.name), format!("{}#fused_b", c.name));
    let out = b.outputs[0].clone();
    graph.consts.insert(wn.clone(), HostTensor { shape, data: HostData::F32(new_w) });
    graph
        .consts
        .insert(bname.clone(), HostTensor { shape: vec![channels], data: HostData::F32(new_b) });
    let c = &mut graph.nodes[conv];
    c.inputs = vec![c.inputs[0].clone(), wn, bname];
    c.outputs = vec![out];
    graph.nodes.remove(bn);
    true
}

/// Applies every fusion until none applies; returns a line per fusion, for the logs.
pub(crate) fn fuse(graph: &mut Graph) -> Vec<String> {
    let mut done = Vec::new();
    loop {
        let readers = readers(graph);
        let mut changed = false;
        for i in 0..graph.nodes.len() {
            let n: &Node = &graph.nodes[i];
            let Some(out) = n.outputs.first().cloned() else { continue };
            let Some(j) = sole_reader(graph, &readers, &out) else { continue };
            let (op, next) = (n.op.clone(), graph.nodes[j].op.clone());
            let name = n.name.clone();
            let next_name = graph.nodes[j].name.clone();
            if op == "Conv" && !n.fused_relu && next == "BatchNormalization" {
                if conv_batch_norm(graph, i, j) {
                    done.push(format!("{name} + {next_name} (Conv + BatchNormalization)"));
                    changed = true;
                    break;
                }
            } else if matches!(op.as_str(), "Conv" | "Gemm" | "MatMul")
                && !n.fused_relu
                && next == "Relu"
            {
                let relu_out = graph.nodes[j].outputs[0].clone();
                let n = &mut graph.nodes[i];
                n.fused_relu = true;
                n.outputs[0] = relu_out;
                graph.nodes.remove(j);
                done.push(format!("{name} + {next_name} ({op} + Relu)"));
                changed = true;
                break;
            }
        }
        if !changed {
            return done;
        }
    }
}
