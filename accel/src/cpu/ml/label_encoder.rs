//! `LabelEncoder` (ONNX-ML opsets 1 to 4): maps each element of `X` through a key → value table,
//! keeping the shape. Opset 1: `classes_strings` (string → its index as i64, i64 → string,
//! defaults `default_int64 = -1`, `default_string = "_Unused"`). Opsets 2/3: `keys_int64s`,
//! `keys_strings` or `keys_floats` → `values_int64s`, `values_strings` or `values_floats`, with
//! `default_int64` (-1), `default_string` ("_Unused") or `default_float` (-0.0). Opset 4 adds
//! `keys_tensor`/`values_tensor` (1-D; string, int64, int32, int16, float or double) and
//! `default_tensor` (its first element; else -1, "_Unused" or -0.0 by the value type), which
//! may be mixed with the list attributes. Float keys match by value (NaN matches NaN, -0.0
//! matches 0.0); a repeated key keeps its first value, as in onnxruntime.

use std::collections::HashMap;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::common::{build, tensor_attr, Built, Kernel};

const OP: &str = "LabelEncoder";

/// Lookup keys, with the index of their value.
#[derive(Debug, Clone, PartialEq)]
enum Keys {
    Ints(HashMap<i64, usize>),
    Strings(HashMap<String, usize>),
    /// f32 bits, -0.0 folded into 0.0 and NaNs into one.
    Floats(HashMap<u32, usize>),
    /// f64 bits, folded likewise (opset 4).
    Doubles(HashMap<u64, usize>),
}

/// Values, with the default for keys not found.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    Ints(Vec<i64>, i64),
    Strings(Vec<String>, String),
    Floats(Vec<f32>, f32),
    Doubles(Vec<f64>, f64),
    I32(Vec<i32>, i32),
    I16(Vec<i16>, i16),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Ints(v, _) => v.len(),
            Values::Strings(v, _) => v.len(),
            Values::Floats(v, _) => v.len(),
            Values::Doubles(v, _) => v.len(),
            Values::I32(v, _) => v.len(),
            Values::I16(v, _) => v.len(),
        }
    }

    /// The values of a `values_tensor`, with the spec's default for their type.
    fn from_tensor(t: &Tensor) -> TractResult<Values> {
        fn flat<T: Datum + Clone>(t: &Tensor) -> TractResult<Vec<T>> {
            Ok(t.to_plain_array_view::<T>()?.iter().cloned().collect())
        }
        Ok(match t.datum_type() {
            DatumType::I64 => Values::Ints(flat(t)?, -1),
            DatumType::I32 => Values::I32(flat(t)?, -1),
            DatumType::I16 => Values::I16(flat(t)?, -1),
            DatumType::F32 => Values::Floats(flat(t)?, -0.0),
            DatumType::F64 => Values::Doubles(flat(t)?, -0.0),
            DatumType::String => Values::Strings(flat(t)?, "_Unused".to_string()),
            dt => bail!("values of type {dt:?} are not supported"),
        })
    }

    /// Replaces the default by the first element of `t`, cast to the value type.
    fn set_default(&mut self, t: &Tensor) -> TractResult<()> {
        fn first<T: Datum + Clone>(t: &Tensor) -> TractResult<T> {
            let t = t.cast_to::<T>()?;
            let v = t.to_plain_array_view::<T>()?;
            v.iter().next().cloned().ok_or_else(|| format_err!("empty tensor"))
        }
        match self {
            Values::Ints(_, d) => *d = first(t)?,
            Values::Strings(_, d) => *d = first(t)?,
            Values::Floats(_, d) => *d = first(t)?,
            Values::Doubles(_, d) => *d = first(t)?,
            Values::I32(_, d) => *d = first(t)?,
            Values::I16(_, d) => *d = first(t)?,
        }
        Ok(())
    }
}

fn float_key(v: f32) -> u32 {
    if v.is_nan() {
        f32::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

fn double_key(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

/// The keys of a `keys_tensor` and their number.
fn keys_from_tensor(t: &Tensor) -> TractResult<(Keys, usize)> {
    let n = t.len();
    Ok(match t.datum_type() {
        DatumType::I64 | DatumType::I32 | DatumType::I16 => {
            let t = t.cast_to::<i64>()?;
            (Keys::Ints(index(t.to_plain_array_view::<i64>()?.iter().copied())), n)
        }
        DatumType::F32 => {
            (Keys::Floats(index(t.to_plain_array_view::<f32>()?.iter().map(|v| float_key(*v)))), n)
        }
        DatumType::F64 => (
            Keys::Doubles(index(t.to_plain_array_view::<f64>()?.iter().map(|v| double_key(*v)))),
            n,
        ),
        DatumType::String => {
            (Keys::Strings(index(t.to_plain_array_view::<String>()?.iter().cloned())), n)
        }
        dt => bail!("keys of type {dt:?} are not supported"),
    })
}

fn index<K: std::hash::Hash + Eq>(keys: impl IntoIterator<Item = K>) -> HashMap<K, usize> {
    let mut map = HashMap::new();
    for (i, k) in keys.into_iter().enumerate() {
        map.entry(k).or_insert(i);
    }
    map
}

/// The parsed `LabelEncoder`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LabelEncoder {
    keys: Keys,
    values: Values,
}

/// Op register builder for `LabelEncoder`.
pub(crate) fn builder(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let name = &node.name;
    let keys_tensor = tensor_attr(ctx, node, OP, "keys_tensor")?;
    let values_tensor = tensor_attr(ctx, node, OP, "values_tensor")?;
    let default_tensor = tensor_attr(ctx, node, OP, "default_tensor")?;
    let default_int: i64 = node.get_attr_opt("default_int64")?.unwrap_or(-1);
    let default_string: String =
        node.get_attr_opt("default_string")?.unwrap_or_else(|| "_Unused".to_string());
    let default_float: f32 = node.get_attr_opt("default_float")?.unwrap_or(-0.0);

    if let Some(classes) = node.get_attr_opt_vec::<String>("classes_strings")? {
        // Opset 1: the direction follows the input type; both tables are kept, see `run`.
        let n = classes.len() as i64;
        return build(
            node,
            LabelEncoderV1 {
                string_to_int: LabelEncoder {
                    keys: Keys::Strings(index(classes.iter().cloned())),
                    values: Values::Ints((0..n).collect(), default_int),
                },
                int_to_string: LabelEncoder {
                    keys: Keys::Ints(index(0..n)),
                    values: Values::Strings(classes, default_string),
                },
            },
        );
    }
    let (keys, n_keys) = if let Some(t) = &keys_tensor {
        keys_from_tensor(t).with_context(|| format!("{OP} node `{name}`: attribute keys_tensor"))?
    } else if let Some(k) = node.get_attr_opt_vec::<i64>("keys_int64s")? {
        (Keys::Ints(index(k.iter().copied())), k.len())
    } else if let Some(k) = node.get_attr_opt_vec::<String>("keys_strings")? {
        let n = k.len();
        (Keys::Strings(index(k)), n)
    } else if let Some(k) = node.get_attr_opt_vec::<f32>("keys_floats")? {
        (Keys::Floats(index(k.iter().map(|v| float_key(*v)))), k.len())
    } else {
        bail!(
            "{OP} node `{name}`: needs attribute keys_int64s, keys_strings, keys_floats or \
             keys_tensor"
        )
    };
    let mut values = if let Some(t) = &values_tensor {
        Values::from_tensor(t)
            .with_context(|| format!("{OP} node `{name}`: attribute values_tensor"))?
    } else if let Some(v) = node.get_attr_opt_vec::<i64>("values_int64s")? {
        Values::Ints(v, default_int)
    } else if let Some(v) = node.get_attr_opt_vec::<String>("values_strings")? {
        Values::Strings(v, default_string)
    } else if let Some(v) = node.get_attr_opt_vec::<f32>("values_floats")? {
        Values::Floats(v, default_float)
    } else {
        bail!(
            "{OP} node `{name}`: needs attribute values_int64s, values_strings, values_floats or \
             values_tensor"
        )
    };
    if let Some(t) = &default_tensor {
        values
            .set_default(t)
            .with_context(|| format!("{OP} node `{name}`: attribute default_tensor"))?;
    }
    let n_values = values.len();
    if n_values != n_keys {
        bail!("{OP} node `{name}`: {n_keys} keys but {n_values} values");
    }
    build(node, LabelEncoder { keys, values })
}

impl LabelEncoder {
    fn key_type(&self) -> DatumType {
        match self.keys {
            Keys::Ints(_) => DatumType::I64,
            Keys::Strings(_) => DatumType::String,
            Keys::Floats(_) => DatumType::F32,
            Keys::Doubles(_) => DatumType::F64,
        }
    }

    fn value_type(&self) -> DatumType {
        match self.values {
            Values::Ints(..) => DatumType::I64,
            Values::Strings(..) => DatumType::String,
            Values::Floats(..) => DatumType::F32,
            Values::Doubles(..) => DatumType::F64,
            Values::I32(..) => DatumType::I32,
            Values::I16(..) => DatumType::I16,
        }
    }

    /// Maps every element of `x` (integer inputs are widened to i64, floats cast to the key
    /// type).
    pub(crate) fn run(&self, x: &Tensor) -> TractResult<Tensor> {
        let shape = x.shape().to_vec();
        let ix: Vec<Option<usize>> = match &self.keys {
            Keys::Ints(m) => {
                let x = x.cast_to::<i64>()?;
                x.to_plain_array_view::<i64>()?.iter().map(|k| m.get(k).copied()).collect()
            }
            Keys::Floats(m) => {
                let x = x.cast_to::<f32>()?;
                x.to_plain_array_view::<f32>()?
                    .iter()
                    .map(|k| m.get(&float_key(*k)).copied())
                    .collect()
            }
            Keys::Doubles(m) => {
                let x = x.cast_to::<f64>()?;
                x.to_plain_array_view::<f64>()?
                    .iter()
                    .map(|k| m.get(&double_key(*k)).copied())
                    .collect()
            }
            Keys::Strings(m) => {
                if x.datum_type() != DatumType::String {
                    bail!("{OP}: string keys but input of type {:?}", x.datum_type());
                }
                x.to_plain_array_view::<String>()?.iter().map(|k| m.get(k).copied()).collect()
            }
        };
        fn gather<T: Datum + Clone>(
            shape: &[usize],
            ix: &[Option<usize>],
            v: &[T],
            d: &T,
        ) -> TractResult<Tensor> {
            let data: Vec<T> =
                ix.iter().map(|i| i.map_or_else(|| d.clone(), |i| v[i].clone())).collect();
            Ok(tract_ndarray::ArrayD::from_shape_vec(shape, data)?.into_tensor())
        }
        match &self.values {
            Values::Ints(v, d) => gather(&shape, &ix, v, d),
            Values::Strings(v, d) => gather(&shape, &ix, v, d),
            Values::Floats(v, d) => gather(&shape, &ix, v, d),
            Values::Doubles(v, d) => gather(&shape, &ix, v, d),
            Values::I32(v, d) => gather(&shape, &ix, v, d),
            Values::I16(v, d) => gather(&shape, &ix, v, d),
        }
    }
}

impl Kernel for LabelEncoder {
    fn op_type(&self) -> &'static str {
        OP
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        s.equals(&outputs[0].datum_type, self.value_type())?;
        s.equals(&inputs[0].shape, &outputs[0].shape)
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        if (self.key_type() == DatumType::String) != (inputs[0].datum_type == DatumType::String) {
            bail!("keys of type {:?}, input of type {:?}", self.key_type(), inputs[0].datum_type);
        }
        Ok(tvec!(self.value_type().fact(inputs[0].shape.clone())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(tvec!(self.run(&inputs[0])?.into_tvalue()))
    }
}

/// Opset 1 `LabelEncoder`: string → int64 or int64 → string, by the input type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LabelEncoderV1 {
    string_to_int: LabelEncoder,
    int_to_string: LabelEncoder,
}

impl LabelEncoderV1 {
    fn pick(&self, dt: DatumType) -> &LabelEncoder {
        if dt == DatumType::String {
            &self.string_to_int
        } else {
            &self.int_to_string
        }
    }
}

impl Kernel for LabelEncoderV1 {
    fn op_type(&self) -> &'static str {
        OP
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        s.given(&inputs[0].datum_type, move |s, dt| {
            s.equals(&outputs[0].datum_type, self.pick(dt).value_type())
        })
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.pick(inputs[0].datum_type).output_facts(inputs)
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(tvec!(self.pick(inputs[0].datum_type()).run(&inputs[0])?.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_ints_to_floats_with_default() {
        let le = LabelEncoder {
            keys: Keys::Ints(index([3i64, 5])),
            values: Values::Floats(vec![0.5, 1.5], -0.0),
        };
        let y = le.run(&tensor2(&[[5i64], [4]])).unwrap();
        assert_eq!(y, tensor2(&[[1.5f32], [-0.0]]));
    }

    #[test]
    fn maps_strings_to_strings_and_floats_to_ints() {
        let le = LabelEncoder {
            keys: Keys::Strings(index(["a".to_string(), "b".to_string()])),
            values: Values::Strings(vec!["x".into(), "y".into()], "_Unused".into()),
        };
        let x = tract_ndarray::arr1(&["b".to_string(), "z".to_string()]).into_tensor();
        let y = le.run(&x).unwrap();
        assert_eq!(y, tract_ndarray::arr1(&["y".to_string(), "_Unused".to_string()]).into_tensor());
        let le = LabelEncoder {
            keys: Keys::Floats(index([f32::NAN, 0.0].map(float_key))),
            values: Values::Ints(vec![1, 2], -1),
        };
        assert_eq!(le.run(&tensor1(&[f32::NAN, -0.0, 3.0])).unwrap(), tensor1(&[1i64, 2, -1]));
    }
}
