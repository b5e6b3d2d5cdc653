//! The values lowering works with: element types, host constants, and ONNX-style nodes (how
//! `place` describes a device op to `lower`).

use tract_onnx::pb::AttributeProto;

/// The element types kernels compute on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dt {
    F32,
    I64,
}

/// Elements of a constant held on the host.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HostData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A constant tensor (an initializer, a `Constant` node or a folded subgraph).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HostTensor {
    pub shape: Vec<usize>,
    pub data: HostData,
}

impl HostTensor {
    pub(crate) fn dt(&self) -> Dt {
        match self.data {
            HostData::F32(_) => Dt::F32,
            HostData::I64(_) => Dt::I64,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match &self.data {
            HostData::F32(v) => v.len(),
            HostData::I64(v) => v.len(),
        }
    }

    /// The elements as floats (scales, bounds).
    pub(crate) fn as_f32(&self) -> Vec<f32> {
        match &self.data {
            HostData::F32(v) => v.clone(),
            HostData::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }
}

/// One ONNX node.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub op: String,
    /// The node's name, or its first output's when the file gives none.
    pub name: String,
    /// Input value names; an empty name is an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: Vec<AttributeProto>,
    /// Set by fusion: apply ReLU to the result (Conv, Gemm, MatMul).
    pub fused_relu: bool,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&AttributeProto> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub(crate) fn int(&self, name: &str, default: i64) -> i64 {
        self.attr(name).map(|a| a.i).unwrap_or(default)
    }

    pub(crate) fn float(&self, name: &str, default: f32) -> f32 {
        self.attr(name).map(|a| a.f).unwrap_or(default)
    }

    pub(crate) fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.attr(name).map(|a| a.ints.clone())
    }

    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.attr(name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    /// The name of input `ix`, if present.
    pub(crate) fn input(&self, ix: usize) -> Option<&str> {
        self.inputs.get(ix).map(String::as_str).filter(|s| !s.is_empty())
    }
}
