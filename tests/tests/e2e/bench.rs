//! `edgeserve bench` against a real daemon: counts add up, closed and open loop, seed, OIP JSON
//! and OIP binary bodies, HTTP/1.1 and h2, credentials from the socket, flags or the
//! environment, and bad input named (no timing assertions: the machine is shared).

use std::process::{Command, Output};

use edgeserve_tests::{bin, Harness};
use serde_json::Value;

fn bench(h: &Harness, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin("edgeserve"))
        .arg("--socket")
        .arg(h.socket())
        .arg("bench")
        .args(args)
        .env_remove("EDGESERVE_KEY")
        .env_remove("EDGESERVE_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Counts that must agree in every report.
fn consistent(r: &Value) {
    let requests = r["requests"].as_u64().unwrap();
    let ok = r["ok"].as_u64().unwrap();
    let errors = r["errors"]["total"].as_u64().unwrap();
    assert_eq!(ok + errors, requests, "{r}");
    let by_status: u64 =
        r["errors"]["byStatus"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    let transport: u64 =
        r["errors"]["transport"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(by_status + transport, errors, "{r}");
    let l = &r["latencyMicros"];
    if requests > transport {
        let (p50, p99, max) =
            (l["p50"].as_u64().unwrap(), l["p99"].as_u64().unwrap(), l["max"].as_u64().unwrap());
        assert!(p50 > 0 && p50 <= p99 && p99 <= max, "{r}");
    }
}

fn no_secret(out: &Output, key: &str) {
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(key), "the key was printed");
    }
}

#[test]
fn closed_loop_with_what_the_socket_knows() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let req = h.write_file("seed.json", r#"{"data": [[0.1, 0.2, 0.3, 0.4]]}"#);
    let ca = h.dir.path().join("tls/ca.pem").display().to_string();
    // No --key, no --url: the scoring URI and the key come from the control socket. (The
    // harness serves its leaf without the CA, so the socket's chain cannot be trusted here.)
    let out = bench(
        &h,
        &["-n", "mlp", "-r", &req, "--cacert", &ca, "--duration", "1500ms", "-c", "4", "--json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    no_secret(&out, &key);
    let r = report(&out);
    consistent(&r);
    assert_eq!(r["mode"], "closed");
    assert_eq!(r["body"], "seed-json");
    assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["errors"]["total"], 0, "{r}");
    assert_eq!(
        r["url"],
        format!("https://localhost:{}/api/v1/service/mlp/score", h.daemon().tls.port())
    );
    assert!(r["requestsPerSecond"].as_f64().unwrap() > 0.0);

    // --requests: exactly that many measured; text output for people.
    let out = bench(
        &h,
        &[
            "-n",
            "mlp",
            "-r",
            &req,
            "--cacert",
            &ca,
            "--requests",
            "50",
            "-c",
            "3",
            "--warmup",
            "200ms",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("50 requests") && text.contains("p99.9"), "{text}");

    // A wrong key: every answer is an error, counted by status (401, then 429 once the
    // per-peer failure limit is reached); exit code 1; the key is never printed.
    let wrong = "esk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let out = bench(
        &h,
        &[
            "-n",
            "mlp",
            "-r",
            &req,
            "--cacert",
            &ca,
            "--requests",
            "10",
            "-c",
            "2",
            "--json",
            "--key",
            wrong,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    no_secret(&out, wrong);
    let r = report(&out);
    consistent(&r);
    assert_eq!(r["ok"], 0, "{r}");
    assert_eq!(r["requests"], 10, "{r}");
    assert!(r["errors"]["byStatus"]["401"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn open_loop_oip_json_and_binary_over_h2_with_explicit_trust() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let ca = h.dir.path().join("tls/ca.pem").display().to_string();
    let url = h.url("/v2/models/mlp/infer");
    let oip = h.write_file(
        "oip.json",
        r#"{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]}"#,
    );
    // Open loop at 100 req/s for 1 s: at most the schedule's requests are measured.
    let env = [("EDGESERVE_KEY", key.as_str())];
    let out = bench(
        &h,
        &[
            "--url",
            &url,
            "-r",
            &oip,
            "--cacert",
            &ca,
            "--rate",
            "100",
            "--duration",
            "1s",
            "-c",
            "4",
            "--json",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    no_secret(&out, &key);
    let r = report(&out);
    consistent(&r);
    assert_eq!((r["mode"].as_str(), r["body"].as_str()), (Some("open"), Some("oip-json")));
    let n = r["requests"].as_u64().unwrap();
    assert!(n > 0 && n <= 101, "{r}");

    // The binary extension: a JSON header followed by the tensor's bytes, found by itself.
    let header = r#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}"#;
    let mut body = header.as_bytes().to_vec();
    for x in [0.1f32, 0.2, 0.3, 0.4] {
        body.extend_from_slice(&x.to_le_bytes());
    }
    let bin_path = h.dir.path().join("oip.bin");
    std::fs::write(&bin_path, &body).unwrap();
    let bin_path = bin_path.display().to_string();
    let out = bench(
        &h,
        &[
            "--url",
            &url,
            "-r",
            &bin_path,
            "--cacert",
            &ca,
            "--requests",
            "40",
            "-c",
            "8",
            "--http2",
            "--json",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r = report(&out);
    consistent(&r);
    assert_eq!((r["protocol"].as_str(), r["body"].as_str()), (Some("h2"), Some("oip-binary")));
    assert_eq!((r["requests"].as_u64(), r["ok"].as_u64()), (Some(40), Some(40)), "{r}");
}

#[test]
fn bad_input_names_the_fix() {
    let mut h = Harness::new();
    h.start();
    let req = h.write_file("seed.json", r#"{"data": [[0.1, 0.2, 0.3, 0.4]]}"#);
    let ca = h.dir.path().join("tls/ca.pem").display().to_string();
    let cases: [(&[&str], &str); 5] = [
        (&["-n", "mlp", "-r", "/nonexistent/req.json"], "give an existing file with -r"),
        (&["--url", "ftp://localhost/x", "-r", &req, "--cacert", &ca], "https:// or http://"),
        (&["--url", "https://127.0.0.1:1/x", "-r", &req, "--cacert", &ca], "nothing listens"),
        (&["--url", &h.url("/x"), "-r", &req, "--header", "oops"], "NAME:VALUE"),
        (&["--url", &h.url("/x"), "-r", &req, "--cacert", &req], "--cacert"),
    ];
    for (args, want) in cases {
        let out = bench(&h, args, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // A CA that did not sign the server's certificate: the TLS failure says what to do.
    let other = edgeserve_tests::Pki::generate(&["localhost"]);
    let wrong_ca = h.write_file("other-ca.pem", &other.ca_pem);
    let out = bench(&h, &["--url", &h.url("/x"), "-r", &req, "--cacert", &wrong_ca], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("tls") && err.contains("--cacert"), "{err}");
}
