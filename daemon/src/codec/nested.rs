//! JSON arrays ↔ tensors: nested arrays in a tensor's shape, leaves converted to its dtype.

use edgeserve_accel::{format_shape_of, DType, Tensor, TensorData, TensorSpec, ZipMapLabels};
use serde_json::Value;

/// A JSON array tree's shape and leaves, checked to be rectangular.
struct Walk<'a> {
    shape: Vec<usize>,
    leaves: Vec<&'a Value>,
    leaf_depth: Option<usize>,
}

fn walk<'a>(
    value: &'a Value,
    depth: usize,
    at: &mut Vec<usize>,
    w: &mut Walk<'a>,
) -> Result<(), String> {
    let place = || at.iter().map(|i| format!("[{i}]")).collect::<String>();
    match value {
        Value::Array(items) => {
            if w.leaf_depth.is_some_and(|d| d <= depth) {
                return Err(format!("ragged array at {}: expected a value, got an array", place()));
            }
            if w.shape.len() == depth {
                w.shape.push(items.len());
            } else if w.shape[depth] != items.len() {
                return Err(format!(
                    "ragged array at {}: expected {} elements, got {}",
                    place(),
                    w.shape[depth],
                    items.len()
                ));
            }
            for (i, item) in items.iter().enumerate() {
                at.push(i);
                walk(item, depth + 1, at, w)?;
                at.pop();
            }
            Ok(())
        }
        leaf => {
            match w.leaf_depth {
                None if w.shape.len() > depth => {
                    return Err(format!("ragged array at {}: expected an array", place()))
                }
                None => w.leaf_depth = Some(depth),
                Some(d) if d != depth => {
                    return Err(format!("ragged array at {}: expected an array", place()))
                }
                Some(_) => {}
            }
            w.leaves.push(leaf);
            Ok(())
        }
    }
}

/// Converts JSON leaves to a dtype; the message names the first bad element.
pub fn leaves_to_data(leaves: &[&Value], dtype: DType) -> Result<TensorData, String> {
    fn each<T>(
        leaves: &[&Value],
        f: impl Fn(&Value) -> Option<T>,
        want: &str,
    ) -> Result<Vec<T>, String> {
        leaves
            .iter()
            .enumerate()
            .map(|(i, v)| f(v).ok_or_else(|| format!("element {i} is {v}, expected {want}")))
            .collect()
    }
    // A number beyond the dtype's range would otherwise become infinity and be scored.
    fn finite<T>(
        values: Vec<T>,
        leaves: &[&Value],
        infinite: impl Fn(&T) -> bool,
        range: &str,
    ) -> Result<Vec<T>, String> {
        match values.iter().position(infinite) {
            Some(i) => Err(format!("element {i} is {}, beyond the {range}", leaves[i])),
            None => Ok(values),
        }
    }
    let int = |v: &Value| -> Option<i64> {
        v.as_i64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15)
                .map(|f| f as i64)
        })
    };
    Ok(match dtype {
        DType::F32 => {
            let v = each(leaves, |v| v.as_f64().map(|f| f as f32), "a number")?;
            TensorData::F32(finite(v, leaves, |x| x.is_infinite(), "f32 range (±3.4e38)")?)
        }
        DType::F64 => TensorData::F64(each(leaves, Value::as_f64, "a number")?),
        DType::I64 => TensorData::I64(each(leaves, int, "an integer")?),
        DType::I32 => TensorData::I32(each(
            leaves,
            |v| int(v).and_then(|i| i32::try_from(i).ok()),
            "a 32-bit integer",
        )?),
        DType::U8 => TensorData::U8(each(
            leaves,
            |v| int(v).and_then(|i| u8::try_from(i).ok()),
            "an integer from 0 to 255",
        )?),
        DType::Bool => TensorData::Bool(each(
            leaves,
            |v| v.as_bool().or_else(|| int(v).filter(|i| *i == 0 || *i == 1).map(|i| i == 1)),
            "true or false",
        )?),
        DType::F16 => {
            let v = each(leaves, |v| v.as_f64().map(half::f16::from_f64), "a number")?;
            TensorData::F16(finite(v, leaves, |x| x.is_infinite(), "f16 range (±65504)")?)
        }
        DType::Str => {
            TensorData::Str(each(leaves, |v| v.as_str().map(str::to_string), "a string")?)
        }
    })
}

/// All leaves of a JSON value, flattened (a bare value is one leaf).
pub fn flatten(value: &Value) -> Result<(Vec<usize>, Vec<&Value>), String> {
    let mut w = Walk { shape: Vec::new(), leaves: Vec::new(), leaf_depth: None };
    walk(value, 0, &mut Vec::new(), &mut w)?;
    Ok((w.shape, w.leaves))
}

/// Reads a nested array as the spec's input: batch first, either in the input's full shape or as
/// rows of its flattened items. Errors name the input.
pub fn tensor_from_nested(value: &Value, spec: &TensorSpec) -> Result<Tensor, String> {
    let named = |e: String| format!("input {}: {e}", spec.name);
    if !value.is_array() {
        return Err(named("expected an array, batch first".into()));
    }
    let (mut shape, leaves) = flatten(value).map_err(named)?;
    // Rows of flattened items are accepted for inputs of higher rank: [N, 64] for [N, 1, 8, 8].
    if shape.len() == 2 && spec.shape.len() > 2 && spec.item_len() == Some(shape[1]) {
        shape =
            std::iter::once(shape[0]).chain(spec.shape[1..].iter().map(|&d| d as usize)).collect();
    }
    if shape.len() != spec.shape.len() {
        return Err(named(format!(
            "expected shape {}, got {}",
            edgeserve_accel::format_shape(&spec.shape),
            format_shape_of(&shape)
        )));
    }
    let data = leaves_to_data(&leaves, spec.dtype).map_err(named)?;
    let tensor = Tensor::new(shape, data).map_err(|e| named(e.to_string()))?;
    spec.check(&tensor).map_err(|e| e.to_string())?;
    Ok(tensor)
}

fn number(f: f64) -> Value {
    serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

/// A tensor's elements as a flat JSON array (non-finite floats become `null`).
pub fn flat_values(tensor: &Tensor) -> Vec<Value> {
    match tensor.data() {
        TensorData::F32(v) => v.iter().map(|&x| number(x as f64)).collect(),
        TensorData::F64(v) => v.iter().map(|&x| number(x)).collect(),
        TensorData::I64(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::I32(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::U8(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::F16(v) => v.iter().map(|&x| number(x.to_f64())).collect(),
        TensorData::Str(v) => v.iter().map(|x| Value::from(x.as_str())).collect(),
    }
}

/// A ZipMap output's rows (SPEC §2): one `{label: probability}` object per row of the
/// `[batch, labels]` probabilities, label keys as strings.
pub fn zipmap_rows(tensor: &Tensor, labels: &ZipMapLabels) -> Vec<Value> {
    let keys = labels.keys();
    let values = flat_values(tensor);
    values
        .chunks(keys.len().max(1))
        .map(|row| Value::Object(keys.iter().cloned().zip(row.iter().cloned()).collect()))
        .collect()
}

/// One output as JSON for people: ZipMap outputs as rows of `{label: probability}` objects,
/// other tensors as nested arrays in their shape.
pub fn output_to_json(name: &str, tensor: &Tensor, sig: &edgeserve_accel::Signature) -> Value {
    match sig.zipmaps.get(name) {
        Some(labels) => Value::Array(zipmap_rows(tensor, labels)),
        None => tensor_to_nested(tensor),
    }
}

/// A tensor as nested JSON arrays in its shape.
pub fn tensor_to_nested(tensor: &Tensor) -> Value {
    let flat = flat_values(tensor);
    fn nest(shape: &[usize], flat: &mut std::vec::IntoIter<Value>) -> Value {
        match shape.split_first() {
            None => flat.next().unwrap_or(Value::Null),
            Some((&n, rest)) => Value::Array((0..n).map(|_| nest(rest, flat)).collect()),
        }
    }
    nest(tensor.shape(), &mut flat.into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(shape: Vec<i64>, dtype: DType) -> TensorSpec {
        TensorSpec { name: "x".into(), dtype, shape }
    }

    #[test]
    fn rows_and_nested_shapes_are_read() {
        let t =
            tensor_from_nested(&json!([[1, 2], [3, 4.5]]), &spec(vec![-1, 2], DType::F32)).unwrap();
        assert_eq!(t.shape(), &[2, 2]);
        assert_eq!(t.data(), &TensorData::F32(vec![1.0, 2.0, 3.0, 4.5]));
        let rows = json!([[0, 1, 2, 3]]);
        let t = tensor_from_nested(&rows, &spec(vec![-1, 1, 2, 2], DType::F32)).unwrap();
        assert_eq!(t.shape(), &[1, 1, 2, 2]);
    }

    #[test]
    fn wrong_shape_names_input_and_shapes() {
        let err =
            tensor_from_nested(&json!([[1, 2, 3]]), &spec(vec![-1, 2], DType::F32)).unwrap_err();
        assert_eq!(err, "input x: expected shape [-1,2], got [1,3]");
        let err = tensor_from_nested(&json!([1, 2]), &spec(vec![-1, 2], DType::F32)).unwrap_err();
        assert_eq!(err, "input x: expected shape [-1,2], got [2]");
    }

    #[test]
    fn ragged_and_mistyped_elements_are_named() {
        let err =
            tensor_from_nested(&json!([[1, 2], [3]]), &spec(vec![-1, 2], DType::F32)).unwrap_err();
        assert_eq!(err, "input x: ragged array at [1]: expected 2 elements, got 1");
        let err =
            tensor_from_nested(&json!([[1, "a"]]), &spec(vec![-1, 2], DType::F32)).unwrap_err();
        assert_eq!(err, "input x: element 1 is \"a\", expected a number");
        // Beyond f32 would become infinity: refused, not scored.
        let err =
            tensor_from_nested(&json!([[1, 1e39]]), &spec(vec![-1, 2], DType::F32)).unwrap_err();
        assert_eq!(err, "input x: element 1 is 1e+39, beyond the f32 range (±3.4e38)");
        let err =
            tensor_from_nested(&json!([[1, 2.5]]), &spec(vec![-1, 2], DType::I64)).unwrap_err();
        assert_eq!(err, "input x: element 1 is 2.5, expected an integer");
        let err =
            tensor_from_nested(&json!([[1, 256]]), &spec(vec![-1, 2], DType::U8)).unwrap_err();
        assert!(err.contains("0 to 255"), "{err}");
        let err = tensor_from_nested(&json!({"a": 1}), &spec(vec![-1, 2], DType::F32)).unwrap_err();
        assert_eq!(err, "input x: expected an array, batch first");
    }

    #[test]
    fn tensors_nest_back_into_their_shape() {
        let t = Tensor::new(vec![2, 1, 2], TensorData::I64(vec![1, 2, 3, 4])).unwrap();
        assert_eq!(tensor_to_nested(&t), json!([[[1, 2]], [[3, 4]]]));
        let t = Tensor::new(vec![2], TensorData::Bool(vec![true, false])).unwrap();
        assert_eq!(tensor_to_nested(&t), json!([true, false]));
    }
}
