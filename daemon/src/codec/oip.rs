//! Open Inference Protocol (KServe v2) JSON bodies: inference requests, responses, metadata.

use edgeserve_accel::{DType, Signature, Tensor, TensorSpec};
use serde::Deserialize;
use serde_json::{json, Value};

use super::nested::{flat_values, flatten, leaves_to_data};

/// The protocol's name for a dtype.
pub fn datatype(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "FP32",
        DType::F64 => "FP64",
        DType::I64 => "INT64",
        DType::I32 => "INT32",
        DType::U8 => "UINT8",
        DType::Bool => "BOOL",
    }
}

#[derive(Debug, Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    inputs: Vec<InputTensor>,
    #[serde(default)]
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Debug, Deserialize)]
struct InputTensor {
    name: String,
    shape: Vec<usize>,
    datatype: String,
    data: Value,
}

#[derive(Debug, Deserialize)]
struct RequestedOutput {
    name: String,
}

/// A decoded inference request.
pub struct Decoded {
    pub id: Option<String>,
    pub inputs: Vec<Tensor>,
    /// Output names the client asked for (all when `None`).
    pub outputs: Option<Vec<String>>,
}

fn input_tensor(input: &InputTensor, spec: &TensorSpec) -> Result<Tensor, String> {
    let named = |e: String| format!("input {}: {e}", spec.name);
    if input.datatype != datatype(spec.dtype) {
        return Err(named(format!(
            "expected datatype {}, got {}",
            datatype(spec.dtype),
            input.datatype
        )));
    }
    let (_, leaves) = flatten(&input.data).map_err(named)?;
    let want: usize = input.shape.iter().product();
    if leaves.len() != want {
        return Err(named(format!(
            "shape {:?} needs {want} elements, data has {}",
            input.shape,
            leaves.len()
        )));
    }
    let data = leaves_to_data(&leaves, spec.dtype).map_err(named)?;
    let tensor = Tensor::new(input.shape.clone(), data).map_err(|e| named(e.to_string()))?;
    spec.check(&tensor).map_err(|e| e.to_string())?;
    Ok(tensor)
}

/// Reads an inference request into one tensor per model input, in signature order.
pub fn decode(body: Value, sig: &Signature) -> Result<Decoded, String> {
    let req: InferRequest =
        serde_json::from_value(body).map_err(|e| format!("not an inference request: {e}"))?;
    if let Some(unknown) = req.inputs.iter().find(|i| sig.input(&i.name).is_none()) {
        return Err(format!("unknown input {}", unknown.name));
    }
    let inputs = sig
        .inputs
        .iter()
        .map(|spec| {
            let input = req
                .inputs
                .iter()
                .find(|i| i.name == spec.name)
                .ok_or_else(|| format!("input {} is missing", spec.name))?;
            input_tensor(input, spec)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = match req.outputs {
        None => None,
        Some(list) => {
            let names: Vec<String> = list.into_iter().map(|o| o.name).collect();
            if let Some(bad) = names.iter().find(|n| !sig.outputs.iter().any(|o| &o.name == *n)) {
                return Err(format!("unknown output {bad}"));
            }
            Some(names)
        }
    };
    Ok(Decoded { id: req.id, inputs, outputs })
}

/// The inference response.
pub fn encode(
    model_name: &str,
    model_version: &str,
    id: Option<&str>,
    outputs: &[Tensor],
    sig: &Signature,
    wanted: Option<&[String]>,
) -> Value {
    let items: Vec<Value> = sig
        .outputs
        .iter()
        .zip(outputs)
        .filter(|(spec, _)| wanted.is_none_or(|w| w.contains(&spec.name)))
        .map(|(spec, t)| {
            json!({
                "name": spec.name,
                "datatype": datatype(t.dtype()),
                "shape": t.shape(),
                "data": flat_values(t),
            })
        })
        .collect();
    let mut body =
        json!({ "model_name": model_name, "model_version": model_version, "outputs": items });
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    body
}

/// Model metadata: the endpoint's signature in the protocol's terms.
pub fn metadata(model_name: &str, versions: &[String], sig: &Signature) -> Value {
    let specs = |list: &[TensorSpec]| -> Vec<Value> {
        list.iter()
            .map(|s| json!({ "name": s.name, "datatype": datatype(s.dtype), "shape": s.shape }))
            .collect()
    };
    json!({
        "name": model_name,
        "versions": versions,
        "platform": "edgeserve",
        "inputs": specs(&sig.inputs),
        "outputs": specs(&sig.outputs),
    })
}
