//! Models as exporters write them by default (issue 15, SPEC §2), through the real daemon:
//! unset batch dims (case H001), external data (H005), `Resize` sized from `Shape(x)` (H008),
//! the test inference at load, and what `model show` says about targets.

use std::path::PathBuf;

use edgeserve_tests::{models_dir, Harness};
use serde_json::{json, Value};

fn case(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cases").join(path).display().to_string()
}

/// Registers `path` as `name:1`, creates endpoint `name` and a CPU deployment `blue` with all
/// traffic; returns the endpoint's key.
fn deploy(h: &Harness, name: &str, path: &str) -> String {
    h.try_deploy_cpu(name, path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

async fn score(h: &Harness, endpoint: &str, key: &str, body: Value) -> Value {
    let resp = h
        .client()
        .post(h.url(&format!("/v2/models/{endpoint}/infer")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

fn close(got: &Value, want: &[f64]) {
    let got: Vec<f64> = got.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "{g} vs onnxruntime {w}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn case_h001_an_unset_batch_dim_is_the_batch() {
    let mut h = Harness::bare();
    h.start();
    let key = tokio::task::block_in_place(|| deploy(&h, "unset", &case("H001/unset_batch.onnx")));
    let shown: Value = h.cli_json(&["model", "show", "--name", "unset", "--version", "1"]);
    assert_eq!(shown["signature"]["inputs"][0]["shape"], json!([-1, 4]), "{shown}");
    assert_eq!(shown["signature"]["outputs"][0]["shape"], json!([-1, 3]), "{shown}");
    let x: Vec<f64> = (0..8).map(|i| f64::from(i) / 10.0).collect();
    let v = score(
        &h,
        "unset",
        &key,
        json!({"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": x}]}),
    )
    .await;
    // onnxruntime 1.32 on the same input.
    close(
        &v["outputs"][0]["data"],
        &[-0.26317292, 0.3695286, -0.09053986, -0.8430501, 1.0391815, -0.6509814],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn case_h005_external_data_is_copied_with_the_model() {
    let mut h = Harness::bare();
    h.start();
    // A copy outside the source tree, so the repository copy is what serves.
    let src = h.dir.path().join("ext");
    std::fs::create_dir_all(&src).unwrap();
    for f in ["model.onnx", "model.onnx.data"] {
        std::fs::copy(PathBuf::from(case("H005/extdata_model")).join(f), src.join(f)).unwrap();
    }
    let key = tokio::task::block_in_place(|| deploy(&h, "ext", src.to_str().unwrap()));
    let stored = h.dir.path().join("state/models/ext/1");
    assert!(stored.join("model.onnx.data").is_file(), "the data file is part of the version");
    std::fs::remove_dir_all(&src).unwrap();
    let x: Vec<f64> = (0..16).map(|i| f64::from(i) / 10.0).collect();
    let v = score(
        &h,
        "ext",
        &key,
        json!({"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": x}]}),
    )
    .await;
    close(
        &v["outputs"][0]["data"],
        &[9.92, 10.039999, 10.16, 10.28, 10.4, 10.5199995, 10.639999, 10.76],
    );

    // A missing data file is refused, naming it; nothing is registered.
    let lone = h.dir.path().join("lone");
    std::fs::create_dir_all(&lone).unwrap();
    std::fs::copy(
        PathBuf::from(case("H005/extdata_model")).join("model.onnx"),
        lone.join("model.onnx"),
    )
    .unwrap();
    let (code, err) = tokio::task::block_in_place(|| {
        h.cli_err(&[
            "model",
            "register",
            "--name",
            "lone",
            "--version",
            "1",
            "--path",
            lone.to_str().unwrap(),
        ])
    });
    assert_eq!(code, 1);
    assert!(err.contains("model.onnx.data (external data), which is not beside it"), "{err}");
    assert!(!h.dir.path().join("state/models/lone/1").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn case_h008_resize_sized_from_shape_scores_at_any_batch() {
    let mut h = Harness::bare();
    h.start();
    let key = tokio::task::block_in_place(|| {
        deploy(&h, "resize", &case("H008/resize_sizes_from_shape.onnx"))
    });
    for batch in [1usize, 3, 2] {
        let x: Vec<f64> = (0..batch * 4).map(|i| i as f64).collect();
        let v = score(
            &h,
            "resize",
            &key,
            json!({"inputs": [{"name": "x", "shape": [batch, 1, 2, 2], "datatype": "FP32", "data": x}]}),
        )
        .await;
        assert_eq!(v["outputs"][0]["shape"], json!([batch, 1, 4, 4]));
        // onnxruntime: nearest, each input pixel a 2x2 block.
        let data = v["outputs"][0]["data"].as_array().unwrap();
        let first: Vec<f64> = data[..16].iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(first, [0., 0., 1., 1., 0., 0., 1., 1., 2., 2., 3., 3., 2., 2., 3., 3.]);
    }
}

#[test]
fn a_model_that_cannot_run_never_reaches_succeeded() {
    let mut h = Harness::bare();
    h.start();
    let path = models_dir().join("cannot_run/model.onnx").display().to_string();
    h.cli_json(&["model", "register", "--name", "bad", "--version", "1", "--path", &path]);
    h.cli_json(&["endpoint", "create", "--name", "bad"]);
    let (code, err) = h.cli_err(&[
        "deployment",
        "create",
        "--name",
        "blue",
        "--endpoint",
        "bad",
        "--model",
        "bad:1",
        "--target",
        "cpu",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("DeploymentFailed"), "{err}");
    assert!(err.contains("test inference at load (zeros at batch size 1) failed"), "{err}");

    assert_eq!(h.cli_json(&["deployment", "list", "--endpoint", "bad"]), json!([]));
}

#[test]
fn model_show_says_which_targets_run_the_model() {
    let mut h = Harness::bare();
    h.start();
    let path = models_dir().join("unsupported/model.onnx").display().to_string();
    let m = h.cli_json(&["model", "register", "--name", "odd", "--version", "1", "--path", &path]);
    let targets = m["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3, "{m}");
    for t in targets {
        assert_eq!(t["supported"], false, "{t}");
    }
    let cpu = targets[0]["reason"].as_str().unwrap();
    assert!(cpu.contains("Frobnicate") && cpu.contains("attn/3"), "{cpu}");
    // The declared signature is recorded even where no backend runs the model.
    assert_eq!(m["signature"]["inputs"][0]["name"], "x", "{m}");
    let mlp = models_dir().join("mlp/model.onnx").display().to_string();
    let m = h.cli_json(&["model", "register", "--name", "mlp", "--version", "1", "--path", &mlp]);
    assert_eq!(m["targets"][0], json!({"target": "cpu", "supported": true}), "{m}");
    assert_eq!(m["signature"]["outputs"][0]["shape"], json!([-1, 3]), "{m}");
}

/// Splits OIP BYTES binary data: 4-byte little-endian lengths, each followed by its bytes.
fn bytes_elements(mut data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let n = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
        out.push(String::from_utf8(data[4..4 + n].to_vec()).unwrap());
        data = &data[4 + n..];
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn zipmap_and_text_outputs_in_metadata_and_the_binary_extension() {
    let mut h = Harness::bare();
    h.start();
    let dir = models_dir().join("exporters/skl_string_labels");
    let key = tokio::task::block_in_place(|| deploy(&h, "species", dir.to_str().unwrap()));
    let meta: Value = h
        .client()
        .get(h.url("/v2/models/species"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outputs = meta["outputs"].as_array().unwrap();
    let label = outputs.iter().find(|o| o["name"] == "output_label").unwrap();
    assert_eq!(label["datatype"], "BYTES", "{meta}");
    let probs = outputs.iter().find(|o| o["name"] == "output_probability").unwrap();
    assert_eq!(probs["datatype"], "BYTES", "{meta}");
    assert_eq!(probs["shape"], json!([-1]), "{meta}");
    assert_eq!(probs["parameters"]["content_type"], "zipmap", "{meta}");
    assert_eq!(probs["parameters"]["labels"], json!(["setosa", "versicolor", "virginica"]));

    // The reference case at batch 3, outputs in the binary extension.
    let x = [
        6.02325439453125,
        2.3544020652770996,
        4.706676959991455,
        2.6003572940826416,
        6.856669902801514,
        1.816947102546692,
        3.7440764904022217,
        1.3145490884780884,
        4.276006698608398,
        4.223479747772217,
        6.887601852416992,
        0.9593933820724487,
    ];
    let resp = h
        .client()
        .post(h.url("/v2/models/species/infer"))
        .bearer_auth(&key)
        .json(&json!({
            "inputs": [{"name": "X", "shape": [3, 4], "datatype": "FP32", "data": x}],
            "parameters": {"binary_data_output": true}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let header_len: usize =
        resp.headers()["inference-header-content-length"].to_str().unwrap().parse().unwrap();
    let body = resp.bytes().await.unwrap();
    let header: Value = serde_json::from_slice(&body[..header_len]).unwrap();
    let mut at = header_len;
    let mut by_name = std::collections::HashMap::new();
    for out in header["outputs"].as_array().unwrap() {
        let n = out["parameters"]["binary_data_size"].as_u64().unwrap() as usize;
        by_name.insert(
            out["name"].as_str().unwrap().to_string(),
            (out.clone(), body[at..at + n].to_vec()),
        );
        at += n;
    }
    let (meta, bytes) = &by_name["output_label"];
    assert_eq!(meta["datatype"], "BYTES");
    // onnxruntime 1.32 on the same rows.
    assert_eq!(bytes_elements(bytes), ["virginica", "versicolor", "virginica"]);
    let (meta, bytes) = &by_name["output_probability"];
    assert_eq!(meta["shape"], json!([3]));
    let rows: Vec<Value> =
        bytes_elements(bytes).iter().map(|r| serde_json::from_str(r).unwrap()).collect();
    assert_eq!(rows[1], json!({"setosa": 0.0, "versicolor": 1.0, "virginica": 0.0}));
    assert_eq!(rows[2], json!({"setosa": 0.0, "versicolor": 0.0, "virginica": 1.0}));
}
