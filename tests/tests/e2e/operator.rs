//! The operator's story with the real CLI (issue 6): register, create, deploy blue, roll green
//! in, pin, mirror, rotate keys, update under load, restart, delete.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use edgeserve_tests::{models_dir, Harness};
use serde_json::{json, Value};

async fn score(
    h: &Harness,
    client: &reqwest::Client,
    key: &str,
    pin: Option<&str>,
) -> (u16, String) {
    let mut req = client
        .post(h.score_url("shop"))
        .bearer_auth(key)
        .json(&json!({"data": [[0.5, 0.1, -0.3, 2.0]]}));
    if let Some(d) = pin {
        req = req.header("x-deployment", d);
    }
    let resp = req.send().await.unwrap();
    let deployment = resp
        .headers()
        .get("x-deployment")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (resp.status().as_u16(), deployment)
}

fn request_count(h: &Harness, deployment: &str) -> u64 {
    h.cli_json(&["deployment", "show", "-n", deployment, "-e", "shop"])["requestCount"]
        .as_u64()
        .unwrap()
}

/// Registers mlp:1 and mlp:2, creates endpoint `shop`, deploys blue (all traffic) and green.
fn set_up_blue_and_green(h: &Harness) {
    let mlp = models_dir().join("mlp").display().to_string();
    let m = h.cli_json(&["model", "register", "--name", "mlp", "--version", "1", "--path", &mlp]);
    assert_eq!(m["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["signature"]["inputs"][0]["name"], "x");
    h.cli_json(&[
        "model",
        "register",
        "--name",
        "mlp",
        "--version",
        "2",
        "--path",
        &format!("{mlp}/model.onnx"),
    ]);
    let e = h.cli_json(&["endpoint", "create", "--name", "shop", "--description", "shelf camera"]);
    assert_eq!(e["traffic"], json!({}));
    let blue = h.write_file("blue.toml", "name = \"blue\"\nendpoint = \"shop\"\nmodel = \"mlp:1\"\ntarget = \"cpu\"\ninstance_count = 2\n");
    let d = h.cli_json(&["deployment", "create", "-f", &blue, "--all-traffic"]);
    assert_eq!(d["state"], "Succeeded");
    assert_eq!(d["instanceCount"], 2);
    let green = h.write_file(
        "green.json",
        r#"{"name": "green", "endpoint": "shop", "model": "mlp:2", "target": "cpu"}"#,
    );
    h.cli_json(&["deployment", "create", "-f", &green]);
}

#[tokio::test(flavor = "multi_thread")]
async fn blue_green_rollout_keys_and_restart() {
    let mut h = Harness::bare();
    h.start();
    set_up_blue_and_green(&h);
    let client = h.client();
    let (primary, secondary) = h.keys("shop");
    assert_eq!(score(&h, &client, &primary, None).await, (200, "blue".to_string()));

    // Roll green in with 10% of traffic: 1,000 requests split within ±4 points.
    let shown = h.cli_json(&["endpoint", "update", "-n", "shop", "--traffic", "blue=90,green=10"]);
    assert_eq!(shown["traffic"], json!({"blue": 90, "green": 10}));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (client, url, key) = (client.clone(), h.score_url("shop"), primary.clone());
        tasks.spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"data": [[1, 2, 3, 4]]}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.headers()["x-deployment"].to_str().unwrap() == "green"
        });
    }
    let mut green = 0;
    while let Some(hit) = tasks.join_next().await {
        green += usize::from(hit.unwrap());
    }
    assert!((60..=140).contains(&green), "green got {green} of 1000, expected 100 ± 40");

    // Pinning reaches green whatever the split.
    for _ in 0..20 {
        assert_eq!(score(&h, &client, &primary, Some("green")).await, (200, "green".to_string()));
    }
    let resp = client
        .post(h.score_url("shop"))
        .bearer_auth(&primary)
        .header("x-deployment", "red")
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Mirror 50% to green: green's counter moves while every answer comes from blue.
    h.cli_json(&[
        "endpoint",
        "update",
        "-n",
        "shop",
        "--traffic",
        "blue=100,green=0",
        "--mirror",
        "green=50",
    ]);
    let before = request_count(&h, "green");
    for _ in 0..200 {
        assert_eq!(score(&h, &client, &primary, None).await, (200, "blue".to_string()));
    }
    let mut mirrored = 0;
    for _ in 0..50 {
        mirrored = request_count(&h, "green") - before;
        if mirrored >= 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        (60..=140).contains(&mirrored),
        "green ran {mirrored} mirrored copies of 200, expected ~100"
    );
    h.cli_json(&["endpoint", "update", "-n", "shop", "--mirror", "green=0"]);

    // Rotate the primary key: the old one is refused at once, the secondary keeps working.
    h.cli_json(&["endpoint", "regenerate-keys", "-n", "shop", "--key-type", "primary"]);
    let (new_primary, same_secondary) = h.keys("shop");
    assert_ne!(new_primary, primary);
    assert_eq!(same_secondary, secondary);
    assert_eq!(score(&h, &client, &primary, None).await.0, 401);
    assert_eq!(score(&h, &client, &secondary, None).await.0, 200);
    assert_eq!(score(&h, &client, &new_primary, None).await.0, 200);

    // Update blue to a new model version while a client scores in a loop: nothing fails.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let loop_task = {
        let (client, url, key) = (client.clone(), h.score_url("shop"), secondary.clone());
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let resp = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({"data": [[1, 2, 3, 4]]}))
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let updated = tokio::task::block_in_place(|| {
        h.cli_json(&["deployment", "update", "-n", "blue", "-e", "shop", "--set", "model=mlp:2"])
    });
    assert_eq!(updated["model"], "mlp:2");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    loop_task.await.unwrap();
    assert_eq!(failed.load(Ordering::Relaxed), 0, "requests failed during the update");
    assert!(ok.load(Ordering::Relaxed) > 10, "the loop scored during the update");

    // Restart: endpoints, deployments, traffic and keys are all back, unchanged.
    let endpoint_before = h.cli_json(&["endpoint", "show", "-n", "shop"]);
    let keys_before = h.keys("shop");
    h.stop();
    h.start();
    let endpoint_after = h.cli_json(&["endpoint", "show", "-n", "shop"]);
    for field in ["traffic", "mirrorTraffic", "createdAt", "updatedAt", "authMode", "description"] {
        assert_eq!(endpoint_after[field], endpoint_before[field], "{field}");
    }
    assert_eq!(h.keys("shop"), keys_before);
    let deployments = h.cli_json(&["deployment", "list", "-e", "shop"]);
    let summary: Vec<(String, String, String)> = deployments
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().into(),
                d["model"].as_str().unwrap().into(),
                d["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("blue".into(), "mlp:2".into(), "Succeeded".into()),
            ("green".into(), "mlp:2".into(), "Succeeded".into())
        ]
    );
    let client = h.client();
    assert_eq!(score(&h, &client, &keys_before.0, None).await, (200, "blue".to_string()));

    // Invoke through the CLI, pinned to green.
    let request = h.write_file("request.json", r#"{"data": [[1, 2, 3, 4]]}"#);
    let out =
        h.cli_json(&["endpoint", "invoke", "-n", "shop", "-r", &request, "--deployment", "green"]);
    assert_eq!(out["result"].as_array().unwrap().len(), 1);
    assert_eq!(out["deployment"], "green", "invoke says which deployment answered");

    // Delete: scoring gets 404.
    h.cli_json(&["endpoint", "delete", "-n", "shop"]);
    assert_eq!(score(&h, &client, &keys_before.0, None).await.0, 404);
    h.stop();
    h.start();
    assert_eq!(score(&h, &h.client(), &keys_before.0, None).await.0, 404, "the delete was durable");
}

/// Everything the store holds, as the CLI shows it.
fn snapshot(h: &Harness) -> Value {
    json!({
        "endpoint": h.cli_json(&["endpoint", "show", "-n", "shop"]),
        "deployments": h.cli_json(&["deployment", "list", "-e", "shop"]).as_array().unwrap().iter()
            .map(|d| json!([d["name"], d["model"], d["state"], d["updatedAt"]])).collect::<Vec<_>>(),
        "models": h.cli_json(&["model", "list"]),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_and_changes_nothing() {
    let mut h = Harness::bare();
    h.start();
    set_up_blue_and_green(&h);
    let before = snapshot(&h);
    let mlp = models_dir().join("mlp").display().to_string();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (vec!["endpoint", "update", "-n", "shop", "--traffic", "blue=80,green=10"].into_iter().map(String::from).collect(), 1,
         "InvalidInput: traffic percentages sum to 90, they must sum to 100"),
        (vec!["endpoint", "update", "-n", "shop", "--traffic", "blue=90,red=10"].into_iter().map(String::from).collect(), 1,
         "InvalidInput: traffic names deployment red, which the endpoint does not have"),
        (vec!["endpoint", "update", "-n", "shop", "--mirror", "blue=10"].into_iter().map(String::from).collect(), 1,
         "InvalidInput: deployment blue takes live traffic; mirror only to a deployment with 0% live traffic"),
        (vec!["model", "register", "--name", "mlp", "--version", "1", "--path", &mlp].into_iter().map(String::from).collect(), 1,
         "Conflict: model mlp:1 is already registered; register a new version"),
        (vec!["model", "delete", "--name", "mlp", "--version", "1"].into_iter().map(String::from).collect(), 1,
         "Conflict: model mlp:1 is used by deployment shop/blue; delete or update it first"),
        (vec!["deployment", "create", "--name", "red", "--endpoint", "shop", "--model", "mlp:9"].into_iter().map(String::from).collect(), 1,
         "InvalidInput: model mlp:9 is not registered (edgeserve model register)"),
        (vec!["deployment", "create", "--name", "red", "--endpoint", "shop", "--model", "mlp:1", "--target", "fpga"].into_iter().map(String::from).collect(), 1,
         "InvalidInput: target fpga is served over plain but endpoint shop uses tls"),
        (vec!["deployment", "delete", "-n", "blue", "-e", "shop"].into_iter().map(String::from).collect(), 1,
         "Conflict: deployment blue still takes traffic"),
        (vec!["endpoint", "create", "--name", "shop"].into_iter().map(String::from).collect(), 1,
         "Conflict: endpoint shop already exists"),
    ];
    for (args, code, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (got_code, err) = h.cli_err(&args);
        assert_eq!(got_code, code, "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("edgeserve: {want}")),
            "{args:?}:\n got  {err}\n want {want}"
        );
    }

    // An unknown target: the CLI lists the allowed ones; a file that names it reaches the
    // daemon, which says the same.
    let (code, err) = h.cli_err(&[
        "deployment",
        "create",
        "--name",
        "red",
        "--endpoint",
        "shop",
        "--model",
        "mlp:1",
        "--target",
        "tpu",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("[possible values: cpu, gpu, fpga]"), "{err}");
    let tpu = h.write_file(
        "tpu.toml",
        "name = \"red\"\nendpoint = \"shop\"\nmodel = \"mlp:1\"\ntarget = \"tpu\"\n",
    );
    let (code, err) = h.cli_err(&["deployment", "create", "-f", &tpu]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unknown target \"tpu\" (expected cpu, gpu or fpga)"), "{err}");

    // Malformed files: the CLI names the file; a wrong field is named by the daemon.
    let broken = h.write_file("broken.toml", "name = \"red\"\nendpoint = \"shop\nmodel = 1\n");
    let (code, err) = h.cli_err(&["deployment", "create", "-f", &broken]);
    assert_eq!(code, 2);
    assert!(err.contains("broken.toml is not valid TOML"), "{err}");
    let odd = h.write_file(
        "odd.toml",
        "name = \"red\"\nendpoint = \"shop\"\nmodel = \"mlp:1\"\ngpu_count = 2\n",
    );
    let (code, err) = h.cli_err(&["deployment", "create", "-f", &odd]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown field `gpu_count`"), "{err}");
    // A model that cannot load is refused at deployment time, with the op named.
    let unsupported = models_dir().join("unsupported").display().to_string();
    h.cli_json(&["model", "register", "--name", "odd", "--version", "1", "--path", &unsupported]);
    let (code, err) = h.cli_err(&[
        "deployment",
        "create",
        "--name",
        "red",
        "--endpoint",
        "shop",
        "--model",
        "odd:1",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("DeploymentFailed")
            && err.contains("unsupported op Frobnicate at node \"attn/3\""),
        "{err}"
    );
    h.cli_json(&["model", "delete", "--name", "odd", "--version", "1"]);
    // A file that is no model at all is refused at registration.
    let garbage = h.write_file("garbage.onnx", "not a model");
    let (code, err) =
        h.cli_err(&["model", "register", "--name", "junk", "--version", "1", "--path", &garbage]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid model"), "{err}");

    assert_eq!(snapshot(&h), before, "a refused change altered the store");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_endpoint_drains_its_in_flight_requests() {
    let mut h = Harness::with_extra_config(&format!(
        "[[model]]\nname = \"heavy\"\nversion = \"1\"\npath = \"{}/heavy\"\n[[endpoint]]\nname = \"heavy\"\ntraffic = {{ blue = 100 }}\n[[deployment]]\nname = \"blue\"\nendpoint = \"heavy\"\nmodel = \"heavy:1\"\n",
        models_dir().display()
    ));
    h.start();
    let (key, _) = h.keys("heavy");
    let client = h.client();
    let heavy = json!({"data": vec![[0.5, -1.0, 0.25, 2.0]; 20000]});
    let mut inflight = Vec::new();
    for _ in 0..2 {
        let (client, url, key, heavy) =
            (client.clone(), h.score_url("heavy"), key.clone(), heavy.clone());
        inflight.push(tokio::spawn(async move {
            client.post(url).bearer_auth(key).json(&heavy).send().await.unwrap()
        }));
    }
    // One runs, one waits in the queue.
    let depth = "edgeserve_queue_depth{endpoint=\"heavy\",deployment=\"blue\"} 1";
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !h.metrics().await.contains(depth) {
        assert!(std::time::Instant::now() < deadline, "the second request never queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::task::block_in_place(|| h.cli_json(&["endpoint", "delete", "-n", "heavy"]));
    let resp = client
        .post(h.score_url("heavy"))
        .bearer_auth(&key)
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "new requests find no endpoint");
    for task in inflight {
        let resp = task.await.unwrap();
        assert_eq!(resp.status(), 200, "a request accepted before the delete was dropped");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["result"].as_array().unwrap().len(), 20000);
    }
}
