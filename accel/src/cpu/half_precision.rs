//! Float16 models on the CPU: tract's expansions of some ops (Gemm's alpha/beta) mix f16 and
//! f32 and refuse the graph, and on x86 tract computes f16 through f32 anyway. So a model whose
//! f16 tensors are all inside the file is widened to f32 before parsing (initializers,
//! constants, casts and value types), and its float16 inputs and outputs are converted at the
//! boundary: clients still send and receive FP16 (SPEC §2, ONNX `FLOAT16` = 10).

use std::collections::BTreeSet;

use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{GraphProto, TensorProto, ValueInfoProto};

use crate::{AccelError, Signature, Tensor, TensorData};

const FLOAT: i32 = 1;
const FLOAT16: i32 = 10;

/// The graph inputs and outputs that were float16 before widening.
#[derive(Debug, Clone, Default)]
pub struct Boundary {
    pub inputs: BTreeSet<String>,
    pub outputs: BTreeSet<String>,
}

impl Boundary {
    /// Whether the model was widened at all.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty() && self.outputs.is_empty()
    }

    /// Reports the widened inputs and outputs as float16 again.
    pub fn restore(&self, signature: &mut Signature) {
        for spec in &mut signature.inputs {
            if self.inputs.contains(&spec.name) {
                spec.dtype = crate::DType::F16;
            }
        }
        for spec in &mut signature.outputs {
            if self.outputs.contains(&spec.name) {
                spec.dtype = crate::DType::F16;
            }
        }
    }

    /// Float16 inputs to f32 for the widened graph.
    pub fn widen(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
        inputs
            .into_iter()
            .map(|t| {
                let (shape, data) = t.into_parts();
                let data = match data {
                    TensorData::F16(v) => TensorData::F32(v.iter().map(|x| x.to_f32()).collect()),
                    other => other,
                };
                Tensor::new(shape, data)
            })
            .collect()
    }

    /// f32 outputs of the widened graph back to float16, where the model declared float16.
    pub fn narrow(
        &self,
        signature: &Signature,
        outputs: Vec<Tensor>,
    ) -> Result<Vec<Tensor>, AccelError> {
        signature
            .outputs
            .iter()
            .zip(outputs)
            .map(|(spec, t)| {
                if !self.outputs.contains(&spec.name) {
                    return Ok(t);
                }
                let (shape, data) = t.into_parts();
                let data = match data {
                    TensorData::F32(v) => {
                        TensorData::F16(v.iter().map(|x| half::f16::from_f32(*x)).collect())
                    }
                    other => other,
                };
                Tensor::new(shape, data)
            })
            .collect()
    }
}

fn is_f16(v: &ValueInfoProto) -> bool {
    matches!(
        v.r#type.as_ref().and_then(|t| t.value.as_ref()),
        Some(TypeValue::TensorType(t)) if t.elem_type == FLOAT16
    )
}

fn widen_value(v: &mut ValueInfoProto) {
    if let Some(TypeValue::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut()) {
        if t.elem_type == FLOAT16 {
            t.elem_type = FLOAT;
        }
    }
}

/// Rewrites a float16 tensor as float32 in place; `false` when its data is external.
fn widen_tensor(t: &mut TensorProto) -> bool {
    if t.data_type != FLOAT16 {
        return true;
    }
    if t.data_location == Some(1) {
        return false;
    }
    let values: Vec<f32> = if !t.raw_data.is_empty() {
        t.raw_data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect()
    } else {
        t.int32_data.iter().map(|&bits| half::f16::from_bits(bits as u16).to_f32()).collect()
    };
    t.data_type = FLOAT;
    t.int32_data.clear();
    t.raw_data = values.iter().flat_map(|x| x.to_le_bytes()).collect();
    true
}

/// Whether every float16 tensor of the graph is stored in the file (widening needs the bytes).
fn all_inline(graph: &GraphProto) -> bool {
    let tensors = graph
        .initializer
        .iter()
        .chain(graph.node.iter().flat_map(|n| n.attribute.iter().filter_map(|a| a.t.as_ref())));
    tensors.filter(|t| t.data_type == FLOAT16).all(|t| t.data_location != Some(1))
}

/// Widens a graph that computes in float16 to float32; returns its float16 boundary (empty
/// when nothing was float16, or when some float16 data is external and the graph is left as is).
pub fn widen(graph: &mut GraphProto) -> Boundary {
    let mut boundary = Boundary {
        inputs: graph.input.iter().filter(|v| is_f16(v)).map(|v| v.name.clone()).collect(),
        outputs: graph.output.iter().filter(|v| is_f16(v)).map(|v| v.name.clone()).collect(),
    };
    let attr_f16 = graph
        .node
        .iter()
        .flat_map(|n| n.attribute.iter())
        .any(|a| a.t.as_ref().is_some_and(|t| t.data_type == FLOAT16));
    let cast_f16 = graph.node.iter().any(|n| {
        n.op_type == "Cast"
            && n.attribute.iter().any(|a| a.name == "to" && a.i == i64::from(FLOAT16))
    });
    let has_f16 = !boundary.is_empty()
        || graph.initializer.iter().any(|t| t.data_type == FLOAT16)
        || attr_f16
        || cast_f16;
    let has_subgraphs = graph
        .node
        .iter()
        .flat_map(|n| n.attribute.iter())
        .any(|a| a.g.is_some() || !a.graphs.is_empty());
    if !has_f16 || has_subgraphs || !all_inline(graph) {
        boundary = Boundary::default();
        return boundary;
    }
    for v in
        graph.input.iter_mut().chain(graph.output.iter_mut()).chain(graph.value_info.iter_mut())
    {
        widen_value(v);
    }
    for t in &mut graph.initializer {
        widen_tensor(t);
    }
    for node in &mut graph.node {
        for attr in &mut node.attribute {
            if let Some(t) = attr.t.as_mut() {
                widen_tensor(t);
            }
            if node.op_type == "Cast" && attr.name == "to" && attr.i == i64::from(FLOAT16) {
                attr.i = i64::from(FLOAT);
            }
        }
    }
    boundary
}
