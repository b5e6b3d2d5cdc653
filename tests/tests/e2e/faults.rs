//! Fault isolation (issue 19): a backend failure in one deployment is a 500 for its requests
//! only, logged under the request id; repeated failures mark it `Degraded` in `show`, readiness
//! and `edgeserve_device_up`, and a success brings it back. A stalled log reader does not stall
//! scoring.

use edgeserve_tests::{models_dir, Harness};
use serde_json::{json, Value};

async fn score(h: &Harness, endpoint: &str, key: &str, body: Value) -> (u16, Value, String) {
    let resp =
        h.client().post(h.score_url(endpoint)).bearer_auth(key).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    (status, resp.json().await.unwrap_or(Value::Null), id)
}

async fn get(h: &Harness, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = h.client().get(h.url(path));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

fn device_up(metrics: &str) -> Option<String> {
    metrics
        .lines()
        .find(|l| l.starts_with("edgeserve_device_up{") && l.contains("target=\"cpu\""))
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_failures_stay_in_their_deployment_and_degrade_it_until_a_success() {
    let mut h = Harness::bare();
    h.start();
    let faulty =
        h.try_deploy_cpu("faulty", &models_dir().join("faulty").display().to_string()).unwrap();
    let mlp = h.try_deploy_cpu("mlp", &models_dir().join("mlp").display().to_string()).unwrap();
    let (status, body, _) = score(&h, "faulty", &faulty, json!({"data": [1]})).await;
    assert_eq!((status, &body), (200, &json!({"result": [[10.0, 11.0]]})));

    for round in 0..edgeserve_daemon::deploy::DEGRADED_AFTER {
        let (status, body, id) = score(&h, "faulty", &faulty, json!({"data": [9]})).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(body["error"]["code"], "InternalError", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains("tract") && !message.contains("panick"),
            "no internals: {message}"
        );
        h.wait_for_log(&id, std::time::Duration::from_secs(5));
        // Other deployments are not affected.
        let (status, _, _) = score(&h, "mlp", &mlp, json!({"data": [[1, 2, 3, 4]]})).await;
        assert_eq!(status, 200, "round {round}");
    }
    let logs = h.logs();
    assert!(logs.contains("backend error") && logs.contains("deployment Degraded"), "{logs}");
    let show = h.cli_json(&["deployment", "show", "-n", "blue", "-e", "faulty"]);
    assert_eq!(show["state"], "Degraded", "{show}");
    assert_eq!(get(&h, "/v2/health/ready", None).await.0, 503);
    let (status, body) = get(&h, "/v2/models/faulty/ready", Some(&faulty)).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("Degraded")), "{body}");
    assert_eq!(get(&h, "/v2/models/mlp/ready", Some(&mlp)).await.0, 200);
    assert_eq!(device_up(&h.metrics().await).as_deref(), Some("0"));
    assert_eq!(h.cli_json(&["status"])["ready"], false);

    // One success ends it.
    let (status, _, _) = score(&h, "faulty", &faulty, json!({"data": [2]})).await;
    assert_eq!(status, 200);
    let show = h.cli_json(&["deployment", "show", "-n", "blue", "-e", "faulty"]);
    assert_eq!(show["state"], "Succeeded", "{show}");
    assert_eq!(get(&h, "/v2/health/ready", None).await.0, 200);
    assert_eq!(device_up(&h.metrics().await).as_deref(), Some("1"));
}

/// stderr that nobody reads (a stuck collector) fills its pipe after about 230 traffic lines;
/// the daemon writes logs from a thread of its own through a bounded queue, so scoring goes on,
/// and the lines held meanwhile come out once the reader resumes.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_log_reader_does_not_stall_scoring() {
    let mut h = Harness::bare();
    h.start();
    let key = h.try_deploy_cpu("mlp", &models_dir().join("mlp").display().to_string()).unwrap();
    let held = h.hold_logs();
    let mut last = String::new();
    let all = async {
        for _ in 0..1500 {
            let (status, body, id) = score(&h, "mlp", &key, json!({"data": [[1, 2, 3, 4]]})).await;
            assert_eq!(status, 200, "{body}");
            last = id;
        }
    };
    // 1,500 lines are about 400 KB, six times the pipe: with writes on the runtime threads the
    // requests stopped once the pipe was full.
    tokio::time::timeout(std::time::Duration::from_secs(60), all)
        .await
        .expect("scoring stalled while nobody read the daemon's stderr");
    drop(held);
    h.wait_for_log(&last, std::time::Duration::from_secs(10));
}
