//! Declarative apply (issue 21): the config's declarations reconciled with the store on reload
//! like `kubectl apply`, CLI-made objects untouched, broken files refused with nothing changed,
//! `--check-config` printing the plan, shared key files, and drain for load balancers.

use std::time::Duration;

use edgeserve_tests::{models_dir, run_to_exit, Harness};
use serde_json::{json, Value};

/// Declarations of model `mlp:1`, endpoint `line` and its deployment `blue`.
fn line_declarations() -> String {
    let m = models_dir().display().to_string();
    format!(
        r#"
[[model]]
name = "mlp"
version = "1"
path = "{m}/mlp"
[[endpoint]]
name = "line"
traffic = {{ blue = 100 }}
[[deployment]]
name = "blue"
endpoint = "line"
model = "mlp:1"
max_queue = 64
"#
    )
}

fn bare_with(declarations: &str) -> Harness {
    let h = Harness::bare();
    h.edit_config(|c| format!("{c}{declarations}"));
    h
}

async fn score(h: &Harness, endpoint: &str, key: &str) -> u16 {
    h.client()
        .post(h.score_url(endpoint))
        .bearer_auth(key)
        .json(&json!({"data": [[1.0, 2.0, 3.0, 4.0]]}))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> =
        list.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

fn applied(report: &Value) -> Vec<String> {
    report["applied"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_creates_updates_and_deletes_declared_objects_only() {
    let mut h = bare_with(&line_declarations());
    h.start();
    let line = h.cli_json(&["endpoint", "show", "-n", "line"]);
    assert_eq!(line["origin"], "config", "{line}");
    let key = h.keys("line").0;
    assert_eq!(score(&h, "line", &key).await, 200);
    // An endpoint made with the CLI, on a model made with the CLI.
    let mlp = models_dir().join("mlp").display().to_string();
    let manual_key = h.try_deploy_cpu("manual", &mlp).unwrap();
    assert_eq!(h.cli_json(&["endpoint", "show", "-n", "manual"])["origin"], "cli");

    // Add an endpoint, a deployment, a model and a role assignment; change a deployment.
    let cnn = models_dir().join("cnn").display().to_string();
    h.edit_config(|c| {
        c.replace("max_queue = 64", "max_queue = 32")
            + &format!(
                r#"
[[model]]
name = "cnn"
version = "1"
path = "{cnn}"
[[endpoint]]
name = "extra"
traffic = {{ green = 100 }}
[[deployment]]
name = "green"
endpoint = "extra"
model = "cnn:1"
[[role_assignment]]
assignee = "oidc:line-client"
role = "Scorer"
scope = "/endpoints/extra"
"#
            )
    });
    let report = h.reload();
    assert_eq!(report["ok"], true, "{report}");
    let done = applied(&report);
    for line in [
        "create model cnn:1",
        "create endpoint extra",
        "create deployment extra/green",
        "update deployment line/blue (max_queue 64 → 32)",
        "create role assignment oidc:line-client Scorer /endpoints/extra",
    ] {
        assert!(done.iter().any(|d| d.starts_with(line)), "{line} missing from {done:?}");
    }
    assert_eq!(names(&h.cli_json(&["endpoint", "list"])), ["extra", "line", "manual"]);
    let blue = h.cli_json(&["deployment", "show", "-n", "blue", "-e", "line"]);
    assert_eq!((blue["maxQueue"].as_u64(), blue["state"].as_str()), (Some(32), Some("Succeeded")));
    assert_eq!(blue["origin"], "config");
    let assignments = h.cli_json(&["role", "assignment", "list"]).to_string();
    assert!(assignments.contains("oidc:line-client"), "{assignments}");
    assert_eq!(score(&h, "line", &key).await, 200, "keys survive an update");

    // A reload with nothing changed changes nothing.
    let report = h.reload();
    assert_eq!((report["ok"].as_bool(), applied(&report).len()), (Some(true), 0), "{report}");

    // Blue/green by file: a second deployment takes half the traffic, then goes again (its
    // traffic moves back before it is deleted); an endpoint setting changes.
    let before = std::fs::read_to_string(&h.config_path).unwrap();
    h.edit_config(|c| {
        c.replacen("traffic = { blue = 100 }", "traffic = { blue = 50, green = 50 }", 1)
            + "[[deployment]]\nname = \"green\"\nendpoint = \"line\"\nmodel = \"mlp:1\"\n"
    });
    let report = h.reload();
    assert_eq!(report["ok"], true, "{report}");
    let line = h.cli_json(&["endpoint", "show", "-n", "line"]);
    assert_eq!(line["traffic"], json!({"blue": 50, "green": 50}), "{line}");
    std::fs::write(
        &h.config_path,
        before.replacen(
            "traffic = { blue = 100 }",
            "traffic = { blue = 100 }\npublic_network_access = \"disabled\"",
            1,
        ),
    )
    .unwrap();
    let report = h.reload();
    assert_eq!(report["ok"], true, "{report}");
    let done = applied(&report);
    assert!(done.iter().any(|d| d.starts_with("delete deployment line/green")), "{done:?}");
    let line = h.cli_json(&["endpoint", "show", "-n", "line"]);
    assert_eq!(line["traffic"], json!({"blue": 100}), "{line}");
    assert_eq!(line["publicNetworkAccess"], "disabled", "{line}");
    assert_eq!(score(&h, "line", &key).await, 403, "127.0.0.1 is not in allowed_networks");
    let deployments = h.cli_json(&["deployment", "list", "-e", "line"]);
    assert_eq!(names(&deployments), ["blue"]);
    h.edit_config(|c| c.replace("public_network_access = \"disabled\"\n", ""));
    assert_eq!(h.reload()["ok"], true);
    assert_eq!(score(&h, "line", &key).await, 200);

    // Remove them again: the declared ones go, the CLI-made ones stay.
    h.edit_config(|c| c[..c.find("\n[[model]]\nname = \"cnn\"").unwrap()].to_string());
    let report = h.reload();
    assert_eq!(report["ok"], true, "{report}");
    let done = applied(&report);
    for line in [
        "delete endpoint extra",
        "delete model cnn:1",
        "delete role assignment oidc:line-client Scorer /endpoints/extra",
    ] {
        assert!(done.iter().any(|d| d.starts_with(line)), "{line} missing from {done:?}");
    }
    assert_eq!(names(&h.cli_json(&["endpoint", "list"])), ["line", "manual"]);
    assert!(!h.cli_json(&["role", "assignment", "list"]).to_string().contains("line-client"));
    let models: Vec<String> = h
        .cli_json(&["model", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{}:{}", m["name"].as_str().unwrap(), m["version"].as_str().unwrap()))
        .collect();
    assert!(!models.contains(&"cnn:1".to_string()), "{models:?}");
    assert_eq!(score(&h, "manual", &manual_key).await, 200, "the CLI-made endpoint is untouched");
    assert_eq!(h.cli_json(&["deployment", "show", "-n", "blue", "-e", "manual"])["origin"], "cli");

    // A restart with the same file changes nothing either.
    h.stop();
    h.start();
    assert_eq!(names(&h.cli_json(&["endpoint", "list"])), ["line", "manual"]);
    assert_eq!(score(&h, "line", &key).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_config_or_broken_tls_changes_nothing_and_says_why() {
    let mut h = bare_with(&line_declarations());
    h.start();
    let key = h.keys("line").0;
    let good = std::fs::read_to_string(&h.config_path).unwrap();

    // A bad value, in the same file as a new endpoint: neither is applied.
    h.edit_config(|c| {
        c.replace("max_body_bytes = 1048576", "max_body_bytes = 0")
            + "\n[[endpoint]]\nname = \"never\"\n"
    });
    let report = h.reload();
    assert_eq!(report["ok"], false, "{report}");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("limits.max_body_bytes") && error.contains("greater than 0"), "{error}");
    assert_eq!(names(&h.cli_json(&["endpoint", "list"])), ["line"]);
    assert!(h.logs().contains("reload refused: nothing changed"), "{}", h.logs());

    // TOML that does not parse.
    h.edit_config(|c| format!("{c}\n[[endpoint\n"));
    let report = h.reload();
    assert_eq!(report["ok"], false, "{report}");

    // A declaration that refers to a missing role.
    std::fs::write(
        &h.config_path,
        format!("{good}\n[[role_assignment]]\nassignee = \"oidc:x\"\nrole = \"Nobody\"\n"),
    )
    .unwrap();
    let report = h.reload();
    assert!(report["error"].as_str().unwrap().contains("role Nobody does not exist"), "{report}");

    // Broken TLS material: the old certificate is still served.
    std::fs::write(&h.config_path, &good).unwrap();
    let cert = h.dir.path().join("tls/cert.pem");
    let pem = std::fs::read(&cert).unwrap();
    std::fs::write(&cert, "not a certificate").unwrap();
    let report = h.reload();
    assert_eq!(report["ok"], false, "{report}");
    assert!(report["error"].as_str().unwrap().starts_with("TLS:"), "{report}");
    assert_eq!(score(&h, "line", &key).await, 200, "still serving the previous certificate");
    let status = h.cli_json(&["status"]);
    assert_eq!(status["lastReload"]["ok"], false, "{status}");

    // Fixed: the next reload goes through.
    std::fs::write(&cert, pem).unwrap();
    assert_eq!(h.reload()["ok"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn declarations_never_take_over_cli_made_objects() {
    let mut h = Harness::bare();
    h.start();
    let mlp = models_dir().join("mlp").display().to_string();
    let key = h.try_deploy_cpu("manual", &mlp).unwrap();
    h.edit_config(|c| format!("{c}\n[[endpoint]]\nname = \"manual\"\nauth_mode = \"token\"\n"));
    let report = h.reload();
    assert_eq!(report["ok"], false, "{report}");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("endpoint manual") && error.contains("made with the CLI"), "{error}");
    assert_eq!(h.cli_json(&["endpoint", "show", "-n", "manual"])["authMode"], "key");
    assert_eq!(score(&h, "manual", &key).await, 200);
}

#[test]
fn check_config_prints_the_plan_without_applying_it() {
    // No daemon yet: compared with an empty store.
    let mut h = bare_with(&line_declarations());
    let mut cmd = h.edgeserved();
    cmd.arg("--check-config");
    let out = run_to_exit(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), "configuration OK");
    let stdout = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}");
    for line in ["create model mlp:1", "create endpoint line", "create deployment line/blue"] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    assert!(stdout.contains("compared with an empty store"), "{stdout}");

    // With a running daemon: compared with its store, and nothing changes.
    h.start();
    h.edit_config(|c| {
        c.replace("max_queue = 64", "max_queue = 8") + "\n[[endpoint]]\nname = \"later\"\n"
    });
    let mut cmd = h.edgeserved();
    cmd.arg("--check-config");
    let out = run_to_exit(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("create endpoint later"), "{stdout}");
    assert!(stdout.contains("update deployment line/blue (max_queue 64 → 8)"), "{stdout}");
    assert!(
        stdout.contains("plan: 1 to create, 1 to update, 0 to delete, 2 unchanged"),
        "{stdout}"
    );
    assert!(stdout.contains("running daemon"), "{stdout}");
    assert_eq!(names(&h.cli_json(&["endpoint", "list"])), ["line"]);
    let blue = h.cli_json(&["deployment", "show", "-n", "blue", "-e", "line"]);
    assert_eq!(blue["maxQueue"], 64);
}

const K1: &str = "esk_QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQA";
const K2: &str = "esk_RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRA";
const K3: &str = "esk_SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSA";

#[tokio::test(flavor = "multi_thread")]
async fn shared_key_files_give_every_box_the_same_credentials_and_rotate_on_reload() {
    let keys = |p: &str, s: &str| json!({"primaryKey": p, "secondaryKey": s}).to_string();
    let secret = "fleet-signing-secret-0123456789-abcdefghijklmnop";
    let m = models_dir().display().to_string();
    let declarations = format!(
        r#"
[[model]]
name = "mlp"
version = "1"
path = "{m}/mlp"
[[endpoint]]
name = "line"
traffic = {{ blue = 100 }}
keys_file = "keys.json"
[[deployment]]
name = "blue"
endpoint = "line"
model = "mlp:1"
[[endpoint]]
name = "tok"
auth_mode = "token"
token_signing_key_file = "token.secret"
traffic = {{ blue = 100 }}
[[deployment]]
name = "blue"
endpoint = "tok"
model = "mlp:1"
"#
    );
    let mut boxes: Vec<Harness> = (0..2).map(|_| bare_with(&declarations)).collect();
    for h in &mut boxes {
        h.write_file("keys.json", &keys(K1, K2));
        h.write_file("token.secret", &format!("{secret}\n"));
        h.start();
    }
    for h in &boxes {
        assert_eq!(h.keys("line"), (K1.to_string(), K2.to_string()));
        assert_eq!(score(h, "line", K1).await, 200);
        assert_eq!(score(h, "line", K2).await, 200);
        let (code, err) =
            h.cli_err(&["endpoint", "regenerate-keys", "-n", "line", "--key-type", "primary"]);
        assert_ne!(code, 0);
        assert!(err.contains("keys_file") && !err.contains("esk_"), "{err}");
    }
    // A token issued by one box is accepted by the other.
    let grant = boxes[0].cli_json(&["endpoint", "get-credentials", "-n", "tok"]);
    let token = grant["accessToken"].as_str().unwrap();
    assert_eq!(score(&boxes[1], "tok", token).await, 200);

    // Rotation: a new primary in the file, then reload.
    let h = &boxes[0];
    h.write_file("keys.json", &keys(K3, K2));
    let report = h.reload();
    assert_eq!(report["ok"], true, "{report}");
    assert!(applied(&report).iter().any(|l| l.contains("keys from keys_file")), "{report}");
    assert_eq!(score(h, "line", K1).await, 401, "the old primary stops at once");
    assert_eq!(score(h, "line", K3).await, 200);
    assert_eq!(score(h, "line", K2).await, 200, "the secondary kept working");
    assert!(!report.to_string().contains("esk_"), "no key in the report: {report}");

    // A broken keys file is refused and the keys in force stay.
    h.write_file("keys.json", "{\"primaryKey\": \"esk_short\", \"secondaryKey\": \"esk_x\"}");
    let report = h.reload();
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("keys_file") && error.contains("primaryKey is not an edgeserve key"),
        "{error}"
    );
    assert!(!error.contains("esk_short"), "{error}");
    assert_eq!(score(h, "line", K3).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reloaded_deployment_update_fails_no_request() {
    let mut h = bare_with(&line_declarations());
    h.start();
    let key = h.keys("line").0;
    let client = h.client();
    let url = h.score_url("line");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({"data": [[1.0, 2.0, 3.0, 4.0]]}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => ok += 1,
                    Ok(r) => failed.push(r.status().to_string()),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A new model version: the new deployment loads before the old one retires.
    h.edit_config(|c| {
        c.replace("model = \"mlp:1\"", "model = \"mlp:2\"")
            .replace("version = \"1\"", "version = \"2\"")
    });
    let report = tokio::task::block_in_place(|| h.reload());
    assert_eq!(report["ok"], true, "{report}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.await.unwrap();
    println!("reload under load: {ok} requests served, {} failed", failed.len());
    assert!(ok > 10, "the load ran ({ok} requests)");
    assert!(failed.is_empty(), "failed requests during the reload: {failed:?}");
    let blue = h.cli_json(&["deployment", "show", "-n", "blue", "-e", "line"]);
    assert_eq!(blue["model"], "mlp:2");
    // mlp:1 is no longer declared nor used: deleted.
    assert!(applied(&report).iter().any(|l| l.starts_with("delete model mlp:1")), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_turns_readiness_off_while_scoring_goes_on() {
    let mut h = bare_with(&line_declarations());
    h.edit_config(|c| c.replace("drain_grace_ms = 0", "drain_grace_ms = 3000"));
    h.start();
    let key = h.keys("line").0;
    let ready = |h: &Harness| {
        let client = h.client();
        let url = h.url("/v2/health/ready");
        async move { client.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
    };
    assert_eq!(ready(&h).await, 200);
    let drained = h.cli_json(&["drain"]);
    assert_eq!(drained["draining"], true, "{drained}");
    assert_eq!(ready(&h).await, 503);
    assert_eq!(score(&h, "line", &key).await, 200, "draining still serves");
    // HTTP/1.1 clients are told to take their next request elsewhere.
    let h1 = h.client_builder().http1_only().build().unwrap();
    let resp = h1.get(h.url("/v2/health/live")).send().await.unwrap();
    assert_eq!(resp.headers().get("connection").map(|v| v.to_str().unwrap()), Some("close"));
    assert_eq!(h.cli_json(&["status"])["draining"], true);
    assert_eq!(h.cli_json(&["drain", "--cancel"])["draining"], false);
    assert_eq!(ready(&h).await, 200);

    // SIGTERM: readiness 503 first, scoring goes on through the grace, then a clean exit.
    h.signal(nix::sys::signal::Signal::SIGTERM);
    let started = std::time::Instant::now();
    while ready(&h).await != 503 {
        assert!(started.elapsed() < Duration::from_secs(2), "readiness never turned 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(score(&h, "line", &key).await, 200, "still serving during the grace");
    h.wait_for_log("stopped", Duration::from_secs(20));
    assert!(started.elapsed() >= Duration::from_millis(2500), "the grace was kept");
    h.stop();
}
