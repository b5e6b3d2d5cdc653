//! Outputs over the wire equal onnxruntime's references, for every example model.

use edgeserve_tests::{reference, Harness};
use serde_json::{json, Map, Value};

/// Nests a reference tensor's flat data into its shape.
pub(crate) fn nested(t: &Value) -> Value {
    fn nest(shape: &[u64], flat: &mut std::slice::Iter<'_, Value>) -> Value {
        match shape.split_first() {
            None => flat.next().unwrap().clone(),
            Some((&n, rest)) => Value::Array((0..n).map(|_| nest(rest, flat)).collect()),
        }
    }
    let shape: Vec<u64> =
        t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
    nest(&shape, &mut t["data"].as_array().unwrap().iter())
}

fn flat(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flat(i, out)),
        leaf => out.push(leaf.clone()),
    }
}

fn assert_close(what: &str, got: &Value, want: &Value) {
    assert_within(what, got, want, 1e-5);
}

/// Element-wise: integers equal, floats within `tol` of onnxruntime's.
pub(crate) fn assert_within(what: &str, got: &Value, want: &Value, tol: f64) {
    let (mut g, mut w) = (Vec::new(), Vec::new());
    flat(got, &mut g);
    flat(want, &mut w);
    assert_eq!(g.len(), w.len(), "{what}: element count");
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        if b.is_i64() {
            assert_eq!(a, b, "{what}[{i}]");
        } else {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() <= tol, "{what}[{i}]: got {a}, onnxruntime {b}");
        }
    }
}

async fn check(h: &Harness, endpoint: &str, model: &str) {
    check_within(h, endpoint, model, 1e-5).await;
}

/// Scores batch 1 and batch 5 of `model`'s reference cases on `endpoint` over TLS and compares
/// the answers with onnxruntime's within `tol`.
pub(crate) async fn check_within(h: &Harness, endpoint: &str, model: &str, tol: f64) {
    let (key, _) = h.keys(endpoint);
    let reference = reference(model);
    let mut checked = 0;
    for case in reference["cases"].as_array().unwrap() {
        let batch = case["batch"].as_u64().unwrap();
        if batch != 1 && batch != 5 {
            continue;
        }
        let inputs: &Map<String, Value> = case["inputs"].as_object().unwrap();
        let body = if inputs.len() == 1 {
            json!({"data": nested(inputs.values().next().unwrap())})
        } else {
            json!({"inputs": inputs.iter().map(|(k, v)| (k.clone(), nested(v))).collect::<Map<_, _>>()})
        };
        let resp = h
            .client()
            .post(h.score_url(endpoint))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{endpoint} batch {batch}");
        let got: Value = resp.json().await.unwrap();
        let outputs = case["outputs"].as_object().unwrap();
        if outputs.len() == 1 {
            let want = nested(outputs.values().next().unwrap());
            assert_within(&format!("{endpoint} batch {batch}"), &got["result"], &want, tol);
        } else {
            for (name, t) in outputs {
                assert_within(
                    &format!("{endpoint}/{name} batch {batch}"),
                    &got["outputs"][name],
                    &nested(t),
                    tol,
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 2, "batch 1 and batch 5 of {model}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_model_matches_onnxruntime_at_batch_1_and_5() {
    let mut h = Harness::new();
    h.start();
    check(&h, "mlp", "mlp").await;
    check(&h, "cnn", "cnn").await;
    check(&h, "iris", "iris_forest").await;
    check(&h, "two", "two_inputs").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cnn_accepts_rows_of_flattened_images() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("cnn");
    let reference = reference("cnn");
    let case = &reference["cases"][0];
    let rows = json!([case["inputs"]["x"]["data"]]);
    let resp = h
        .client()
        .post(h.score_url("cnn"))
        .bearer_auth(&key)
        .json(&json!({"data": rows}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got: Value = resp.json().await.unwrap();
    assert_close("cnn rows", &got["result"], &nested(&case["outputs"]["y"]));
}
