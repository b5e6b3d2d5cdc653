//! TLS lifecycle (issue 7): material checks, hot reload, protocol policy, mutual TLS, and
//! transports per target.

use std::process::Command;
use std::time::Duration;

use edgeserve_tests::{run_to_exit, Harness, LeafOptions};
use serde_json::{json, Value};
use sha2::Digest;

/// `edgeserved --check-config` with `cert.pem`/`key.pem` replaced; returns (success, stderr).
fn check_with(h: &Harness, cert: &str, key: &str) -> (bool, String) {
    std::fs::write(h.dir.path().join("tls/cert.pem"), cert).unwrap();
    std::fs::write(h.dir.path().join("tls/key.pem"), key).unwrap();
    let mut cmd = h.edgeserved();
    cmd.arg("--check-config");
    let out = run_to_exit(cmd, Duration::from_secs(30));
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn every_bad_material_case_has_its_own_message() {
    let h = Harness::new();
    let key = h.pki.key_pem.clone();
    let (ok, err) = check_with(&h, "", &key);
    assert!(!ok && err.contains("holds no PEM certificate"), "{err}");
    let (ok, err) = check_with(&h, "hello, not a certificate", &key);
    assert!(!ok && err.contains("holds no PEM certificate"), "{err}");
    let (ok, err) = check_with(&h, &h.pki.cert_pem, "");
    assert!(!ok && err.contains("holds no PEM private key"), "{err}");

    let (cert, key) = h.pki.leaf(
        &["localhost"],
        LeafOptions {
            not_before_days: Some(-400),
            not_after_days: Some(-30),
            ..Default::default()
        },
    );
    let (ok, err) = check_with(&h, &cert, &key);
    assert!(!ok && err.contains("the certificate expired on"), "{err}");
    let (cert, key) = h.pki.leaf(
        &["localhost"],
        LeafOptions { not_before_days: Some(30), not_after_days: Some(400), ..Default::default() },
    );
    let (ok, err) = check_with(&h, &cert, &key);
    assert!(!ok && err.contains("the certificate is not valid before"), "{err}");
    let (cert, _) = h.pki.leaf(&["localhost"], LeafOptions::default());
    let (ok, err) = check_with(&h, &cert, &h.pki.key_pem);
    assert!(!ok && err.contains("matches none of the 1 certificate(s)"), "{err}");
    let (cert, key) = h.pki.leaf(&["other.local"], LeafOptions::default());
    let (ok, err) = check_with(&h, &cert, &key);
    assert!(
        !ok && err
            .contains("the certificate does not cover cname localhost (it names DNS:other.local)"),
        "{err}"
    );

    // Accepted, with warnings: self-signed, expiring soon, chain out of order, issuer missing.
    let (cert, key) =
        h.pki.leaf(&["localhost"], LeafOptions { self_signed: true, ..Default::default() });
    let (ok, err) = check_with(&h, &cert, &key);
    assert!(ok && err.contains("self-signed: for development only"), "{err}");
    let (cert, key) =
        h.pki.leaf(&["localhost"], LeafOptions { not_after_days: Some(10), ..Default::default() });
    let (ok, err) = check_with(&h, &cert, &key);
    assert!(ok && err.contains("expires within 30 days"), "{err}");
    let (cert, key) = h.pki.leaf(&["localhost"], LeafOptions::default());
    let (stranger, _) =
        h.pki.leaf(&["stranger.local"], LeafOptions { self_signed: true, ..Default::default() });
    let (ok, err) = check_with(&h, &format!("{cert}{stranger}"), &key);
    assert!(ok && err.contains("not in the leaf's chain; they are not served"), "{err}");
    let (ok, err) = check_with(&h, &cert, &key);
    assert!(ok && err.contains("the chain's issuer is missing"), "{err}");
}

fn fingerprint(resp: &reqwest::Response) -> String {
    let info = resp.extensions().get::<reqwest::tls::TlsInfo>().expect("tls info");
    let der = info.peer_certificate().expect("peer certificate");
    sha2::Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect()
}

async fn score_fp(h: &Harness, client: &reqwest::Client, key: &str) -> String {
    let resp = client
        .post(h.score_url("mlp"))
        .bearer_auth(key)
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    fingerprint(&resp)
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_set_swaps_the_certificate_without_dropping_connections() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let before: Value = h.cli_json(&["tls", "show"]);
    assert_eq!(before["source"]["origin"], "config");
    assert_eq!(before["sans"], json!(["localhost"]));
    for field in ["subject", "issuer", "notAfter", "fingerprintSha256"] {
        assert!(before.get(field).is_some(), "tls show lacks {field}");
    }
    let old_fp = before["fingerprintSha256"].as_str().unwrap().to_string();

    // One client keeps its connection open across the swap.
    let kept = h.client_builder().tls_info(true).build().unwrap();
    assert_eq!(score_fp(&h, &kept, &key).await, old_fp);

    let (cert, new_key) = h.pki.leaf(&["localhost", "edge-box.local"], LeafOptions::default());
    let cert_path = h.write_file("new-cert.pem", &cert);
    let key_path = h.write_file("new-key.pem", &new_key);
    let after = tokio::task::block_in_place(|| {
        h.cli_json(&[
            "tls",
            "set",
            "--cert-pem",
            &cert_path,
            "--key-pem",
            &key_path,
            "--cname",
            "edge-box.local",
        ])
    });
    let new_fp = after["fingerprintSha256"].as_str().unwrap().to_string();
    assert_ne!(new_fp, old_fp);
    assert_eq!(after["source"]["origin"], "control-plane");

    for _ in 0..5 {
        assert_eq!(
            score_fp(&h, &kept, &key).await,
            old_fp,
            "the open connection keeps its session"
        );
    }
    let fresh = h.client_builder().tls_info(true).build().unwrap();
    assert_eq!(
        score_fp(&h, &fresh, &key).await,
        new_fp,
        "a new connection sees the new certificate"
    );

    // A failed swap (key of another certificate) changes nothing.
    let (_, wrong_key) = h.pki.leaf(&["localhost"], LeafOptions::default());
    let wrong_key_path = h.write_file("wrong-key.pem", &wrong_key);
    let (code, err) = tokio::task::block_in_place(|| {
        h.cli_err(&[
            "tls",
            "set",
            "--cert-pem",
            &cert_path,
            "--key-pem",
            &wrong_key_path,
            "--cname",
            "localhost",
        ])
    });
    assert_eq!(code, 1);
    assert!(err.contains("matches none of the 1 certificate(s)"), "{err}");
    let fresh = h.client_builder().tls_info(true).build().unwrap();
    assert_eq!(
        score_fp(&h, &fresh, &key).await,
        new_fp,
        "the failed swap left the served certificate alone"
    );

    // The installed certificate survives a restart.
    h.stop();
    h.start();
    let shown = h.cli_json(&["tls", "show"]);
    assert_eq!(shown["fingerprintSha256"], new_fp.as_str());
    assert_eq!(shown["cname"], "edge-box.local");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_files_and_a_bad_file_keeps_the_old_certificate() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let old_fp = h.cli_json(&["tls", "show"])["fingerprintSha256"].as_str().unwrap().to_string();

    // A broken file on SIGHUP: logged, the old certificate still served.
    std::fs::write(h.dir.path().join("tls/cert.pem"), "garbage").unwrap();
    h.signal(nix::sys::signal::Signal::SIGHUP);
    h.wait_for_log(
        "TLS reload failed; the previous certificate is still served",
        Duration::from_secs(10),
    );
    let client = h.client_builder().tls_info(true).build().unwrap();
    assert_eq!(score_fp(&h, &client, &key).await, old_fp);

    let (cert, new_key) = h.pki.leaf(&["localhost"], LeafOptions::default());
    std::fs::write(h.dir.path().join("tls/key.pem"), &new_key).unwrap();
    std::fs::write(h.dir.path().join("tls/cert.pem"), &cert).unwrap();
    h.signal(nix::sys::signal::Signal::SIGHUP);
    h.wait_for_log("TLS certificate loaded", Duration::from_secs(10));
    let new_fp = h.cli_json(&["tls", "show"])["fingerprintSha256"].as_str().unwrap().to_string();
    assert_ne!(new_fp, old_fp);
    let client = h.client_builder().tls_info(true).build().unwrap();
    assert_eq!(score_fp(&h, &client, &key).await, new_fp);
}

#[test]
fn tls_1_1_is_refused_and_1_2_and_1_3_are_served() {
    let mut h = Harness::new();
    h.start();
    let addr = h.daemon().tls.to_string();
    let s_client = |flag: &str| {
        Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &addr,
                "-servername",
                "localhost",
                flag,
                "-cipher",
                "DEFAULT:@SECLEVEL=0",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    for old in ["-tls1", "-tls1_1"] {
        let out = s_client(old);
        assert!(
            !out.status.success(),
            "{old} handshake succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        // The server refuses it with an alert (not the client declining to try).
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("alert"), "{old}: {err}");
    }
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let out = s_client(flag);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(&format!("Protocol  : {version}"))
                || text.contains(&format!("New, {version}")),
            "{flag}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_requires_a_client_certificate_and_logs_its_cn() {
    let mut h = Harness::new();
    h.edit_config(|t| {
        t.replace(
            "cname = \"localhost\"",
            &format!(
                "cname = \"localhost\"\nclient_ca_pem = \"{}/tls/ca.pem\"",
                h.dir.path().display()
            ),
        )
    });
    h.start();
    let (key, _) = h.keys("mlp");
    let body = json!({"data": [[1, 2, 3, 4]]});
    let anonymous = h.client().post(h.score_url("mlp")).bearer_auth(&key).json(&body).send().await;
    assert!(anonymous.is_err(), "a client without a certificate must not get through");

    let identity =
        reqwest::Identity::from_pem(h.pki.client_identity("device-17").as_bytes()).unwrap();
    let client = h.client_builder().identity(identity).build().unwrap();
    let resp = client.post(h.score_url("mlp")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    h.wait_for_log("cert:device-17", Duration::from_secs(5));

    // A certificate from another CA is refused.
    let stranger = edgeserve_tests::Pki::generate(&["localhost"]);
    let identity =
        reqwest::Identity::from_pem(stranger.client_identity("intruder").as_bytes()).unwrap();
    let client = h.client_builder().identity(identity).build().unwrap();
    assert!(client.post(h.score_url("mlp")).bearer_auth(&key).json(&body).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_answer_only_on_their_transport() {
    let mut h = Harness::new();
    h.start();
    let sensor = h.cli_json(&["endpoint", "create", "--name", "sensor", "--transport", "plain"]);
    assert_eq!(sensor["transport"], "plain");
    let plain_port = h.daemon().plain.port();
    assert_eq!(
        sensor["scoringUri"],
        format!("http://localhost:{plain_port}/api/v1/service/sensor/score")
    );
    let (sensor_key, _) = h.keys("sensor");
    let (mlp_key, _) = h.keys("mlp");
    let body = json!({"data": [[1, 2, 3, 4]]});
    let plain = reqwest::Client::new();
    let plain_url = |e: &str| format!("http://{}/api/v1/service/{e}/score", h.daemon().plain);

    // The plain endpoint exists on the plain listener (no deployment yet: 503; no key: 401)...
    let resp =
        plain.post(plain_url("sensor")).bearer_auth(&sensor_key).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let resp = plain.post(plain_url("sensor")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    // ...and is the same 404 as an unknown endpoint on the TLS listener.
    let tls = h.client();
    let on_tls: Value = tls
        .post(h.score_url("sensor"))
        .bearer_auth(&sensor_key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let unknown: Value = tls
        .post(h.score_url("nosuch"))
        .bearer_auth(&sensor_key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(on_tls["error"]["code"], "EndpointNotFound");
    assert_eq!(on_tls["error"]["code"], unknown["error"]["code"]);
    // A TLS endpoint's key is never taken in clear text.
    let resp = plain.post(plain_url("mlp")).bearer_auth(&mlp_key).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    // CPU deployments are refused on the plain endpoint.
    let (code, err) = tokio::task::block_in_place(|| {
        h.cli_err(&[
            "deployment",
            "create",
            "--name",
            "blue",
            "--endpoint",
            "sensor",
            "--model",
            "mlp:1",
            "--target",
            "cpu",
        ])
    });
    assert_eq!(code, 1);
    assert!(err.contains("target cpu is served over tls but endpoint sensor uses plain"), "{err}");
}

#[test]
fn tls_sessions_resume() {
    let mut h = Harness::new();
    h.start();
    let addr = h.daemon().tls.to_string();
    let session = h.dir.path().join("session.pem");
    let s_client = |extra: &[&str]| {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &addr, "-servername", "localhost", "-tls1_2"])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = s_client(&["-sess_out", session.to_str().unwrap()]);
    assert!(first.contains("New, TLSv1.2"), "{first}");
    let second = s_client(&["-sess_in", session.to_str().unwrap()]);
    assert!(second.contains("Reused, TLSv1.2"), "{second}");
}
