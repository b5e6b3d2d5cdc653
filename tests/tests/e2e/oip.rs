//! Open Inference Protocol routes: metadata, readiness and JSON inference.

use edgeserve_tests::{reference, Harness};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn metadata_ready_and_infer() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("two");
    let client = h.client();

    let meta: Value = client
        .get(h.url("/v2/models/two"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["name"], "two");
    assert_eq!(
        meta["inputs"],
        json!([
            {"name": "a", "datatype": "FP32", "shape": [-1, 3]},
            {"name": "b", "datatype": "INT64", "shape": [-1, 3]},
        ])
    );
    assert_eq!(
        meta["outputs"][1],
        json!({"name": "b_doubled", "datatype": "INT64", "shape": [-1, 3]})
    );

    let resp = client.get(h.url("/v2/models/two/ready")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client.get(h.url("/v2/models/two/ready")).send().await.unwrap();
    assert_eq!(resp.status(), 401, "model routes need the credential");

    let reference = reference("two_inputs");
    let case = reference["cases"].as_array().unwrap().iter().find(|c| c["batch"] == 5).unwrap();
    let body = json!({
        "id": "req-1",
        "inputs": [
            {"name": "a", "shape": case["inputs"]["a"]["shape"], "datatype": "FP32", "data": case["inputs"]["a"]["data"]},
            {"name": "b", "shape": case["inputs"]["b"]["shape"], "datatype": "INT64", "data": case["inputs"]["b"]["data"]},
        ]
    });
    let resp = client
        .post(h.url("/v2/models/two/infer"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got: Value = resp.json().await.unwrap();
    assert_eq!(got["id"], "req-1");
    assert_eq!(got["model_name"], "two");
    assert_eq!(got["model_version"], "1");
    let outputs = got["outputs"].as_array().unwrap();
    assert_eq!(outputs[0]["name"], "sum");
    assert_eq!(outputs[0]["shape"], json!([5, 3]));
    for (g, w) in outputs[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .zip(case["outputs"]["sum"]["data"].as_array().unwrap())
    {
        assert!((g.as_f64().unwrap() - w.as_f64().unwrap()).abs() <= 1e-5);
    }
    assert_eq!(outputs[1]["datatype"], "INT64");
    assert_eq!(outputs[1]["data"], case["outputs"]["b_doubled"]["data"]);

    // Only the outputs asked for.
    let mut only = body.clone();
    only["outputs"] = json!([{"name": "b_doubled"}]);
    let got: Value = client
        .post(h.url("/v2/models/two/infer"))
        .bearer_auth(&key)
        .json(&only)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["outputs"].as_array().unwrap().len(), 1);

    // A wrong datatype names the input.
    let mut bad = body.clone();
    bad["inputs"][1]["datatype"] = json!("FP32");
    let resp = client
        .post(h.url("/v2/models/two/infer"))
        .bearer_auth(&key)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"], "input b: expected datatype INT64, got FP32");
    assert_eq!(err["code"], "InvalidInput");
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_tensor_extension_in_and_out() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("two");
    let reference = reference("two_inputs");
    let case = reference["cases"].as_array().unwrap().iter().find(|c| c["batch"] == 5).unwrap();
    let a: Vec<f32> = case["inputs"]["a"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let a_bytes: Vec<u8> = a.iter().flat_map(|x| x.to_le_bytes()).collect();
    let header = json!({
        "inputs": [
            {"name": "a", "shape": [5, 3], "datatype": "FP32", "parameters": {"binary_data_size": a_bytes.len()}},
            {"name": "b", "shape": [5, 3], "datatype": "INT64", "data": case["inputs"]["b"]["data"]},
        ],
        "outputs": [{"name": "sum", "parameters": {"binary_data": true}}, {"name": "b_doubled"}]
    })
    .to_string();
    let send = |header: String, blob: Vec<u8>| {
        let mut body = header.clone().into_bytes();
        body.extend_from_slice(&blob);
        h.client()
            .post(h.url("/v2/models/two/infer"))
            .bearer_auth(&key)
            .header("content-type", "application/octet-stream")
            .header("inference-header-content-length", header.len().to_string())
            .body(body)
            .send()
    };
    let resp = send(header.clone(), a_bytes.clone()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    let json_len: usize =
        resp.headers()["inference-header-content-length"].to_str().unwrap().parse().unwrap();
    let body = resp.bytes().await.unwrap();
    let head: Value = serde_json::from_slice(&body[..json_len]).unwrap();
    let outputs = head["outputs"].as_array().unwrap();
    assert_eq!(outputs[0]["name"], "sum");
    assert_eq!(outputs[0]["parameters"]["binary_data_size"], 60);
    assert!(outputs[0].get("data").is_none());
    assert_eq!(outputs[1]["data"], case["outputs"]["b_doubled"]["data"]);
    let sum: Vec<f32> = body[json_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let want = case["outputs"]["sum"]["data"].as_array().unwrap();
    assert_eq!(sum.len(), want.len());
    for (g, w) in sum.iter().zip(want) {
        assert!((*g as f64 - w.as_f64().unwrap()).abs() <= 1e-5);
    }

    // Sizes that do not add up are refused by name.
    let resp = send(header.clone(), a_bytes[..40].to_vec()).await.unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"], "input a: binary data has 40 bytes left, 60 declared");
    let mut extra = a_bytes.clone();
    extra.extend_from_slice(&[0; 4]);
    let resp = send(header, extra).await.unwrap();
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"], "binary data has 4 bytes no input declares");
}
