//! Seed-style scoring: keys, errors and limits.

use edgeserve_tests::Harness;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn post(h: &Harness, endpoint: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = h.client().post(h.score_url(endpoint)).json(body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await.unwrap()
}

/// Checks SPEC §5's error shape and returns the message.
async fn error_of(resp: reqwest::Response, status: StatusCode, code: &str) -> String {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    let err = &body["error"];
    assert_eq!(err["code"], code, "{body}");
    assert_eq!(err["requestId"], request_id.as_str());
    let ts = err["timestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 20, "timestamp {ts}");
    err["message"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn both_keys_score_and_bad_credentials_get_401() {
    let mut h = Harness::new();
    h.start();
    let (primary, secondary) = h.keys("mlp");
    assert!(primary.starts_with("esk_") && secondary.starts_with("esk_") && primary != secondary);
    let body = json!({"data": [[0.1, 0.2, 0.3, 0.4]]});
    for key in [&primary, &secondary] {
        let resp = post(&h, "mlp", Some(key), &body).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["x-deployment"], "blue");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["result"].as_array().unwrap().len(), 1);
    }

    let resp = post(&h, "mlp", None, &body).await;
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let msg = error_of(resp, StatusCode::UNAUTHORIZED, "Unauthorized").await;
    assert!(msg.contains("Authorization: Bearer"), "{msg}");

    let wrong = format!("{}x", &primary[..primary.len() - 1]);
    let resp = post(&h, "mlp", Some(&wrong), &body).await;
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    error_of(resp, StatusCode::UNAUTHORIZED, "Unauthorized").await;

    // Another endpoint's key is not this endpoint's.
    let (iris_key, _) = h.keys("iris");
    let resp = post(&h, "mlp", Some(&iris_key), &body).await;
    error_of(resp, StatusCode::UNAUTHORIZED, "Unauthorized").await;

    // Keys never reach the logs, not even the wrong one a client sent.
    let logs = h.logs();
    assert!(
        logs.contains("key:primary") && logs.contains("key:secondary"),
        "traffic events name the key slot"
    );
    for secret in [&primary, &secondary, &wrong, &iris_key] {
        assert!(!logs.contains(secret.as_str()), "a key was logged");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_endpoint_and_route_are_404() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let resp = post(&h, "nope", Some(&key), &json!({"data": [[1, 2, 3, 4]]})).await;
    let msg = error_of(resp, StatusCode::NOT_FOUND, "EndpointNotFound").await;
    assert_eq!(msg, "endpoint nope not found");
    let resp = h.client().get(h.url("/nothing/here")).send().await.unwrap();
    error_of(resp, StatusCode::NOT_FOUND, "NotFound").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_get_400_naming_the_input() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let cases = [
        (json!({"data": [[1, 2, 3]]}), "input x: expected shape [-1,4], got [1,3]"),
        (
            json!({"data": [[1, 2, "three", 4]]}),
            "input x: element 2 is \"three\", expected a number",
        ),
        (
            json!({"data": [[1, 2, 3, 4], [1, 2]]}),
            "input x: ragged array at [1]: expected 4 elements, got 2",
        ),
        (json!({"inputs": {"y": [[1, 2, 3, 4]]}}), "unknown input y (model inputs: x)"),
        (json!({"rows": []}), "request body must have \"data\" or \"inputs\""),
    ];
    for (body, want) in cases {
        let resp = post(&h, "mlp", Some(&key), &body).await;
        let msg = error_of(resp, StatusCode::BAD_REQUEST, "InvalidInput").await;
        assert_eq!(msg, want);
    }
    // Integer inputs refuse fractions, by input name.
    let (two_key, _) = h.keys("two");
    let body = json!({"inputs": {"a": [[1, 2, 3]], "b": [[1, 2.5, 3]]}});
    let msg = error_of(
        post(&h, "two", Some(&two_key), &body).await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
    )
    .await;
    assert_eq!(msg, "input b: element 1 is 2.5, expected an integer");
    let body = json!({"inputs": {"a": [[1, 2, 3]]}});
    let msg = error_of(
        post(&h, "two", Some(&two_key), &body).await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
    )
    .await;
    assert_eq!(msg, "input b is missing");
    let body = json!({"data": [[1, 2, 3]]});
    let msg = error_of(
        post(&h, "two", Some(&two_key), &body).await,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
    )
    .await;
    assert!(msg.starts_with("this model has 2 inputs (a, b)"), "{msg}");

    // Not JSON at all.
    let resp = h
        .client()
        .post(h.score_url("mlp"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"data\": [[1,")
        .send()
        .await
        .unwrap();
    let msg = error_of(resp, StatusCode::BAD_REQUEST, "InvalidInput").await;
    assert!(msg.starts_with("request body is not valid JSON"), "{msg}");

    // Wrong content type.
    let resp = h
        .client()
        .post(h.score_url("mlp"))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body("1,2,3,4")
        .send()
        .await
        .unwrap();
    error_of(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_body_is_413_and_the_daemon_keeps_serving() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    // The harness sets limits.max_body_bytes = 1 MiB.
    let big = format!("{{\"data\": [[{}]]}}", vec!["0.5"; 400_000].join(","));
    assert!(big.len() > 1 << 20);
    let resp = h
        .client()
        .post(h.score_url("mlp"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let msg = error_of(resp, StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge").await;
    assert!(msg.contains("1048576"), "{msg}");
    let ok = post(&h, "mlp", Some(&key), &json!({"data": [[1, 2, 3, 4]]})).await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn request_ids_are_echoed_or_generated() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let resp = h
        .client()
        .post(h.score_url("mlp"))
        .bearer_auth(&key)
        .header("x-request-id", "trace-42")
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-42");
    let resp = post(&h, "mlp", Some(&key), &json!({"data": [[1, 2, 3, 4]]})).await;
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    // The traffic event carries the request id.
    h.wait_for_log("request_id=trace-42", std::time::Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn http1_and_h2_both_score() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let body = json!({"data": [[1, 2, 3, 4]]});
    let h1 = h.client_builder().http1_only().build().unwrap();
    let resp = h1.post(h.score_url("mlp")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(resp.status(), StatusCode::OK);
    let resp =
        h.client().post(h.score_url("mlp")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2, "ALPN picks h2");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_needs_no_credential_but_plain_listener_serves_no_tls_endpoint() {
    let mut h = Harness::new();
    h.start();
    let v: Value =
        h.client().get(h.url("/v2/health/live")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v, json!({"live": true}));
    let v: Value =
        h.client().get(h.url("/v2/health/ready")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v, json!({"ready": true}));

    // A CPU endpoint's key is never accepted in clear text: same 404 as an unknown endpoint.
    let (key, _) = h.keys("mlp");
    let plain = format!("http://{}/api/v1/service/mlp/score", h.daemon().plain);
    let resp = reqwest::Client::new()
        .post(plain)
        .bearer_auth(&key)
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();
    let msg = error_of(resp, StatusCode::NOT_FOUND, "EndpointNotFound").await;
    assert_eq!(msg, "endpoint mlp not found");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_503_with_retry_after() {
    let mut h = Harness::with_extra_config(&format!(
        r#"
[[model]]
name = "slow"
version = "1"
path = "{}/heavy"
[[endpoint]]
name = "slow"
traffic = {{ blue = 100 }}
[[deployment]]
name = "blue"
endpoint = "slow"
model = "slow:1"
instance_count = 1
max_queue = 1
"#,
        edgeserve_tests::models_dir().display()
    ));
    h.start();
    let (key, _) = h.keys("slow");
    // Heavy batches keep the single worker busy while more requests arrive than the queue holds.
    let body = json!({"data": vec![[0.5, -1.0, 0.25, 2.0]; 2000]});
    let client = h.client();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (client, url, key, body) =
            (client.clone(), h.score_url("slow"), key.clone(), body.clone());
        tasks.spawn(
            async move { client.post(url).bearer_auth(key).json(&body).send().await.unwrap() },
        );
    }
    let (mut ok, mut full) = (0, 0);
    while let Some(resp) = tasks.join_next().await {
        let resp = resp.unwrap();
        match resp.status() {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(resp.headers()["retry-after"], "1");
                let msg = error_of(resp, StatusCode::SERVICE_UNAVAILABLE, "QueueFull").await;
                assert!(msg.contains("deployment blue has 1 requests waiting"), "{msg}");
                full += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok >= 1 && full >= 1, "{ok} answered, {full} refused");
}

fn private_endpoint(allowed: &str) -> Harness {
    Harness::with_extra_config(&format!(
        r#"
[network]
allowed_networks = ["{allowed}"]
[[endpoint]]
name = "private"
public_network_access = "disabled"
traffic = {{ blue = 100 }}
[[deployment]]
name = "blue"
endpoint = "private"
model = "mlp:1"
"#
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn private_endpoints_refuse_peers_outside_allowed_networks_before_any_credential() {
    let body = json!({"data": [[1, 2, 3, 4]]});
    let mut h = private_endpoint("10.0.0.0/8");
    h.start();
    let (key, _) = h.keys("private");
    for credential in [Some(key.as_str()), None, Some("esk_wrong")] {
        let resp = post(&h, "private", credential, &body).await;
        let msg = error_of(resp, StatusCode::FORBIDDEN, "Forbidden").await;
        assert!(msg.contains("127.0.0.1 is not in network.allowed_networks"), "{msg}");
    }
    // Public endpoints on the same box are unaffected.
    let (mlp_key, _) = h.keys("mlp");
    assert_eq!(post(&h, "mlp", Some(&mlp_key), &body).await.status(), StatusCode::OK);

    let mut h = private_endpoint("127.0.0.0/8");
    h.start();
    let (key, _) = h.keys("private");
    assert_eq!(post(&h, "private", Some(&key), &body).await.status(), StatusCode::OK);
    assert_eq!(post(&h, "private", None, &body).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_authentications_are_rate_limited_per_peer() {
    let mut h = Harness::new();
    h.env.push(("EDGESERVE_LIMITS__AUTH_FAILURES_PER_MINUTE".into(), "3".into()));
    h.start();
    let (key, _) = h.keys("mlp");
    let body = json!({"data": [[1, 2, 3, 4]]});
    assert_eq!(post(&h, "mlp", Some(&key), &body).await.status(), StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(
            post(&h, "mlp", Some("esk_guess"), &body).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Over the limit: every attempt from this address waits, even with the right key.
    for credential in [Some("esk_guess"), Some(key.as_str())] {
        let resp = post(&h, "mlp", credential, &body).await;
        let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        let msg = error_of(resp, StatusCode::TOO_MANY_REQUESTS, "TooManyRequests").await;
        assert!(msg.contains("limits.auth_failures_per_minute"), "{msg}");
    }
    let metrics = h.metrics().await;
    assert!(
        metrics
            .contains("edgeserve_auth_failures_total{endpoint=\"mlp\",reason=\"rate_limited\"} 2"),
        "{metrics}"
    );
}
