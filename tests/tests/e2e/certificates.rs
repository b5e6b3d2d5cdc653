//! The certificates operators have (issue 16, SPEC §3): wildcard SANs (case H025), chain files
//! in any order (H027), IP-address cnames, the scoring URI following the cname in force (H029),
//! key encodings the provider cannot use named with their fix, and the PEM a client must trust.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use edgeserve_tests::{run_to_exit, Harness, LeafOptions};
use serde_json::{json, Value};

/// Writes the served `cert.pem`/`key.pem` and sets `tls.cname`.
fn install(h: &Harness, cert: &str, key: &str, cname: &str) {
    std::fs::write(h.dir.path().join("tls/cert.pem"), cert).unwrap();
    std::fs::write(h.dir.path().join("tls/key.pem"), key).unwrap();
    h.edit_config(|c| {
        let start = c.find("cname = \"").unwrap();
        let end = start + c[start..].find('\n').unwrap();
        format!("{}cname = \"{cname}\"{}", &c[..start], &c[end..])
    });
}

/// `edgeserved --check-config`: (success, stderr).
fn check(h: &Harness) -> (bool, String) {
    let mut cmd = h.edgeserved();
    cmd.arg("--check-config");
    let out = run_to_exit(cmd, Duration::from_secs(30));
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
}

/// A client trusting the harness CA that resolves `host` to the daemon's TLS listener.
fn client_for(h: &Harness, host: &str) -> reqwest::Client {
    let addr: SocketAddr = h.daemon().tls;
    h.client_builder().resolve(host, addr).build().unwrap()
}

async fn score(client: &reqwest::Client, uri: &str, key: &str) -> reqwest::StatusCode {
    client
        .post(uri)
        .bearer_auth(key)
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{uri}: {e:?}"))
        .status()
}

fn scoring_uri(h: &Harness, endpoint: &str) -> String {
    let v: Value = h.cli_json(&["endpoint", "show", "-n", endpoint]);
    v["scoringUri"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wildcard_certificate_serves_a_box_name_as_clients_match_it() {
    let mut h = Harness::new();
    let (cert, key) = h.pki.leaf(&["*.edge.test"], LeafOptions::default());
    // Names a TLS client would refuse are refused, each with what the certificate does cover.
    for cname in ["a.b.edge.test", "edge.test", "box1.other.test"] {
        install(&h, &cert, &key, cname);
        let (ok, err) = check(&h);
        assert!(!ok, "{cname} accepted");
        assert!(err.contains(&format!("does not cover cname {cname}")), "{err}");
        assert!(err.contains("DNS:*.edge.test"), "{err}");
    }
    install(&h, &cert, &key, "*.edge.test");
    let (ok, err) = check(&h);
    assert!(!ok && err.contains("is not a host name"), "{err}");

    install(&h, &cert, &key, "box1.edge.test");
    let (ok, err) = check(&h);
    assert!(ok, "{err}");
    h.start();
    let (k, _) = h.keys("mlp");
    let uri = scoring_uri(&h, "mlp");
    assert!(uri.starts_with("https://box1.edge.test:"), "{uri}");
    // A client verifying the name in the scoring URI against the wildcard certificate.
    let client = client_for(&h, "box1.edge.test");
    assert_eq!(score(&client, &uri, &k).await, 200);

    // `tls set` matches the same way.
    let cert_path = h.write_file("wild.pem", &cert);
    let key_path = h.write_file("wild.key", &key);
    let set = |cname: &str| {
        h.cli(&["tls", "set", "--cert-pem", &cert_path, "--key-pem", &key_path, "--cname", cname])
    };
    let out = tokio::task::block_in_place(|| set("*.edge.test"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a host name"));
    let out = tokio::task::block_in_place(|| set("a.b.edge.test"));
    assert!(!out.status.success());
    let out = tokio::task::block_in_place(|| set("box2.edge.test"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = tokio::task::block_in_place(|| h.cli_json(&["tls", "show"]));
    assert_eq!(shown["cname"], "box2.edge.test");
    assert_eq!(shown["sans"], json!(["*.edge.test"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chain_file_in_any_order_is_served_leaf_first() {
    let mut h = Harness::new();
    let (leaf, intermediate, key) = h.pki.leaf_via_intermediate(&["localhost"]);
    let root = h.pki.ca_pem.clone();
    // The case of H027: intermediate first, then the leaf; and a root-first bundle.
    for (name, bundle) in [
        ("intermediate, leaf", format!("{intermediate}{leaf}")),
        ("root, intermediate, leaf", format!("{root}{intermediate}{leaf}")),
        ("leaf, root, intermediate", format!("{leaf}{root}{intermediate}")),
    ] {
        install(&h, &bundle, &key, "localhost");
        let (ok, err) = check(&h);
        assert!(ok, "{name}: {err}");
        assert!(err.contains("the certificate chain is out of order"), "{name}: {err}");
        assert!(!err.contains("does not match"), "{name}: {err}");
    }
    install(&h, &format!("{intermediate}{leaf}"), &key, "localhost");
    h.start();
    let shown: Value = h.cli_json(&["tls", "show"]);
    assert_eq!(shown["chainLength"], 2);
    assert!(shown["subject"].as_str().unwrap().contains("localhost"), "{shown}");
    // A client that trusts only the root verifies: the intermediate is served after the leaf.
    let (k, _) = h.keys("mlp");
    assert_eq!(score(&h.client(), &h.score_url("mlp"), &k).await, 200);
    h.stop();

    // A key that matches no certificate of the file is named as such.
    let (_, other_key) = h.pki.leaf(&["localhost"], LeafOptions::default());
    install(&h, &format!("{intermediate}{leaf}"), &other_key, "localhost");
    let (ok, err) = check(&h);
    assert!(!ok, "{err}");
    assert!(err.contains("matches none of the 2 certificate(s)"), "{err}");
    assert!(err.contains("openssl pkey -pubout"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ip_address_cname_matches_the_ip_sans() {
    let mut h = Harness::new();
    let (cert, key) = h.pki.leaf(&["127.0.0.1", "edge.test"], LeafOptions::default());
    install(&h, &cert, &key, "127.0.0.2");
    let (ok, err) = check(&h);
    assert!(!ok && err.contains("IP:127.0.0.1"), "{err}");
    let (dns_only, dns_key) = h.pki.leaf(&["edge.test"], LeafOptions::default());
    install(&h, &dns_only, &dns_key, "127.0.0.1");
    let (ok, err) = check(&h);
    assert!(!ok && err.contains("does not cover cname 127.0.0.1"), "{err}");

    install(&h, &cert, &key, "127.0.0.1");
    let (ok, err) = check(&h);
    assert!(ok, "{err}");
    h.start();
    let uri = scoring_uri(&h, "mlp");
    let port = h.daemon().tls.port();
    assert_eq!(uri, format!("https://127.0.0.1:{port}/api/v1/service/mlp/score"));
    let (k, _) = h.keys("mlp");
    // The URI as shown, verified against the IP SAN by a client with no name resolution.
    assert_eq!(score(&h.client(), &uri, &k).await, 200);
    let shown: Value = h.cli_json(&["tls", "show"]);
    assert_eq!(shown["ipSans"], json!(["127.0.0.1"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scoring_uri_follows_the_cname_in_force() {
    let mut h = Harness::new();
    h.start();
    let port = h.daemon().tls.port();
    assert!(scoring_uri(&h, "mlp").starts_with(&format!("https://localhost:{port}/")));
    let (cert, key) = h.pki.leaf(&["edge-box.test"], LeafOptions::default());
    let cert_path = h.write_file("eb.pem", &cert);
    let key_path = h.write_file("eb.key", &key);
    h.cli_json(&[
        "tls",
        "set",
        "--cert-pem",
        &cert_path,
        "--key-pem",
        &key_path,
        "--cname",
        "edge-box.test",
    ]);
    let expected = format!("https://edge-box.test:{port}/api/v1/service/mlp/score");
    assert_eq!(scoring_uri(&h, "mlp"), expected);
    h.cli_json(&["endpoint", "create", "--name", "fresh"]);
    let fresh = scoring_uri(&h, "fresh");
    assert!(fresh.starts_with(&format!("https://edge-box.test:{port}/")), "{fresh}");
    let listed: Value = h.cli_json(&["endpoint", "list"]);
    for e in listed.as_array().unwrap() {
        assert!(e["scoringUri"].as_str().unwrap().starts_with("https://edge-box.test:"), "{e}");
    }
    // The installed cname outlives a restart (the port may change with it).
    h.stop();
    h.start();
    let port = h.daemon().tls.port();
    assert_eq!(
        scoring_uri(&h, "mlp"),
        format!("https://edge-box.test:{port}/api/v1/service/mlp/score")
    );
    let (k, _) = h.keys("mlp");
    let client = client_for(&h, "edge-box.test");
    assert_eq!(score(&client, &scoring_uri(&h, "mlp"), &k).await, 200);
}

/// Runs openssl with `args` in `dir`, failing the test if it fails.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A self-signed certificate for localhost made by openssl from the key in `key`.
fn self_signed_for(dir: &std::path::Path, key: &str, cert: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            key,
            "-out",
            cert,
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
    );
}

#[test]
fn unsupported_key_encodings_are_named_with_the_command_that_converts_them() {
    let h = Harness::new();
    let dir = h.dir.path();
    // An EC key with explicit curve parameters (what some HSM and Java exports write).
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-param_enc",
            "explicit",
            "-out",
            "explicit.key",
        ],
    );
    // The certificate was issued for the key (a CA writes a named curve in it).
    openssl(dir, &["ec", "-in", "explicit.key", "-param_enc", "named_curve", "-out", "named.key"]);
    self_signed_for(dir, "named.key", "explicit.pem");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    install(&h, &read("explicit.pem"), &read("explicit.key"), "localhost");
    let (ok, err) = check(&h);
    assert!(!ok, "{err}");
    assert!(err.contains("an EC key with explicit curve parameters"), "{err}");
    assert!(err.contains("-param_enc named_curve"), "{err}");
    // Said once: no "X: X" from an error chain that repeats its cause.
    assert_eq!(err.matches("explicit curve parameters").count(), 1, "{err}");

    // The suggested command's output is served.
    install(&h, &read("explicit.pem"), &read("named.key"), "localhost");
    let (ok, err) = check(&h);
    assert!(ok, "{err}");

    // A certificate issued from the explicit key's CSR carries the explicit parameters too:
    // named as such, since converting the key alone cannot make it match.
    self_signed_for(dir, "explicit.key", "explicit-cert.pem");
    install(&h, &read("explicit-cert.pem"), &read("named.key"), "localhost");
    let (ok, err) = check(&h);
    assert!(!ok, "{err}");
    assert!(err.contains("carries its EC public key with explicit curve parameters"), "{err}");
    assert!(err.contains("reissued from a CSR"), "{err}");

    // A curve the provider cannot sign with.
    openssl(dir, &["ecparam", "-name", "secp521r1", "-genkey", "-noout", "-out", "p521.key"]);
    self_signed_for(dir, "p521.key", "p521.pem");
    install(&h, &read("p521.pem"), &read("p521.key"), "localhost");
    let (ok, err) = check(&h);
    assert!(!ok && err.contains("an EC key on curve P-521"), "{err}");

    // Every TLS refusal at start is printed once, not as "X: X".
    let (cert, _) = h.pki.leaf(&["other.test"], LeafOptions::default());
    install(&h, &cert, &h.pki.key_pem, "localhost");
    let (ok, err) = check(&h);
    assert!(!ok);
    assert_eq!(err.matches("matches none of").count(), 1, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_show_prints_the_pem_a_client_must_trust() {
    let mut h = Harness::new();
    let (leaf, intermediate, key) = h.pki.leaf_via_intermediate(&["localhost"]);
    let root = h.pki.ca_pem.clone();
    install(&h, &format!("{leaf}{intermediate}{root}"), &key, "localhost");
    h.start();
    let out = h.cli(&["tls", "show", "--ca-pem"]);
    assert!(out.status.success());
    let pem = String::from_utf8(out.stdout).unwrap();
    let normalise = |s: &str| s.replace("\r\n", "\n").trim().to_string();
    assert_eq!(normalise(&pem), normalise(&root), "the root of the served chain");
    // curl on "another machine": trusts only what `--ca-pem` printed.
    let trust = h.write_file("trust.pem", &pem);
    let (k, _) = h.keys("mlp");
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "--cacert",
            &trust,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .args(["-H", &format!("Authorization: Bearer {k}"), "-H", "Content-Type: application/json"])
        .args(["-d", r#"{"data": [[1, 2, 3, 4]]}"#, &h.score_url("mlp")])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
