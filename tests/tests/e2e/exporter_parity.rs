//! Parity on the exporter set (issue 15): every model of `models/exporters/`, made by skl2onnx,
//! onnxmltools (LightGBM, XGBoost) and torch.onnx.export with default settings, registered and
//! deployed on the CPU target of one real daemon, scored at batch 1 and 3 on the seed route
//! and with Open Inference Protocol JSON, and compared with onnxruntime's outputs.

use std::path::PathBuf;

use edgeserve_tests::{models_dir, Harness};
use serde_json::{json, Map, Value};

/// The exporter set's models, each a folder with `model.onnx` and `reference.json`.
fn models() -> Vec<(String, PathBuf)> {
    let dir = models_dir().join("exporters");
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("reference.json").is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().replace('_', "-"), p))
        .collect();
    found.sort();
    found
}

fn oip_datatype(dtype: &str) -> &'static str {
    match dtype {
        "f32" => "FP32",
        "f64" => "FP64",
        "i64" => "INT64",
        "i32" => "INT32",
        "f16" => "FP16",
        "str" => "BYTES",
        "bool" => "BOOL",
        other => panic!("reference dtype {other} has no OIP datatype here"),
    }
}

/// A reference tensor's flat data as nested arrays in its shape.
fn nested(shape: &[usize], flat: &[Value]) -> Value {
    match shape.split_first() {
        None => flat.first().cloned().unwrap_or(Value::Null),
        Some((_, rest)) => {
            let step: usize = rest.iter().product::<usize>().max(1);
            Value::Array(flat.chunks(step).map(|c| nested(rest, c)).collect())
        }
    }
}

fn shape_of(t: &Value) -> Vec<usize> {
    t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect()
}

/// All leaves of a JSON value, in order.
fn leaves(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.iter().flat_map(leaves).collect(),
        other => vec![other.clone()],
    }
}

/// Compares what edgeserve returned for one output with onnxruntime's; `None` when they agree.
/// Numbers agree within 1e-4 of the tensor's largest magnitude (1e-2 for float16 models, which
/// compute in half precision); labels and text exactly; ZipMap rows key by key.
fn differs(want: &Value, got: &Value) -> Option<String> {
    let dtype = want["dtype"].as_str().unwrap();
    if dtype == "zipmap" {
        let (w, g) = (want["data"].as_array().unwrap(), got.as_array()?);
        if w.len() != g.len() {
            return Some(format!("{} rows, onnxruntime {}", g.len(), w.len()));
        }
        for (row, (w, g)) in w.iter().zip(g).enumerate() {
            let (w, g) = (w.as_object().unwrap(), g.as_object()?);
            if w.keys().collect::<Vec<_>>() != g.keys().collect::<Vec<_>>() {
                return Some(format!(
                    "row {row}: labels {:?}, onnxruntime {:?}",
                    g.keys(),
                    w.keys()
                ));
            }
            for (k, wv) in w {
                let (wv, gv) = (wv.as_f64().unwrap(), g[k].as_f64()?);
                if (wv - gv).abs() > 1e-4 * wv.abs().max(1e-2) {
                    return Some(format!("row {row} label {k}: {gv}, onnxruntime {wv}"));
                }
            }
        }
        return None;
    }
    let w: Vec<Value> = want["data"].as_array().unwrap().clone();
    let g = leaves(got);
    if w.len() != g.len() {
        return Some(format!("{} elements, onnxruntime {}", g.len(), w.len()));
    }
    if !matches!(dtype, "f32" | "f64" | "f16") {
        return (w != g).then(|| format!("{g:?}, onnxruntime {w:?}"));
    }
    let tolerance = if dtype == "f16" { 1e-2 } else { 1e-4 };
    let scale = w.iter().filter_map(Value::as_f64).fold(0.0f64, |m, x| m.max(x.abs())).max(1e-3);
    for (i, (w, g)) in w.iter().zip(&g).enumerate() {
        let (w, g) = (w.as_f64().unwrap(), g.as_f64()?);
        if (w - g).abs() > tolerance * scale.max(w.abs()) {
            return Some(format!("element {i}: {g}, onnxruntime {w}"));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn every_exported_model_scores_like_onnxruntime() {
    let mut h = Harness::bare();
    h.start();
    let set = models();
    assert!(set.len() >= 25, "the exporter set is in models/exporters: {}", set.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, dir) in &set {
        let reference: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
                .unwrap();
        let deployed =
            tokio::task::block_in_place(|| h.try_deploy_cpu(name, dir.to_str().unwrap()));
        let key = match deployed {
            Ok(key) => key,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let cases = reference["cases"].as_array().unwrap();
        for case in cases.iter().filter(|c| c["batch"] == 1 || c["batch"] == 3) {
            let batch = &case["batch"];
            let inputs = case["inputs"].as_object().unwrap();
            let outputs = case["outputs"].as_object().unwrap();
            // The seed route: inputs by name as nested arrays.
            let seed: Map<String, Value> = inputs
                .iter()
                .map(|(k, t)| (k.clone(), nested(&shape_of(t), t["data"].as_array().unwrap())))
                .collect();
            let resp = h
                .client()
                .post(h.score_url(name))
                .bearer_auth(&key)
                .json(&json!({ "inputs": seed }))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap();
            if status != 200 {
                failures.push(format!("{name} batch {batch} seed: {status} {body}"));
            } else {
                for (out, want) in outputs {
                    let got =
                        if outputs.len() == 1 { &body["result"] } else { &body["outputs"][out] };
                    if let Some(d) = differs(want, got) {
                        failures.push(format!("{name} batch {batch} seed {out}: {d}"));
                    }
                }
            }
            // Open Inference Protocol JSON.
            let oip_inputs: Vec<Value> = inputs
                .iter()
                .map(|(k, t)| {
                    json!({"name": k, "shape": t["shape"], "data": t["data"],
                           "datatype": oip_datatype(t["dtype"].as_str().unwrap())})
                })
                .collect();
            let resp = h
                .client()
                .post(h.url(&format!("/v2/models/{name}/infer")))
                .bearer_auth(&key)
                .json(&json!({ "inputs": oip_inputs }))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap();
            if status != 200 {
                failures.push(format!("{name} batch {batch} oip: {status} {body}"));
                continue;
            }
            for (out, want) in outputs {
                let item = body["outputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|o| o["name"] == out.as_str())
                    .cloned()
                    .unwrap_or(Value::Null);
                if let Some(d) = differs(want, &item["data"]) {
                    failures.push(format!("{name} batch {batch} oip {out}: {d}"));
                }
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} models differ:\n{}",
        failures.len(),
        set.len(),
        failures.join("\n")
    );
    assert_eq!(checked, set.len() * 2, "every model at batch 1 and 3");
}
