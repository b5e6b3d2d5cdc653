//! Lowering: the ONNX graph becomes a [`Plan`], a list of kernel launches over numbered buffers,
//! for one concrete batch size. Lowering is pure host code; `exec` binds a plan to a device.
//!
//! Each op family has its own file; every op reads its inputs' shapes, checks them, names the
//! node in any error, and appends the launches computing its outputs.

mod elementwise;
mod layout;
mod linear;
mod reduce;
mod spatial;
mod trees;

use std::collections::HashMap;

use super::graph::{Dt, Graph, HostTensor, Node};
use crate::AccelError;

/// The ONNX ops the GPU backend runs (default domain), and the ONNX-ML ones.
pub(crate) const SUPPORTED: &[&str] = &[
    "Gemm",
    "MatMul",
    "Conv",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Clip",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Softmax",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "BatchNormalization",
    "Flatten",
    "Reshape",
    "Transpose",
    "Concat",
    "Identity",
    "Gather",
    "Cast",
    "ReduceMean",
];
pub(crate) const SUPPORTED_ML: &[&str] = &["TreeEnsembleClassifier"];

/// Whether the backend has kernels for a node's op.
pub(crate) fn supports(node: &Node) -> bool {
    match node.domain.as_str() {
        "" | "ai.onnx" => SUPPORTED.contains(&node.op.as_str()),
        "ai.onnx.ml" => SUPPORTED_ML.contains(&node.op.as_str()),
        _ => false,
    }
}

/// Where a value lives on the device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Slot {
    /// A constant, uploaded once per instance.
    Const(String),
    /// A buffer of the plan (an input, an intermediate or an output).
    Temp(usize),
}

/// A value during lowering: where it is, its type and concrete shape.
#[derive(Debug, Clone)]
pub(crate) struct Val {
    pub slot: Slot,
    pub dt: Dt,
    pub shape: Vec<usize>,
}

impl Val {
    pub(crate) fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// One kernel argument.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Buf(Slot),
    Int(i32),
    Float(f32),
    /// A small read-only table of ints (shapes, strides), uploaded with the plan.
    Meta(Vec<i32>),
    /// The plan's status word, set by kernels that find bad input (an index out of range).
    Status,
}

/// One kernel launch over `global` work items.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub kernel: &'static str,
    pub global: usize,
    pub args: Vec<Arg>,
    /// The ONNX node this launch computes (for errors and logs).
    pub node: String,
}

/// A buffer of a plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TempInfo {
    pub dt: Dt,
    pub len: usize,
}

/// Everything a run at one batch size launches, and where inputs and outputs live.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub temps: Vec<TempInfo>,
    pub steps: Vec<Step>,
    /// Graph inputs, in order: their buffers.
    pub inputs: Vec<usize>,
    /// Graph outputs, in order.
    pub outputs: Vec<Val>,
    /// Whether a kernel may set the status word.
    pub uses_status: bool,
    /// Constants made by lowering itself (tree tables), uploaded like the model's.
    pub derived: Vec<(String, HostTensor)>,
}

impl Plan {
    /// The constants the plan reads.
    pub(crate) fn consts(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        let all = self.steps.iter().flat_map(|s| &s.args).filter_map(|a| match a {
            Arg::Buf(Slot::Const(n)) => Some(n.as_str()),
            _ => None,
        });
        let outs = self.outputs.iter().filter_map(|v| match &v.slot {
            Slot::Const(n) => Some(n.as_str()),
            Slot::Temp(_) => None,
        });
        for n in all.chain(outs) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
    }
}

/// Builds a plan, one node at a time.
pub(crate) struct Lowerer<'g> {
    consts: &'g HashMap<String, HostTensor>,
    vals: HashMap<String, Val>,
    plan: Plan,
    opset: i64,
}

/// An error about a node, naming it.
pub(crate) fn bad(node: &Node, what: impl std::fmt::Display) -> AccelError {
    AccelError::Unsupported { what: format!("{} at node \"{}\": {what}", node.op, node.name) }
}

impl<'g> Lowerer<'g> {
    pub(crate) fn new(consts: &'g HashMap<String, HostTensor>, opset: i64) -> Lowerer<'g> {
        Lowerer { consts, vals: HashMap::new(), plan: Plan::default(), opset }
    }

    /// Lowers a whole graph for `batch` rows.
    pub(crate) fn graph(graph: &'g Graph, batch: usize) -> Result<Plan, AccelError> {
        let mut l = Lowerer::new(&graph.consts, graph.opset);
        for input in &graph.inputs {
            let shape: Vec<usize> = input
                .shape
                .iter()
                .map(|&d| if d == crate::DYNAMIC { batch } else { d as usize })
                .collect();
            let v = l.temp(input.dt, shape);
            if let Slot::Temp(ix) = v.slot {
                l.plan.inputs.push(ix);
            }
            l.vals.insert(input.name.clone(), v);
        }
        for node in &graph.nodes {
            l.node(node)?;
        }
        for name in &graph.outputs {
            let v = l.value_named(name).ok_or_else(|| AccelError::InvalidModel {
                path: "model.onnx".into(),
                reason: format!("graph output {name} is computed by no node"),
            })?;
            l.plan.outputs.push(v);
        }
        Ok(l.plan)
    }

    /// Lowers one node whose inputs are all constants (constant folding); the plan's outputs
    /// are the node's.
    pub(crate) fn single(
        consts: &'g HashMap<String, HostTensor>,
        opset: i64,
        node: &Node,
    ) -> Result<Plan, AccelError> {
        let mut l = Lowerer::new(consts, opset);
        l.node(node)?;
        for out in node.outputs.iter().filter(|o| !o.is_empty()) {
            let v = l.value_named(out).ok_or_else(|| bad(node, "output not computed"))?;
            l.plan.outputs.push(v);
        }
        Ok(l.plan)
    }

    fn value_named(&self, name: &str) -> Option<Val> {
        if let Some(v) = self.vals.get(name) {
            return Some(v.clone());
        }
        self.consts.get(name).map(|c| Val {
            slot: Slot::Const(name.to_string()),
            dt: c.dt(),
            shape: c.shape.clone(),
        })
    }

    /// A new plan buffer.
    pub(crate) fn temp(&mut self, dt: Dt, shape: Vec<usize>) -> Val {
        let len = shape.iter().product();
        self.plan.temps.push(TempInfo { dt, len });
        Val { slot: Slot::Temp(self.plan.temps.len() - 1), dt, shape }
    }

    /// Input `ix` of a node, which must be present.
    pub(crate) fn input(&self, node: &Node, ix: usize) -> Result<Val, AccelError> {
        let name = node.input(ix).ok_or_else(|| bad(node, format!("input {ix} is missing")))?;
        self.value_named(name)
            .ok_or_else(|| bad(node, format!("input {name} is produced by no earlier node")))
    }

    /// Input `ix` of a node, if given.
    pub(crate) fn opt_input(&self, node: &Node, ix: usize) -> Result<Option<Val>, AccelError> {
        match node.input(ix) {
            None => Ok(None),
            Some(_) => self.input(node, ix).map(Some),
        }
    }

    /// Input `ix`, which must be a constant (weights, shapes, axes).
    pub(crate) fn const_input(&self, node: &Node, ix: usize) -> Result<&'g HostTensor, AccelError> {
        let name = node.input(ix).ok_or_else(|| bad(node, format!("input {ix} is missing")))?;
        self.consts.get(name).ok_or_else(|| {
            bad(
                node,
                format!("input {name} must be a constant (the GPU backend folds them at load)"),
            )
        })
    }

    pub(crate) fn opset(&self) -> i64 {
        self.opset
    }

    /// Binds a node output to a value.
    pub(crate) fn set_output(&mut self, node: &Node, ix: usize, v: Val) {
        if let Some(name) = node.outputs.get(ix).filter(|n| !n.is_empty()) {
            self.vals.insert(name.clone(), v);
        }
    }

    /// Registers a constant made from a node's attributes; returns where it lives.
    pub(crate) fn derived(&mut self, node: &Node, what: &str, t: HostTensor) -> Slot {
        let name = format!("{}#{what}", node.name);
        if !self.plan.derived.iter().any(|(n, _)| *n == name) {
            self.plan.derived.push((name.clone(), t));
        }
        Slot::Const(name)
    }

    /// Appends a launch; empty launches are skipped.
    pub(crate) fn launch(
        &mut self,
        node: &Node,
        kernel: &'static str,
        global: usize,
        args: Vec<Arg>,
    ) {
        if args.contains(&Arg::Status) {
            self.plan.uses_status = true;
        }
        if global > 0 {
            self.plan.steps.push(Step { kernel, global, args, node: node.name.clone() });
        }
    }

    fn node(&mut self, node: &Node) -> Result<(), AccelError> {
        if !supports(node) {
            return Err(AccelError::UnsupportedOp { op: node.op.clone(), node: node.name.clone() });
        }
        match node.op.as_str() {
            "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "Clip" => elementwise::unary(self, node),
            "Add" | "Sub" | "Mul" | "Div" => elementwise::binary(self, node),
            "Cast" => elementwise::cast(self, node),
            "Gemm" => linear::gemm(self, node),
            "MatMul" => linear::matmul(self, node),
            "Conv" => spatial::conv(self, node),
            "MaxPool" | "AveragePool" => spatial::pool(self, node),
            "BatchNormalization" => spatial::batch_norm(self, node),
            "GlobalAveragePool" => reduce::global_average_pool(self, node),
            "ReduceMean" => reduce::reduce_mean(self, node),
            "Softmax" => reduce::softmax(self, node),
            "Flatten" | "Reshape" | "Identity" => layout::reshape(self, node),
            "Transpose" => layout::transpose(self, node),
            "Concat" => layout::concat(self, node),
            "Gather" => layout::gather(self, node),
            "TreeEnsembleClassifier" => trees::classifier(self, node),
            _ => Err(AccelError::UnsupportedOp { op: node.op.clone(), node: node.name.clone() }),
        }
    }
}

/// The largest rank broadcasting and transposition kernels handle.
pub(crate) const MAX_RANK: usize = 6;

/// Row-major strides of a shape.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The numpy-style broadcast of two shapes.
pub(crate) fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Strides to read `shape` as if broadcast to `out` (0 along broadcast dimensions).
pub(crate) fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let s = strides(shape);
    let pad = out.len() - shape.len();
    (0..out.len()).map(|i| if i < pad || shape[i - pad] == 1 { 0 } else { s[i - pad] }).collect()
}

/// The meta table of the index-mapping kernels: `[rank, dims[6], strides_a[6], strides_b[6]]`.
pub(crate) fn index_meta(
    node: &Node,
    out: &[usize],
    a: &[usize],
    b: &[usize],
) -> Result<Vec<i32>, AccelError> {
    if out.len() > MAX_RANK {
        return Err(bad(node, format!("rank {} is over the GPU backend's {MAX_RANK}", out.len())));
    }
    let mut m = vec![0i32; 1 + 3 * MAX_RANK];
    m[0] = out.len() as i32;
    for i in 0..out.len() {
        m[1 + i] = to_i32(node, out[i])?;
        m[1 + MAX_RANK + i] = to_i32(node, a.get(i).copied().unwrap_or(0))?;
        m[1 + 2 * MAX_RANK + i] = to_i32(node, b.get(i).copied().unwrap_or(0))?;
    }
    Ok(m)
}

/// A size as a kernel int, refusing tensors too large for 32-bit indexing.
pub(crate) fn to_i32(node: &Node, v: usize) -> Result<i32, AccelError> {
    i32::try_from(v).map_err(|_| bad(node, format!("size {v} is over 2^31 elements")))
}

/// Normalises a possibly negative axis against a rank.
pub(crate) fn axis(node: &Node, axis: i64, rank: usize) -> Result<usize, AccelError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(bad(node, format!("axis {axis} is out of range for rank {rank}")))
    }
}

/// Checks a value's element type.
pub(crate) fn want_f32(node: &Node, v: &Val) -> Result<(), AccelError> {
    if v.dt == Dt::F32 {
        Ok(())
    } else {
        Err(bad(node, "only f32 tensors are supported for this op"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast(&[2, 3], &[3]), Some(vec![2, 3]));
        assert_eq!(broadcast(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast(&[2, 3], &[4]), None);
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), vec![0, 1, 0]);
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
    }
}
