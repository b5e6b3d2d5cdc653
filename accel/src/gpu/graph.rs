//! The ONNX graph as the GPU backend sees it: nodes, constants and the graph's inputs/outputs,
//! read with tract's ONNX front end (protobuf decoding and tensor loading are tract's).

use std::collections::HashMap;
use std::path::Path;

use tract_onnx::pb::{self, AttributeProto};
use tract_onnx::prelude::{DatumType, Framework};

use crate::{AccelError, DType, TensorSpec, DYNAMIC};

/// The element types kernels compute on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dt {
    F32,
    I64,
}

impl Dt {
    pub(crate) fn dtype(self) -> DType {
        match self {
            Dt::F32 => DType::F32,
            Dt::I64 => DType::I64,
        }
    }
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

    /// The elements as integers (shapes, axes, indices).
    pub(crate) fn as_i64(&self) -> Vec<i64> {
        match &self.data {
            HostData::F32(v) => v.iter().map(|&x| x as i64).collect(),
            HostData::I64(v) => v.clone(),
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
    pub domain: String,
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

    pub(crate) fn floats(&self, name: &str) -> Option<Vec<f32>> {
        self.attr(name).map(|a| a.floats.clone())
    }

    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.attr(name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    pub(crate) fn strings(&self, name: &str) -> Option<Vec<String>> {
        self.attr(name)
            .map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
    }

    /// The name of input `ix`, if present.
    pub(crate) fn input(&self, ix: usize) -> Option<&str> {
        self.inputs.get(ix).map(String::as_str).filter(|s| !s.is_empty())
    }
}

/// A graph input or output: its name, element type and shape ([`DYNAMIC`] for the batch).
#[derive(Debug, Clone)]
pub(crate) struct Port {
    pub name: String,
    pub dt: Dt,
    pub shape: Vec<i64>,
}

impl Port {
    pub(crate) fn spec(&self) -> TensorSpec {
        TensorSpec { name: self.name.clone(), dtype: self.dt.dtype(), shape: self.shape.clone() }
    }
}

/// An ONNX model, ready for lowering.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    pub nodes: Vec<Node>,
    pub consts: HashMap<String, HostTensor>,
    pub inputs: Vec<Port>,
    /// Output names, in order (dtypes and shapes come from lowering).
    pub outputs: Vec<String>,
    /// The default-domain opset the model was written for.
    pub opset: i64,
}

impl Graph {
    /// Reads `model.onnx`, its initializers and `Constant` nodes.
    pub(crate) fn load(path: &Path) -> Result<Graph, AccelError> {
        let invalid = |reason: String| AccelError::InvalidModel { path: path.into(), reason };
        if let Err(source) = std::fs::metadata(path) {
            return Err(AccelError::ArtifactUnreadable { path: path.into(), source });
        }
        let proto =
            tract_onnx::onnx().proto_model_for_path(path).map_err(|e| invalid(format!("{e:#}")))?;
        let opset = proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .unwrap_or(1);
        let graph = proto.graph.ok_or_else(|| invalid("the file has no graph".into()))?;
        let dir = path.parent().and_then(|p| p.to_str()).map(str::to_string);
        let resolver = tract_onnx::data_resolver::FopenDataResolver;
        let mut consts = HashMap::new();
        for init in &graph.initializer {
            let t = tract_onnx::tensor::load_tensor(&resolver, init, dir.as_deref())
                .map_err(|e| invalid(format!("initializer {}: {e:#}", init.name)))?;
            consts.insert(init.name.clone(), host_tensor(&init.name, &t)?);
        }
        let mut nodes = Vec::new();
        for n in graph.node {
            let name = if n.name.is_empty() {
                n.output.first().cloned().unwrap_or_default()
            } else {
                n.name.clone()
            };
            if n.op_type == "Constant" && n.domain.is_empty() {
                let value =
                    n.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.clone());
                let Some(value) = value else {
                    return Err(AccelError::UnsupportedOp { op: "Constant".into(), node: name });
                };
                let t = tract_onnx::tensor::load_tensor(&resolver, &value, dir.as_deref())
                    .map_err(|e| invalid(format!("Constant {name}: {e:#}")))?;
                if let Some(out) = n.output.first() {
                    consts.insert(out.clone(), host_tensor(&name, &t)?);
                }
                continue;
            }
            nodes.push(Node {
                op: n.op_type,
                domain: n.domain,
                name,
                inputs: n.input,
                outputs: n.output,
                attrs: n.attribute,
                fused_relu: false,
            });
        }
        let mut inputs = Vec::new();
        for input in &graph.input {
            if consts.contains_key(&input.name) {
                continue; // an initializer listed as an input (IR < 4): a constant here
            }
            inputs.push(port(input).map_err(|reason| AccelError::Unsupported {
                what: format!("input {}: {reason}", input.name),
            })?);
        }
        let outputs = graph.output.iter().map(|o| o.name.clone()).collect();
        Ok(Graph { nodes, consts, inputs, outputs, opset })
    }
}

fn port(info: &pb::ValueInfoProto) -> Result<Port, String> {
    use pb::tensor_shape_proto::dimension::Value;
    let Some(pb::type_proto::Value::TensorType(t)) =
        info.r#type.as_ref().and_then(|t| t.value.clone())
    else {
        return Err("not a tensor".into());
    };
    let dt = match t.elem_type {
        1 => Dt::F32,
        7 => Dt::I64,
        other => {
            let name = pb::tensor_proto::DataType::try_from(other)
                .map(|d| d.as_str_name().to_lowercase())
                .unwrap_or_else(|_| other.to_string());
            return Err(format!("dtype {name} (the GPU backend takes f32 and i64 inputs)"));
        }
    };
    let dims = t.shape.map(|s| s.dim).unwrap_or_default();
    let mut shape = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        match &d.value {
            Some(Value::DimValue(v)) if *v >= 0 => shape.push(*v),
            _ if i == 0 => shape.push(DYNAMIC),
            _ => return Err(format!("dimension {i} is dynamic; only the batch (first) may be")),
        }
    }
    Ok(Port { name: info.name.clone(), dt, shape })
}

/// Converts a tract tensor into a host constant (f32 or i64; other types are widened or refused).
fn host_tensor(name: &str, t: &tract_onnx::prelude::Tensor) -> Result<HostTensor, AccelError> {
    let unsupported = || AccelError::Unsupported {
        what: format!("dtype {:?} of constant {name}", t.datum_type()),
    };
    let internal = |e: tract_onnx::prelude::TractError| AccelError::Internal(format!("{e:#}"));
    let shape = t.shape().to_vec();
    let data = match t.datum_type() {
        DatumType::F32 | DatumType::F64 | DatumType::F16 => {
            let c = t.cast_to::<f32>().map_err(internal)?;
            let view = c.try_as_plain_ram().map_err(internal)?;
            HostData::F32(view.as_slice::<f32>().map_err(internal)?.to_vec())
        }
        DatumType::I64
        | DatumType::I32
        | DatumType::I16
        | DatumType::I8
        | DatumType::U8
        | DatumType::U16
        | DatumType::U32
        | DatumType::Bool => {
            let c = t.cast_to::<i64>().map_err(internal)?;
            let view = c.try_as_plain_ram().map_err(internal)?;
            HostData::I64(view.as_slice::<i64>().map_err(internal)?.to_vec())
        }
        _ => return Err(unsupported()),
    };
    Ok(HostTensor { shape, data })
}
