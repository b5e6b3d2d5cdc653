//! Open Inference Protocol (KServe v2) bodies: inference requests and responses, in JSON and with
//! the binary tensor extension, and model metadata.

use edgeserve_accel::{DType, Signature, Tensor, TensorData, TensorSpec};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::nested::{flatten, leaves_to_data, zipmap_rows};

/// The protocol's name for a dtype.
pub fn datatype(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "FP32",
        DType::F64 => "FP64",
        DType::I64 => "INT64",
        DType::I32 => "INT32",
        DType::U8 => "UINT8",
        DType::Bool => "BOOL",
        DType::F16 => "FP16",
        DType::Str => "BYTES",
    }
}

#[derive(Debug, Default, Deserialize)]
struct Parameters {
    /// On an input: its data is this many bytes of the binary section.
    #[serde(default)]
    binary_data_size: Option<usize>,
    /// On a requested output: answer it as binary data.
    #[serde(default)]
    binary_data: Option<bool>,
    /// On the request: answer every output as binary data.
    #[serde(default)]
    binary_data_output: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Parameters,
    inputs: Vec<InputTensor>,
    #[serde(default)]
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Debug, Deserialize)]
struct InputTensor {
    name: String,
    shape: Vec<usize>,
    datatype: String,
    /// The data as it was written, read once the input's dtype is known.
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    parameters: Parameters,
}

/// An input's JSON `data`, read ahead: already typed (the hot path), or as a tree (every other
/// case, and every error's wording).
enum Data {
    Read(TensorData),
    Tree(Value),
}

#[derive(Debug, Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Parameters,
}

/// A decoded inference request.
pub struct Decoded {
    /// The request's `id`, echoed in the response.
    pub id: Option<String>,
    /// One tensor per model input, in signature order (the request may list them in any order).
    pub inputs: Vec<Tensor>,
    /// Output names the client asked for (all when `None`).
    pub outputs: Option<Vec<String>>,
    /// Outputs to answer as binary data.
    pub binary_outputs: Vec<String>,
    /// Whether every output is answered as binary data.
    pub all_binary: bool,
}

/// Binary tensor data, handed out in the order inputs declare it.
struct BinaryCursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> BinaryCursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(format!("binary data has {left} bytes left, {n} declared"));
        }
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(slice)
    }
}

fn input_tensor(
    input: &InputTensor,
    data: Option<Data>,
    spec: &TensorSpec,
    binary: &mut Option<BinaryCursor<'_>>,
) -> Result<Tensor, String> {
    let named = |e: String| format!("input {}: {e}", spec.name);
    if input.datatype != datatype(spec.dtype) {
        return Err(named(format!(
            "expected datatype {}, got {}",
            datatype(spec.dtype),
            input.datatype
        )));
    }
    let want = input.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(|| {
        named(format!("shape {:?} has more elements than any request can hold", input.shape))
    })?;
    let data = match (data, input.parameters.binary_data_size) {
        (Some(_), Some(_)) => return Err(named("has both data and binary_data_size".into())),
        (None, None) => return Err(named("has no data".into())),
        (Some(Data::Read(data)), None) => data,
        (Some(Data::Tree(data)), None) => {
            let (_, leaves) = flatten(&data).map_err(named)?;
            if leaves.len() != want {
                return Err(named(format!(
                    "shape {:?} needs {want} elements, data has {}",
                    input.shape,
                    leaves.len()
                )));
            }
            leaves_to_data(&leaves, spec.dtype).map_err(named)?
        }
        (None, Some(size)) => {
            let cursor = binary.as_mut().ok_or_else(|| {
                named(
                    "binary_data_size needs a binary body (Inference-Header-Content-Length)".into(),
                )
            })?;
            let data =
                super::binary::data_from_le_bytes(cursor.take(size).map_err(named)?, spec.dtype)
                    .map_err(named)?;
            if data.len() != want {
                return Err(named(format!(
                    "shape {:?} needs {want} elements, binary data has {}",
                    input.shape,
                    data.len()
                )));
            }
            data
        }
    };
    let tensor = Tensor::new(input.shape.clone(), data).map_err(|e| named(e.to_string()))?;
    spec.check(&tensor).map_err(|e| e.to_string())?;
    Ok(tensor)
}

/// Reads an inference request from its JSON text, the hot path: each input's `data` array is
/// read where it stands, straight into its tensor (`split.rs`, `scan.rs`); the rest of the
/// request, those arrays taken out (a few hundred bytes), is read as [`decode`] reads the whole
/// body, so it is checked and its errors worded alike. `None` when the text is not such a
/// request, or a `data` array is not a plain rectangular array of numbers matching an FP32/FP64
/// input's shape: the caller then parses the body and calls [`decode`].
pub fn decode_json(
    json: &[u8],
    sig: &Signature,
    binary: Option<&[u8]>,
) -> Option<Result<Decoded, String>> {
    let split = super::split::split(json)?;
    // The rest is read as a tree first, so it is refused exactly as the general path refuses a
    // body (a number out of range anywhere is not JSON to serde_json, even in a member no one
    // reads, which a typed read from the text would skip).
    let mut body: Value = serde_json::from_str(&split.rest).ok()?;
    let trees = take_data(&mut body);
    // Typed from the tree without tracking paths; only a refusal is read again, tracking them,
    // to word it by path (`serde_path_to_error` on every request was 3% of the CPU of a
    // one-row binary request).
    let req = match InferRequest::deserialize(&body) {
        Ok(req) => req,
        Err(_) => match typed(body) {
            Ok(req) => req,
            Err(e) => return Some(Err(e)),
        },
    };
    if trees.len() != split.data.len() {
        return None;
    }
    let mut datas = Vec::with_capacity(req.inputs.len());
    for ((input, numbers), tree) in req.inputs.iter().zip(split.data).zip(trees) {
        let Some(numbers) = numbers else {
            datas.push(tree);
            continue;
        };
        let want = input.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let dtype =
            sig.input(&input.name).map(|s| s.dtype).filter(|&d| datatype(d) == input.datatype);
        // Anything else (another dtype, a count that does not match the shape) goes through the
        // tree, whole, which words it.
        if Some(numbers.data.len()) != want {
            return None;
        }
        let read = match dtype? {
            DType::F32 => TensorData::F32(
                numbers
                    .data
                    .iter()
                    .map(|&x| super::scan::Leaf::from_f64(x))
                    .collect::<Option<_>>()?,
            ),
            DType::F64 => TensorData::F64(numbers.data),
            _ => return None,
        };
        datas.push(Some(Data::Read(read)));
    }
    Some(tensors(req, datas, sig, binary))
}

/// Reads an inference request into one tensor per model input, in signature order; `binary` is
/// the section after the JSON header when the client used the binary extension.
pub fn decode(mut body: Value, sig: &Signature, binary: Option<&[u8]>) -> Result<Decoded, String> {
    let datas = take_data(&mut body);
    tensors(typed(body)?, datas, sig, binary)
}

/// Takes each input's `data` out of the tree (objects only; `null` counts as absent), in
/// request order, so the arrays are walked once, in place, instead of copied through
/// `from_value` by the typed read.
fn take_data(body: &mut Value) -> Vec<Option<Data>> {
    match body.get_mut("inputs").and_then(Value::as_array_mut) {
        Some(inputs) => inputs
            .iter_mut()
            .map(|i| {
                let data = i.as_object_mut().and_then(|o| o.remove("data"));
                data.filter(|d| !d.is_null()).map(Data::Tree)
            })
            .collect(),
        None => Vec::new(),
    }
}

/// The typed read of a request whose data arrays are taken out; errors name the member.
fn typed(body: Value) -> Result<InferRequest, String> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let at = e.path().to_string();
        match at.as_str() {
            "." => format!("not an inference request: {}", e.into_inner()),
            _ => format!("not an inference request: {at}: {}", e.into_inner()),
        }
    })
}

/// The checks and reads both decoders share, once the request is typed and each input's
/// `data` (in request order) is read ahead.
fn tensors(
    req: InferRequest,
    datas: Vec<Option<Data>>,
    sig: &Signature,
    binary: Option<&[u8]>,
) -> Result<Decoded, String> {
    if let Some(unknown) = req.inputs.iter().find(|i| sig.input(&i.name).is_none()) {
        return Err(format!("unknown input {}", unknown.name));
    }
    if let Some((i, twice)) = req
        .inputs
        .iter()
        .enumerate()
        .find(|(i, a)| req.inputs[..*i].iter().any(|b| b.name == a.name))
    {
        return Err(format!(
            "input {} is given twice (inputs[{i}]): send each input once",
            twice.name
        ));
    }
    let mut cursor = binary.map(|bytes| BinaryCursor { bytes, at: 0 });
    // Binary sections follow the order of the request's inputs, not the model's.
    let mut by_name = std::collections::HashMap::new();
    let mut datas = datas.into_iter();
    for input in &req.inputs {
        let spec = sig.input(&input.name).ok_or_else(|| format!("unknown input {}", input.name))?;
        // An input written as a JSON array rather than an object keeps its data in the typed
        // read (serde takes both forms), on either path.
        let kept = || input.data.as_ref().and_then(|raw| serde_json::from_str(raw.get()).ok());
        let data = datas.next().flatten().or_else(|| kept().map(Data::Tree));
        by_name.insert(input.name.clone(), input_tensor(input, data, spec, &mut cursor)?);
    }
    if let Some(c) = &cursor {
        if c.at != c.bytes.len() {
            return Err(format!(
                "binary data has {} bytes no input declares",
                c.bytes.len() - c.at
            ));
        }
    }
    let inputs = sig
        .inputs
        .iter()
        .map(|spec| {
            by_name.remove(&spec.name).ok_or_else(|| format!("input {} is missing", spec.name))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut binary_outputs = Vec::new();
    let outputs = match req.outputs {
        None => None,
        Some(list) => {
            if let Some(bad) = list.iter().find(|o| !sig.outputs.iter().any(|s| s.name == o.name)) {
                return Err(format!("unknown output {}", bad.name));
            }
            binary_outputs = list
                .iter()
                .filter(|o| o.parameters.binary_data == Some(true))
                .map(|o| o.name.clone())
                .collect();
            Some(list.into_iter().map(|o| o.name).collect())
        }
    };
    let all_binary = req.parameters.binary_data_output == Some(true);
    Ok(Decoded { id: req.id, inputs, outputs, binary_outputs, all_binary })
}

/// The inference response (Open Inference Protocol, "Inference Response JSON Object"): its JSON
/// text, and the binary section of the outputs asked for as binary data (empty when none is).
/// Written straight from the tensors, members in the order a `serde_json::Value` object keeps them
/// (sorted by name), so the text is the one the tree would print (test
/// `the_response_text_is_what_the_tree_prints`); non-finite floats are `null`.
///
/// # Errors
/// serde_json refused to write the text (these types give it no reason to; the route answers
/// 500 if it ever does).
pub fn encode(
    model_name: &str,
    model_version: &str,
    request: &Decoded,
    outputs: &[Tensor],
    sig: &Signature,
) -> Result<(Vec<u8>, Vec<u8>), serde_json::Error> {
    let wanted = request.outputs.as_deref();
    let mut blobs = Vec::new();
    let items: Vec<OutputJson> =
        sig.outputs
            .iter()
            .zip(outputs)
            .filter(|(spec, _)| wanted.is_none_or(|w| w.contains(&spec.name)))
            .map(|(spec, t)| {
                let binary = request.all_binary || request.binary_outputs.contains(&spec.name);
                // ZipMap outputs: BYTES, one JSON object per row (SPEC §5).
                let zipmap = sig.zipmaps.get(&spec.name).map(|labels| zipmap_rows(t, labels));
                let (datatype, shape) = match &zipmap {
                    Some(rows) => ("BYTES", vec![rows.len()]),
                    None => (datatype(t.dtype()), t.shape().to_vec()),
                };
                let mut item =
                    OutputJson { data: None, datatype, name: &spec.name, parameters: None, shape };
                if binary {
                    let bytes = match &zipmap {
                        Some(rows) => TensorData::Str(rows.iter().map(Value::to_string).collect())
                            .to_le_bytes(),
                        None => super::binary::data_to_le_bytes(t.data()),
                    };
                    item.parameters = Some(BinarySize { binary_data_size: bytes.len() });
                    blobs.extend_from_slice(&bytes);
                } else {
                    item.data = Some(match zipmap {
                        Some(rows) => OutputData::Rows(rows),
                        None => OutputData::Flat(t.data()),
                    });
                }
                item
            })
            .collect();
    let body =
        ResponseJson { id: request.id.as_deref(), model_name, model_version, outputs: items };
    Ok((serde_json::to_vec(&body)?, blobs))
}

/// The response object; members sorted by name, as a `Value` object prints them.
#[derive(serde::Serialize)]
struct ResponseJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    model_name: &'a str,
    model_version: &'a str,
    outputs: Vec<OutputJson<'a>>,
}

/// One output; members sorted by name.
#[derive(serde::Serialize)]
struct OutputJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<OutputData<'a>>,
    datatype: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinarySize>,
    shape: Vec<usize>,
}

#[derive(serde::Serialize)]
struct BinarySize {
    binary_data_size: usize,
}

/// An output's `data`: its elements flat, or a ZipMap output's row objects.
enum OutputData<'a> {
    Flat(&'a TensorData),
    Rows(Vec<Value>),
}

impl serde::Serialize for OutputData<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Floats as `serde_json::Number::from_f64` keeps them (`null` when not finite).
        let float = |x: f64| x.is_finite().then_some(x);
        match self {
            OutputData::Rows(rows) => s.collect_seq(rows),
            OutputData::Flat(TensorData::F32(v)) => {
                s.collect_seq(v.iter().map(|&x| float(x as f64)))
            }
            OutputData::Flat(TensorData::F64(v)) => s.collect_seq(v.iter().map(|&x| float(x))),
            OutputData::Flat(TensorData::F16(v)) => {
                s.collect_seq(v.iter().map(|x| float(x.to_f64())))
            }
            OutputData::Flat(TensorData::I64(v)) => s.collect_seq(v),
            OutputData::Flat(TensorData::I32(v)) => s.collect_seq(v),
            OutputData::Flat(TensorData::U8(v)) => s.collect_seq(v),
            OutputData::Flat(TensorData::Bool(v)) => s.collect_seq(v),
            OutputData::Flat(TensorData::Str(v)) => s.collect_seq(v),
        }
    }
}

/// Model metadata: the endpoint's signature in the protocol's terms.
pub fn metadata(model_name: &str, versions: &[String], sig: &Signature) -> Value {
    let specs = |list: &[TensorSpec]| -> Vec<Value> {
        list.iter()
            .map(|s| match sig.zipmaps.get(&s.name) {
                // One JSON object per row, keyed by these labels (SPEC §5).
                Some(labels) => json!({
                    "name": s.name,
                    "datatype": "BYTES",
                    "shape": [s.shape.first().copied().unwrap_or(-1)],
                    "parameters": { "content_type": "zipmap", "labels": labels.keys() },
                }),
                None => json!({ "name": s.name, "datatype": datatype(s.dtype), "shape": s.shape }),
            })
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

#[cfg(test)]
mod tests {
    use super::*;
    use edgeserve_accel::ZipMapLabels;

    /// The response as a `serde_json::Value` tree prints it: the reference `encode` must match.
    fn tree_encode(
        model_name: &str,
        model_version: &str,
        request: &Decoded,
        outputs: &[Tensor],
        sig: &Signature,
    ) -> (String, Vec<u8>) {
        let wanted = request.outputs.as_deref();
        let mut blobs = Vec::new();
        let items: Vec<Value> = sig
            .outputs
            .iter()
            .zip(outputs)
            .filter(|(spec, _)| wanted.is_none_or(|w| w.contains(&spec.name)))
            .map(|(spec, t)| {
                let binary = request.all_binary || request.binary_outputs.contains(&spec.name);
                let zipmap = sig.zipmaps.get(&spec.name).map(|labels| zipmap_rows(t, labels));
                let (datatype, shape) = match &zipmap {
                    Some(rows) => ("BYTES", vec![rows.len()]),
                    None => (datatype(t.dtype()), t.shape().to_vec()),
                };
                let mut item = json!({ "name": spec.name, "datatype": datatype, "shape": shape });
                if binary {
                    let bytes = match &zipmap {
                        Some(rows) => TensorData::Str(rows.iter().map(Value::to_string).collect())
                            .to_le_bytes(),
                        None => super::super::binary::data_to_le_bytes(t.data()),
                    };
                    item["parameters"] = json!({ "binary_data_size": bytes.len() });
                    blobs.extend_from_slice(&bytes);
                } else {
                    item["data"] = Value::Array(
                        zipmap.clone().unwrap_or_else(|| super::super::nested::flat_values(t)),
                    );
                }
                item
            })
            .collect();
        let mut body =
            json!({ "model_name": model_name, "model_version": model_version, "outputs": items });
        if let Some(id) = &request.id {
            body["id"] = json!(id);
        }
        (body.to_string(), blobs)
    }

    #[test]
    fn the_response_text_is_what_the_tree_prints() {
        let datas = [
            TensorData::F32(vec![0.1, -2.5e-8, f32::NAN, f32::INFINITY, 3.0, 1e30]),
            TensorData::F64(vec![0.1, -2.5e-300, f64::NEG_INFINITY, 7.0, 1.0 / 3.0, 0.0]),
            TensorData::F16(vec![half::f16::from_f32(0.5); 6]),
            TensorData::I64(vec![i64::MIN, -1, 0, 1, i64::MAX, 42]),
            TensorData::I32(vec![i32::MIN, -1, 0, 1, i32::MAX, 42]),
            TensorData::U8(vec![0, 1, 2, 200, 255, 7]),
            TensorData::Bool(vec![true, false, true, true, false, false]),
            TensorData::Str(vec![
                "a".into(),
                "\"q\"".into(),
                "é\n".into(),
                "".into(),
                "x".into(),
                "\u{1}".into(),
            ]),
        ];
        for data in datas {
            let dtype = data.dtype();
            let t = Tensor::new(vec![2, 3], data).unwrap();
            let spec = |n: &str| TensorSpec { name: n.into(), dtype, shape: vec![-1, 3] };
            let mut sig = Signature {
                inputs: vec![spec("x")],
                outputs: vec![spec("y"), spec("z"), spec("p")],
                zipmaps: Default::default(),
            };
            if dtype == DType::F32 {
                sig.zipmaps.insert("p".into(), ZipMapLabels::Int64(vec![3, 1, 2]));
            }
            let outputs = vec![t.clone(), t.clone(), t];
            for (id, wanted, binary, all) in [
                (None, None, vec![], false),
                (Some("r\"1"), None, vec!["z".to_string()], false),
                (Some("r2"), Some(vec!["z".to_string(), "p".to_string()]), vec!["p".into()], false),
                (None, Some(vec!["y".to_string()]), vec![], true),
            ] {
                let request = Decoded {
                    id: id.map(str::to_string),
                    inputs: vec![],
                    outputs: wanted,
                    binary_outputs: binary,
                    all_binary: all,
                };
                let (json, blobs) = encode("m", "1", &request, &outputs, &sig).unwrap();
                let (want_json, want_blobs) = tree_encode("m", "1", &request, &outputs, &sig);
                assert_eq!(String::from_utf8(json).unwrap(), want_json, "{dtype:?}");
                assert_eq!(blobs, want_blobs, "{dtype:?}");
            }
        }
    }

    fn sig(dtype: DType) -> Signature {
        let spec = |n: &str| TensorSpec { name: n.into(), dtype, shape: vec![-1, 3] };
        Signature {
            inputs: vec![spec("x"), spec("z")],
            outputs: vec![spec("y")],
            zipmaps: Default::default(),
        }
    }

    /// Both decoders' results for `body` against `sig`: the hot path's (None when it declines)
    /// and the tree's.
    fn both(
        body: &str,
        sig: &Signature,
    ) -> (Option<Result<Decoded, String>>, Result<Decoded, String>) {
        let value = serde_json::from_str(body).unwrap();
        (decode_json(body.as_bytes(), sig, None), decode(value, sig, None))
    }

    #[test]
    fn the_hot_path_reads_what_the_tree_reads() {
        for dtype in [DType::F32, DType::F64] {
            let sig = sig(dtype);
            let t = datatype(dtype);
            let body = format!(
                r#"{{"id": "r1", "inputs": [
                    {{"name": "z", "shape": [2, 3], "datatype": "{t}", "data": [[1, 2, 3], [4, 5.5, -6e-1]]}},
                    {{"name": "x", "shape": [2, 3], "datatype": "{t}", "data": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}}
                ], "outputs": [{{"name": "y", "parameters": {{"binary_data": true}}}}]}}"#
            );
            let (fast, tree) = both(&body, &sig);
            let (fast, tree) = (fast.expect("taken").unwrap(), tree.unwrap());
            assert_eq!(fast.inputs, tree.inputs);
            assert_eq!(fast.id.as_deref(), Some("r1"));
            assert_eq!((fast.outputs, fast.binary_outputs), (tree.outputs, tree.binary_outputs));
        }
    }

    #[test]
    fn what_the_hot_path_cannot_read_is_worded_as_the_tree_words_it() {
        let sig = sig(DType::F32);
        let x = r#"{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}"#;
        for z in [
            r#"{"name": "z", "shape": [1, 3], "datatype": "FP32", "data": [1, "a", 3]}"#,
            r#"{"name": "z", "shape": [1, 3], "datatype": "FP32", "data": [[1, 2], [3]]}"#,
            r#"{"name": "z", "shape": [1, 3], "datatype": "FP32", "data": [1, 2]}"#,
            r#"{"name": "z", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 1e39]}"#,
            r#"{"name": "z", "shape": [1, 3], "datatype": "INT64", "data": [1, 2, 3]}"#,
            r#"{"name": "w", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}"#,
        ] {
            let body = format!(r#"{{"inputs": [{x}, {z}]}}"#);
            let (fast, tree) = both(&body, &sig);
            let tree = tree.err().expect("refused");
            if let Some(fast) = fast {
                assert_eq!(fast.err().as_deref(), Some(tree.as_str()), "{z}");
            }
        }
        // Invalid UTF-8 in a member the request does not use: the hot path declines, as the
        // tree path refuses the body as not JSON.
        let mut bad = br#"{"inputs": [], "note": "X"}"#.to_vec();
        let at = bad.iter().position(|&b| b == b'X').unwrap();
        bad[at] = 0xff;
        assert!(decode_json(&bad, &sig, None).is_none());
        // Members the request does not use are read as the tree path reads them: a number out
        // of range there makes the body not JSON, and the hot path declines it too.
        let body = format!(r#"{{"inputs": [{x}], "note": {{"n": [1e400]}}}}"#);
        assert!(serde_json::from_str::<Value>(&body).is_err());
        assert!(decode_json(body.as_bytes(), &sig, None).is_none());
        // Errors of the typed read are worded as the tree words them.
        let body = r#"{"inputs": [{"name": "x", "datatype": "FP32", "data": [1, 2, 3]}]}"#;
        let (fast, tree) = both(body, &sig);
        assert_eq!(fast.expect("taken").err(), tree.err());
        // An input written as an array (serde takes both forms): the hot path leaves it to the
        // tree, which reads its data.
        let body =
            r#"{"inputs": [["x", [1, 3], "FP32", [1, 2, 3]], ["z", [1, 3], "FP32", [4, 5, 6]]]}"#;
        let (fast, tree) = both(body, &sig);
        assert!(fast.is_none());
        let inputs = tree.unwrap().inputs;
        assert_eq!(inputs[1].data(), &TensorData::F32(vec![4.0, 5.0, 6.0]));
        // Not an inference request at all: the hot path declines and the tree words it.
        let (fast, tree) = both(r#"{"inputs": {"x": 1}}"#, &sig);
        assert!(fast.is_none() && tree.is_err());
    }
}
