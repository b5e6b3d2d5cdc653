//! Lowering: device ops become kernel launches over numbered buffers, gathered in a [`Plan`] for
//! one concrete batch size (`crate::gpu::place` decides which nodes run where and drives this).
//! Lowering is pure host code; `exec` binds a plan to a device.
//!
//! Each op family has its own file; an op is described as an ONNX-style [`Node`] (op name,
//! attributes, input names), reads its inputs' shapes, checks them, names the node in any error,
//! and appends the launches computing its outputs.

pub(crate) mod elementwise;
mod layout;
mod spatial;

use std::collections::HashMap;

use std::ops::Range;
use std::sync::Arc;

use tract_onnx::prelude::{TValue, TypedModel};

use super::graph::{Dt, HostTensor, Node};
use crate::AccelError;

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
    /// The node this launch computes (for debugging: `{:?}` of a plan).
    #[allow(dead_code)]
    pub node: String,
}

/// A buffer of a plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TempInfo {
    pub dt: Dt,
    pub len: usize,
}

/// An input of a node run on the host.
#[derive(Debug, Clone)]
pub(crate) enum HostIn {
    /// A host value of the run (a model input, a host node's output or a download).
    Value(usize),
    /// A constant of the graph.
    Const(TValue),
}

/// One thing a run does, in order.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// Enqueues `steps[range]`.
    Launches(Range<usize>),
    /// Copies host value `host` into plan buffer `temp` (a host-to-device boundary).
    Upload { host: usize, temp: usize },
    /// Copies a device value into host value `host` (a device-to-host boundary).
    Download { from: Val, host: usize },
    /// Runs node `node` of the plan's typed model on the host with tract.
    Host { node: usize, inputs: Vec<HostIn>, outputs: Vec<usize> },
}

/// Where a model output is at the end of a run.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    Device(Val),
    Host(usize),
    Const(TValue),
}

/// Everything a run at one batch size does, and where inputs and outputs live.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub temps: Vec<TempInfo>,
    pub steps: Vec<Step>,
    /// What a run does, in order (launches interleaved with host nodes and copies).
    pub items: Vec<Item>,
    /// Host values a run holds; model inputs are values `0..inputs`.
    pub host_values: usize,
    /// Graph outputs, in order.
    pub outputs: Vec<Output>,
    /// Whether a kernel may set the status word.
    pub uses_status: bool,
    /// Constants made by lowering itself, uploaded like the model's.
    pub derived: Vec<(String, HostTensor)>,
    /// The typed model the host nodes belong to (when there are any).
    pub typed: Option<Arc<TypedModel>>,
    /// The device/host split.
    pub split: crate::Placement,
}

impl Plan {
    /// The constants the plan reads.
    pub(crate) fn consts(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        let all = self.steps.iter().flat_map(|s| &s.args).filter_map(|a| match a {
            Arg::Buf(Slot::Const(n)) => Some(n.as_str()),
            _ => None,
        });
        let outs = self.outputs.iter().filter_map(|v| match v {
            Output::Device(Val { slot: Slot::Const(n), .. }) => Some(n.as_str()),
            _ => None,
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

    /// The plan built so far.
    pub(crate) fn plan_mut(&mut self) -> &mut Plan {
        &mut self.plan
    }

    /// The finished plan.
    pub(crate) fn into_plan(self) -> Plan {
        self.plan
    }

    /// Names a value (a node output, by the name lowering uses for it).
    pub(crate) fn set_value(&mut self, name: String, v: Val) {
        self.vals.insert(name, v);
    }

    /// A value by name: computed on the device so far, or a constant.
    pub(crate) fn value(&self, name: &str) -> Option<Val> {
        self.value_named(name)
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

    /// The single element of a constant, as f32.
    pub(crate) fn const_f32(&self, name: &str) -> Option<f32> {
        match self.consts.get(name)?.as_f32().as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    }

    /// Registers a constant made from a node's attributes; returns where it lives.
    pub(crate) fn derived_named(&mut self, node: &str, what: &str, t: HostTensor) -> Slot {
        // Named by content too: plans of other batch sizes share the instance's constants.
        let name = format!("{node}#{what}#{}", content_key(&t));
        if !self.plan.derived.iter().any(|(n, _)| *n == name) {
            self.plan.derived.push((name.clone(), t));
        }
        Slot::Const(name)
    }

    /// Appends a launch computing `node`; empty launches are skipped.
    pub(crate) fn launch(
        &mut self,
        node: &Node,
        kernel: &'static str,
        global: usize,
        args: Vec<Arg>,
    ) {
        self.launch_named(&node.name, kernel, global, args)
    }

    /// Appends a launch computing the node named `node`; empty launches are skipped.
    pub(crate) fn launch_named(
        &mut self,
        node: &str,
        kernel: &'static str,
        global: usize,
        args: Vec<Arg>,
    ) {
        if args.contains(&Arg::Status) {
            self.plan.uses_status = true;
        }
        if global > 0 {
            self.plan.steps.push(Step { kernel, global, args, node: node.to_string() });
        }
    }
}

/// Lowers an ONNX-style node (the ops `crate::gpu::place` describes that way).
pub(crate) fn lower_onnx(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    match node.op.as_str() {
        "Cast" => elementwise::cast(l, node),
        "Conv" => spatial::conv(l, node),
        "MaxPool" | "AveragePool" => spatial::pool(l, node),
        "Concat" => layout::concat(l, node),
        "Gather" => layout::gather(l, node),
        op if elementwise::binary_code(op).is_some() => elementwise::binary(l, node),
        _ => elementwise::unary(l, node),
    }
}

/// A constant's name from its shape and elements (64-bit SipHash).
pub(crate) fn content_key(t: &HostTensor) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    t.shape.hash(&mut h);
    match &t.data {
        super::graph::HostData::F32(v) => v.iter().for_each(|x| x.to_bits().hash(&mut h)),
        super::graph::HostData::I64(v) => v.hash(&mut h),
    }
    format!("const-{:016x}-{}", h.finish(), t.len())
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
