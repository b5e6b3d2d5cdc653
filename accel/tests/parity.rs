//! One table of models run against each backend, as tract's own suites do (issue 20): every
//! example model and every model of the exporter set (skl2onnx, onnxmltools, torch.onnx.export
//! with default settings), at batch 1 and 3 (the example models: 1, 5 and 7), against onnxruntime's outputs in each model's
//! `reference.json`. The GPU target runs on PoCL here, with the ops its kernels lack on the host.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{models_dir, reference, tensor_from_json};
use edgeserve_accel::{
    Backends, LoadOptions, LoadedModel, ModelArtifact, Target, Tensor, TensorData,
};
use serde_json::Value;

/// The models every backend must run, relative to `models/`.
const MODELS: &[&str] = &[
    "mlp",
    "cnn",
    "two_inputs",
    "iris_forest",
    "heavy",
    "ops_tour",
    "idioms",
    "exporters/lgbm_clf",
    "exporters/lgbm_clf_binary",
    "exporters/lgbm_reg",
    "exporters/skl_column_transformer",
    "exporters/skl_et_clf",
    "exporters/skl_et_reg",
    "exporters/skl_gb_clf",
    "exporters/skl_gb_clf3",
    "exporters/skl_gb_reg",
    "exporters/skl_isolation_forest",
    "exporters/skl_kmeans",
    "exporters/skl_linreg",
    "exporters/skl_logreg",
    "exporters/skl_pipeline_pca",
    "exporters/skl_rf_clf",
    "exporters/skl_rf_reg",
    "exporters/skl_string_labels",
    "exporters/skl_svc",
    "exporters/skl_svr",
    "exporters/torch_interpolate",
    "exporters/torch_interpolate_legacy",
    "exporters/torch_lstm",
    "exporters/torch_mlp_fp16",
    "exporters/torch_mobilenet_v3_small",
    "exporters/torch_resnet18",
    "exporters/torch_transformer_encoder",
    "exporters/xgb_clf",
    "exporters/xgb_clf3",
    "exporters/xgb_reg",
];

/// Relative tolerance against the tensor's largest magnitude (float16 models: 1e-2, they
/// compute in half precision on onnxruntime).
const TOL: f64 = 1e-4;
const TOL_F16: f64 = 1e-2;

fn floats(t: &Tensor) -> Option<Vec<f64>> {
    Some(match t.data() {
        TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
        TensorData::F64(v) => v.clone(),
        TensorData::F16(v) => v.iter().map(|x| x.to_f64()).collect(),
        _ => return None,
    })
}

/// Compares one output with onnxruntime's; `None` when they agree.
fn differs(want: &Value, got: &Tensor, tol: f64) -> Option<String> {
    if want["dtype"] == "zipmap" {
        // One map per row, keys in class order: the tensor's rows in the same order.
        let rows = want["data"].as_array().unwrap();
        let flat: Vec<f64> = rows
            .iter()
            .flat_map(|r| r.as_object().unwrap().values().map(|v| v.as_f64().unwrap()))
            .collect();
        let g = floats(got)?;
        return close(&g, &flat, tol);
    }
    let want = tensor_from_json(want);
    if got.shape() != want.shape() {
        return Some(format!("shape {:?}, onnxruntime {:?}", got.shape(), want.shape()));
    }
    match (floats(got), floats(&want)) {
        (Some(g), Some(w)) => close(&g, &w, tol),
        _ => (got != &want).then(|| format!("{:?}, onnxruntime {:?}", got.data(), want.data())),
    }
}

fn close(got: &[f64], want: &[f64], tol: f64) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{} values, onnxruntime {}", got.len(), want.len()));
    }
    let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
    got.iter().zip(want).enumerate().find_map(|(i, (g, w))| {
        ((g - w).abs() > tol * scale).then(|| format!("[{i}] {g}, onnxruntime {w} (scale {scale})"))
    })
}

/// Runs every model of the table on `target` at batch 1 and 3; returns what differs.
fn run_table(target: Target) -> Vec<String> {
    let backends = Backends::builtin(None);
    let mut failures = Vec::new();
    for model in MODELS {
        let artifact = ModelArtifact::new(models_dir().join(model));
        let options = LoadOptions { device: 0, max_batch_size: 4 };
        let mut m: Box<dyn LoadedModel> = match backends.load(target, &artifact, &options) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{model}: load failed: {e}"));
                continue;
            }
        };
        let reference = reference(model);
        let tol = if model.ends_with("fp16") { TOL_F16 } else { TOL };
        let sig = m.signature().clone();
        let mut batches = Vec::new();
        for case in reference["cases"].as_array().unwrap() {
            let batch = case["batch"].as_u64().unwrap();
            // The exporter set has cases at 1, 3 and 5; the example models at 1, 5 and 7.
            if batch == 5 && model.starts_with("exporters/") {
                continue;
            }
            batches.push(batch);
            let inputs: Vec<Tensor> =
                sig.inputs.iter().map(|s| tensor_from_json(&case["inputs"][&s.name])).collect();
            // Twice: nothing (an op's state, a buffer) may carry over from one run to the next.
            for run in ["first", "second"] {
                let outputs = match m.run(inputs.clone()) {
                    Ok(o) => o,
                    Err(e) => {
                        failures.push(format!("{model} batch {batch}: {run} run failed: {e}"));
                        continue;
                    }
                };
                for (spec, got) in sig.outputs.iter().zip(&outputs) {
                    if let Some(d) = differs(&case["outputs"][&spec.name], got, tol) {
                        failures
                            .push(format!("{model}/{} batch {batch}, {run} run: {d}", spec.name));
                    }
                }
            }
        }
        if batches.first() != Some(&1) || batches.len() < 2 {
            failures.push(format!("{model}: reference cases cover batches {batches:?}"));
        }
    }
    failures
}

#[test]
fn cpu_matches_onnxruntime_on_every_model() {
    let failures = run_table(Target::Cpu);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn gpu_matches_onnxruntime_on_every_model() {
    let failures = run_table(Target::Gpu);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Prints each model's device/host split on the GPU (`cargo test --test parity -- --ignored
/// --nocapture split`).
#[test]
#[ignore]
fn split_table() {
    let backends = Backends::builtin(None);
    for model in MODELS {
        let artifact = ModelArtifact::new(models_dir().join(model));
        let m = backends.load(Target::Gpu, &artifact, &LoadOptions::default()).unwrap();
        let p = m.placement().unwrap();
        println!("{model}: {} device, {} host {:?}", p.device_nodes, p.host_nodes, p.host_ops);
    }
}
