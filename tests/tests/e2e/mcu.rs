//! The embedded-tls client (tests/examples/mcu_client.rs) scores against the real daemon.

use std::process::{Command, Output};

use edgeserve_tests::{bin_dir, Harness};
use serde_json::Value;

fn mcu_client(
    h: &Harness,
    server_name: &str,
    ca: &str,
    endpoint: &str,
    key: &str,
    body: &str,
) -> Output {
    let client = bin_dir().join("examples/mcu_client");
    assert!(
        client.exists(),
        "{} is missing: run `cargo build --workspace --examples`",
        client.display()
    );
    Command::new(client)
        .args([&h.daemon().tls.to_string(), server_name, ca, endpoint, key, body])
        .output()
        .unwrap()
}

#[test]
fn embedded_tls_client_scores_with_certificate_verification() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let ca = h.dir.path().join("tls/ca.pem").display().to_string();

    let out = mcu_client(&h, "localhost", &ca, "mlp", &key, r#"{"data": [[0.5, 0.1, -0.3, 2.0]]}"#);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("HTTP/1.1 200 OK"), "{stdout}");
    let body: Value = serde_json::from_str(stdout.lines().nth(1).unwrap()).unwrap();
    assert_eq!(body["result"][0].as_array().unwrap().len(), 3);

    // A response far larger than the client's 4.3 KiB record buffer arrives in 4 KiB records.
    let rows = vec!["[0.5, 0.1, -0.3, 2.0]"; 600].join(",");
    let out = mcu_client(&h, "localhost", &ca, "mlp", &key, &format!("{{\"data\": [{rows}]}}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.len() > 16 * 1024, "the response should exceed one 16 KiB TLS record");
    let body: Value = serde_json::from_str(stdout.lines().nth(1).unwrap()).unwrap();
    assert_eq!(body["result"].as_array().unwrap().len(), 600);

    // The key is still required.
    let out = mcu_client(&h, "localhost", &ca, "mlp", "esk_wrong", r#"{"data": [[1, 2, 3, 4]]}"#);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("HTTP/1.1 401"));

    // The certificate is verified: wrong server name, or a CA that did not sign it, fail.
    let out = mcu_client(&h, "edge-box.local", &ca, "mlp", &key, r#"{"data": [[1, 2, 3, 4]]}"#);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLS handshake"));
    let stranger = edgeserve_tests::Pki::generate(&["localhost"]);
    let other_ca = h.write_file("other-ca.pem", &stranger.ca_pem);
    let out = mcu_client(&h, "localhost", &other_ca, "mlp", &key, r#"{"data": [[1, 2, 3, 4]]}"#);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLS handshake"));
}
