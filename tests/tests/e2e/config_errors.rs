//! Bad configuration and TLS material stop `edgeserved` with a message naming the problem.

use std::process::Command;
use std::time::Duration;

use edgeserve_tests::{run_to_exit, Harness};

/// Runs the daemon (not just --check-config) and returns its exit status and stderr.
fn start_fails(h: &Harness, cmd: Option<Command>) -> String {
    let out = run_to_exit(cmd.unwrap_or_else(|| h.edgeserved()), Duration::from_secs(30));
    assert!(!out.status.success(), "edgeserved should have refused to start");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn good_config_checks_ok() {
    let h = Harness::new();
    let mut cmd = h.edgeserved();
    cmd.arg("--check-config");
    let out = run_to_exit(cmd, Duration::from_secs(30));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "configuration OK");
}

#[test]
fn unknown_key_is_named() {
    let h = Harness::new();
    h.edit_config(|t| {
        t.replace("max_body_bytes = 1048576", "max_body_bytes = 1048576\nmax_body_byte = 3")
    });
    let err = start_fails(&h, None);
    assert!(err.contains("max_body_byte"), "{err}");
    let mut check = h.edgeserved();
    check.arg("--check-config");
    let err = start_fails(&h, Some(check));
    assert!(err.contains("max_body_byte"), "{err}");
}

#[test]
fn bad_values_are_named_with_their_key() {
    let h = Harness::new();
    h.edit_config(|t| t.replacen("listen = [\"127.0.0.1:0\"]", "listen = [\"nowhere\"]", 1));
    let err = start_fails(&h, None);
    assert!(err.contains("config key tls.listen: \"nowhere\" is not an IP:port address"), "{err}");

    let h = Harness::new();
    let mut cmd = h.edgeserved();
    cmd.env("EDGESERVE_LIMITS__REQUEST_TIMEOUT_MS", "soon");
    let err = start_fails(&h, Some(cmd));
    assert!(err.contains("request_timeout_ms"), "{err}");

    let h = Harness::new();
    h.edit_config(|t| t.replacen("traffic = { blue = 100 }", "traffic = { blue = 90 }", 1));
    let err = start_fails(&h, None);
    assert!(err.contains("endpoint[0].traffic: traffic percentages sum to 90"), "{err}");
}

#[test]
fn env_override_applies() {
    let h = Harness::new();
    let mut cmd = h.edgeserved();
    cmd.env("EDGESERVE_LIMITS__MAX_CONNECTIONS", "0");
    let err = start_fails(&h, Some(cmd));
    assert!(err.contains("config key limits.max_connections: must be greater than 0"), "{err}");
}

#[test]
fn missing_cert_file_is_named() {
    let h = Harness::new();
    let cert = h.dir.path().join("tls/cert.pem");
    std::fs::remove_file(&cert).unwrap();
    let err = start_fails(&h, None);
    assert!(err.contains(&format!("cannot read {}", cert.display())), "{err}");
}

#[test]
fn encrypted_private_key_is_refused() {
    let h = Harness::new();
    let key = h.dir.path().join("tls/key.pem");
    let enc = h.dir.path().join("tls/key.enc.pem");
    let status = Command::new("openssl")
        .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", "pass:hunter2", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&enc)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::rename(&enc, &key).unwrap();
    let err = start_fails(&h, None);
    assert!(err.contains("is encrypted; the key must be password-free"), "{err}");
    assert!(!err.contains("hunter2"));
}

#[test]
fn key_of_another_certificate_is_refused() {
    let h = Harness::new();
    let other = edgeserve_tests::Pki::generate(&["localhost"]);
    std::fs::write(h.dir.path().join("tls/key.pem"), &other.key_pem).unwrap();
    let err = start_fails(&h, None);
    assert!(err.contains("matches none of the 1 certificate(s)"), "{err}");
}

#[test]
fn cname_must_be_in_the_certificate() {
    let h = Harness::new();
    h.edit_config(|t| t.replace("cname = \"localhost\"", "cname = \"edge-box.local\""));
    let err = start_fails(&h, None);
    assert!(err.contains("does not cover cname edge-box.local (it names DNS:localhost)"), "{err}");
    // Said once, not repeated by the error chain ("TLS: X: X").
    assert_eq!(err.matches("does not cover cname").count(), 1, "{err}");
}

#[test]
fn a_model_that_cannot_load_fails_only_its_deployment() {
    let mut h = Harness::with_extra_config(&format!(
        r#"
[[model]]
name = "broken"
version = "1"
path = "{}/unsupported"
[[endpoint]]
name = "broken"
traffic = {{ blue = 100 }}
[[deployment]]
name = "blue"
endpoint = "broken"
model = "broken:1"
"#,
        edgeserve_tests::models_dir().display()
    ));
    h.start();
    let status = h.cli_json(&["status"]);
    assert_eq!(status["ready"], false);
    let logs = h.logs();
    assert!(
        logs.contains("unsupported op Frobnicate at node \\\"attn/3\\\"")
            || logs.contains("unsupported op Frobnicate at node \"attn/3\""),
        "{logs}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (key, _) = h.keys("broken");
        let resp = h
            .client()
            .post(h.score_url("broken"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"data": [[1, 2, 3, 4]]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 503);
        assert!(resp.headers().contains_key("retry-after"));
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "DeploymentNotReady");
        assert!(body["error"]["message"].as_str().unwrap().contains("unsupported op Frobnicate"));
        let (key, _) = h.keys("mlp");
        let resp = h
            .client()
            .post(h.score_url("mlp"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"data": [[1, 2, 3, 4]]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "other deployments keep serving");
    });
}
