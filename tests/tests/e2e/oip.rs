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
    assert_eq!(err["error"]["message"], "input b: expected datatype INT64, got FP32");
}
