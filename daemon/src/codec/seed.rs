//! The seed's scoring body: `{"data": ...}` or `{"inputs": {...}}` in, `{"result": ...}` or
//! `{"outputs": {...}}` out.

use edgeserve_accel::{Signature, Tensor};
use serde_json::{Map, Value};

use super::nested::{output_to_json, tensor_from_nested};

/// Reads a seed-style request into one tensor per model input, in signature order.
pub fn decode(body: &Value, sig: &Signature) -> Result<Vec<Tensor>, String> {
    let obj =
        body.as_object().ok_or("request body must be a JSON object with \"data\" or \"inputs\"")?;
    let input_names = || sig.inputs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
    match (obj.get("data"), obj.get("inputs")) {
        (Some(_), Some(_)) => Err("send either \"data\" or \"inputs\", not both".into()),
        (Some(data), None) => {
            if sig.inputs.len() != 1 {
                return Err(format!(
                    "this model has {} inputs ({}): send {{\"inputs\": {{NAME: [...], ...}}}}",
                    sig.inputs.len(),
                    input_names()
                ));
            }
            Ok(vec![tensor_from_nested(data, &sig.inputs[0])?])
        }
        (None, Some(Value::Object(inputs))) => {
            if let Some(unknown) = inputs.keys().find(|k| sig.input(k).is_none()) {
                return Err(format!("unknown input {unknown} (model inputs: {})", input_names()));
            }
            sig.inputs
                .iter()
                .map(|spec| {
                    let value = inputs
                        .get(&spec.name)
                        .ok_or_else(|| format!("input {} is missing", spec.name))?;
                    tensor_from_nested(value, spec)
                })
                .collect()
        }
        (None, Some(_)) => Err("\"inputs\" must be an object of input name to array".into()),
        (None, None) => Err("request body must have \"data\" or \"inputs\"".into()),
    }
}

/// Writes outputs as the seed does: `result` for one output, `outputs` by name for several.
pub fn encode(outputs: &[Tensor], sig: &Signature) -> Value {
    if let ([spec], [t]) = (sig.outputs.as_slice(), outputs) {
        return serde_json::json!({ "result": output_to_json(&spec.name, t, sig) });
    }
    let by_name: Map<String, Value> = sig
        .outputs
        .iter()
        .zip(outputs)
        .map(|(spec, t)| (spec.name.clone(), output_to_json(&spec.name, t, sig)))
        .collect();
    serde_json::json!({ "outputs": by_name })
}
