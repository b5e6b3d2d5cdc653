//! Dynamic batching through the real daemon (SPEC §6 `max_batch_size`, `batch_window_us`):
//! requests of mixed row counts fired at once get byte-for-byte the answers they get alone,
//! batches of several requests did run, and a full queue answers 503 at once.

use edgeserve_tests::{models_dir, Harness};
use serde_json::{json, Value};

/// The value of the sample line that is exactly `name` followed by a space.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Deploys the example `dir` as endpoint `name`, deployment `blue`, on the CPU with batching.
fn deploy_batched(h: &Harness, name: &str, dir: &str, extra: &str) -> String {
    let path = models_dir().join(dir).display().to_string();
    h.cli_json(&["model", "register", "--name", name, "--version", "1", "--path", &path]);
    h.cli_json(&["endpoint", "create", "--name", name]);
    let file = h.write_file(
        &format!("{name}.toml"),
        &format!(
            "name = \"blue\"\nendpoint = \"{name}\"\nmodel = \"{name}:1\"\ntarget = \"cpu\"\n\
             max_batch_size = 8\n{extra}"
        ),
    );
    let d = h.cli_json(&["deployment", "create", "-f", &file, "--all-traffic"]);
    assert_eq!(d["state"], "Succeeded", "{d}");
    h.keys(name).0
}

/// A seed-style body of `rows` rows, `{"inputs": {NAME: rows}}`, for inputs `(name, width,
/// integer)`, its values varied by `seed`.
fn body(inputs: &[(&str, usize, bool)], rows: usize, seed: usize) -> Value {
    let mut map = serde_json::Map::new();
    for (k, &(name, width, int)) in inputs.iter().enumerate() {
        let data: Vec<Value> = (0..rows)
            .map(|r| {
                let row: Vec<Value> = (0..width)
                    .map(|i| {
                        let x = (seed * 31 + r * 7 + i * 3 + k) % 17;
                        if int {
                            json!(x as i64 - 8)
                        } else {
                            json!(x as f64 / 4.0 - 2.1)
                        }
                    })
                    .collect();
                Value::Array(row)
            })
            .collect();
        map.insert(name.to_string(), Value::Array(data));
    }
    json!({ "inputs": map })
}

/// Scores every body alone, then all at once (three rounds); the answers must be byte-identical.
async fn same_answers_alone_and_batched(h: &Harness, endpoint: &str, bodies: &[Value]) {
    let key = h.keys(endpoint).0;
    let client = h.client();
    let url = h.score_url(endpoint);
    let post = |b: Value| {
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        async move {
            let resp = client.post(url).bearer_auth(key).json(&b).send().await.unwrap();
            let status = resp.status();
            let bytes = resp.bytes().await.unwrap();
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
            bytes
        }
    };
    let mut alone = Vec::new();
    for b in bodies {
        alone.push(post(b.clone()).await);
    }
    for round in 0..3 {
        let sends: Vec<_> = bodies.iter().map(|b| tokio::spawn(post(b.clone()))).collect();
        let mut together = Vec::new();
        for send in sends {
            together.push(send.await.unwrap());
        }
        for (i, (a, t)) in alone.iter().zip(&together).enumerate() {
            assert_eq!(a, t, "{endpoint} round {round} request {i}: batched answer differs");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_get_their_own_answers_and_share_batches() {
    let mut h = Harness::bare();
    h.start();
    let window = "batch_window_us = 100000\nmax_queue = 64\n";
    tokio::task::block_in_place(|| {
        deploy_batched(&h, "mlp", "mlp", window);
        deploy_batched(&h, "two", "two_inputs", window);
        deploy_batched(&h, "rf", "exporters/skl_rf_clf", window);
    });
    let sizes = [1usize, 2, 3, 5, 1, 2, 1, 3, 4, 1, 2, 1];
    // (endpoint, [(input, width, integer-valued)])
    type Inputs = Vec<(&'static str, usize, bool)>;
    let cases: [(&str, Inputs); 3] = [
        ("mlp", vec![("x", 4, false)]),
        ("two", vec![("a", 3, false), ("b", 3, true)]),
        ("rf", vec![("X", 5, false)]),
    ];
    let before = h.metrics().await;
    let mut requests = 0.0;
    let mut rows = 0.0;
    for (endpoint, inputs) in &cases {
        let bodies: Vec<Value> =
            sizes.iter().enumerate().map(|(i, &n)| body(inputs, n, i)).collect();
        same_answers_alone_and_batched(&h, endpoint, &bodies).await;
        requests += 4.0 * sizes.len() as f64;
        rows += 4.0 * sizes.iter().sum::<usize>() as f64;
    }
    let after = h.metrics().await;
    let runs = sample(&after, "edgeserve_batch_size_count")
        - sample(&before, "edgeserve_batch_size_count");
    let ran_rows =
        sample(&after, "edgeserve_batch_size_sum") - sample(&before, "edgeserve_batch_size_sum");
    assert_eq!(ran_rows, rows, "every row ran exactly once");
    assert!(runs < requests, "{runs} runs for {requests} requests: no batch merged requests");
    // The ZipMap output came back as rows of {label: probability}.
    let rf = body(&cases[2].1, 2, 0);
    let resp = h.client().post(h.score_url("rf")).bearer_auth(h.keys("rf").0).json(&rf);
    let v: Value = resp.send().await.unwrap().json().await.unwrap();
    assert!(v["outputs"]["output_probability"][1].is_object(), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_503_at_once() {
    let mut h = Harness::bare();
    h.start();
    // One instance, a queue of one, a long window; requests far over max_batch_size run alone.
    let extra = "batch_window_us = 200000\nmax_queue = 1\n";
    let key = tokio::task::block_in_place(|| deploy_batched(&h, "heavy", "heavy", extra));
    let heavy = json!({"data": vec![[0.5, -1.0, 0.25, 2.0]; 2000]});
    let mut sends = Vec::new();
    for _ in 0..12 {
        let (client, url, key, heavy) =
            (h.client(), h.score_url("heavy"), key.clone(), heavy.clone());
        sends.push(tokio::spawn(async move {
            let resp = client.post(url).bearer_auth(key).json(&heavy).send().await.unwrap();
            (resp.status().as_u16(), resp.headers().contains_key("retry-after"))
        }));
    }
    let mut answers = Vec::new();
    for send in sends {
        answers.push(send.await.unwrap());
    }
    assert!(answers.iter().any(|a| a.0 == 200), "{answers:?}");
    assert!(answers.contains(&(503, true)), "{answers:?}");
    assert!(answers.iter().all(|a| a.0 == 200 || a.0 == 503), "{answers:?}");
}
