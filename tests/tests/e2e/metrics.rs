//! Prometheus metrics on `metrics.listen` (SPEC §7).

use edgeserve_tests::Harness;
use serde_json::json;

/// The value of the first sample line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_auth_failures_devices_and_certificate_expiry_are_exported() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let client = h.client();
    for _ in 0..3 {
        let resp = client
            .post(h.score_url("mlp"))
            .bearer_auth(&key)
            .json(&json!({"data": [[1, 2, 3, 4], [5, 6, 7, 8]]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    client.post(h.score_url("mlp")).json(&json!({"data": [[1, 2, 3, 4]]})).send().await.unwrap();
    client
        .post(h.score_url("mlp"))
        .bearer_auth("esk_nope")
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();

    let text = h.metrics().await;
    let prefix = |name: &str, labels: &str| format!("{name}{{{labels}}}");
    assert_eq!(
        sample(
            &text,
            &prefix(
                "edgeserve_requests_total",
                "endpoint=\"mlp\",deployment=\"blue\",code=\"200\",mirror=\"false\""
            )
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &prefix(
                "edgeserve_requests_total",
                "endpoint=\"mlp\",deployment=\"-\",code=\"401\",mirror=\"false\""
            )
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &prefix("edgeserve_auth_failures_total", "endpoint=\"mlp\",reason=\"missing\"")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &prefix("edgeserve_auth_failures_total", "endpoint=\"mlp\",reason=\"invalid\"")
        ),
        Some(1.0)
    );
    let latency_count: f64 = text
        .lines()
        .filter(|l| l.starts_with("edgeserve_request_duration_seconds_count{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(latency_count, 5.0, "{text}");
    let mlp_latency =
        "edgeserve_request_duration_seconds_count{endpoint=\"mlp\",deployment=\"blue\"}";
    assert_eq!(
        sample(&text, mlp_latency),
        Some(3.0),
        "latency per endpoint and deployment: {text}"
    );
    // Observed per run on the device, not per request: three runs (the requests came one at a
    // time) of two rows each; the refused requests never ran.
    assert_eq!(sample(&text, "edgeserve_batch_size_sum"), Some(6.0), "three runs of two rows");
    assert_eq!(sample(&text, "edgeserve_batch_size_count"), Some(3.0), "three runs");
    assert_eq!(
        sample(&text, &prefix("edgeserve_queue_depth", "endpoint=\"mlp\",deployment=\"blue\"")),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, &prefix("edgeserve_device_up", "target=\"cpu\",index=\"0\"")),
        Some(1.0)
    );
    let tls = h.cli_json(&["tls", "show"]);
    let expiry = sample(&text, "edgeserve_tls_cert_expiry_timestamp_seconds").unwrap();
    assert_eq!(expiry, tls["notAfterUnix"].as_f64().unwrap());
    assert!(!text.contains(&key) && !text.contains("esk_"), "a key reached the metrics");
}

/// Sample lines of the exposition (every series once), without comments.
fn series(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.rsplit_once(' ').map(|(name, _)| name.to_string()).unwrap_or_default())
        .collect()
}

/// Sends `count` unauthenticated requests to endpoints named from `first`, 32 at a time.
async fn scan(h: &Harness, first: usize, count: usize) {
    let client = h.client();
    let mut tasks = tokio::task::JoinSet::new();
    for i in first..first + count {
        if tasks.len() >= 32 {
            assert_eq!(tasks.join_next().await.unwrap().unwrap(), 404);
        }
        let (client, url) = (client.clone(), h.score_url(&format!("scan-{i}-{}", i * 7919)));
        tasks.spawn(async move {
            let body = serde_json::json!({"data": [[1, 2, 3, 4]]});
            client.post(url).json(&body).send().await.unwrap().status().as_u16()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 404);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_endpoint_names_share_one_label_value() {
    let mut h = Harness::new();
    h.start();
    scan(&h, 0, 100).await;
    let before = series(&h.metrics().await);
    // 10,000 random names (issue 19): the set of series does not grow.
    scan(&h, 100, 10_000).await;
    let text = h.metrics().await;
    let after = series(&text);
    assert_eq!(after.len(), before.len(), "series added by unknown names");
    assert!(after.iter().all(|l| !l.contains("scan-")), "{text}");
    let unknown = text
        .lines()
        .find(|l| {
            l.starts_with("edgeserve_requests_total{")
                && l.contains("endpoint=\"_unknown\"")
                && l.contains("code=\"404\"")
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(unknown.ends_with(" 10100"), "{unknown}");
}
