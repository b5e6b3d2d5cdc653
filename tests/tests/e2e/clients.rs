//! The clients people already score with, each against the real daemon over real TLS (issue 16):
//! curl over h2 and http/1.1, Python `requests`, the seed's `urllib` snippet, `httpx` over h2,
//! Triton's `tritonclient.http` (JSON and binary tensors; case H002: its errors must be
//! readable), and Node.js's `https`. One success (outputs equal onnxruntime's) and one refusal
//! each. The embedded-tls client has its own test (`mcu.rs`).

use std::path::PathBuf;
use std::process::Command;

use edgeserve_tests::{reference, run_to_exit, Harness};

/// Longest a client process may take (a stalled daemon fails the test, not CI's clock).
const CLIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
use serde_json::Value;

/// The Python of the clients' virtual environment (made by scripts/deps.sh).
fn python() -> PathBuf {
    let venv = std::env::var_os("EDGESERVE_PY_CLIENTS").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
        cache.join("edgeserve/py-clients")
    });
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/deps.sh` (it installs the Python test clients)",
        python.display()
    );
    python
}

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// The mlp example's batch-5 reference case: (rows, expected outputs as rows).
fn mlp_case() -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let r = reference("mlp");
    let case = r["cases"].as_array().unwrap().iter().find(|c| c["batch"] == 5).unwrap();
    let rows = |t: &Value| -> Vec<Vec<f64>> {
        let cols = t["shape"][1].as_u64().unwrap() as usize;
        let data: Vec<f64> =
            t["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        data.chunks(cols).map(|c| c.to_vec()).collect()
    };
    (rows(&case["inputs"]["x"]), rows(&case["outputs"]["y"]))
}

fn assert_outputs(client: &str, got: &Value, expected: &[Vec<f64>]) {
    let got = got.as_array().unwrap_or_else(|| panic!("{client}: no outputs: {got}"));
    assert_eq!(got.len(), expected.len(), "{client}: rows");
    for (g, e) in got.iter().zip(expected) {
        let g = g.as_array().unwrap();
        assert_eq!(g.len(), e.len(), "{client}: columns");
        for (g, e) in g.iter().zip(e) {
            let g = g.as_f64().unwrap();
            assert!((g - e).abs() <= 1e-4 * e.abs().max(1.0), "{client}: {g} vs onnxruntime {e}");
        }
    }
}

/// A started daemon, the mlp endpoint's key and the CA file clients trust.
fn serving() -> (Harness, String, String) {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let ca = h.dir.path().join("tls/ca.pem").display().to_string();
    (h, key, ca)
}

/// Runs one Python client of tests/clients/clients.py and returns what it printed.
fn python_client(client: &str) -> Value {
    let (h, key, ca) = serving();
    let (rows, expected) = mlp_case();
    let mut cmd = Command::new(python());
    cmd.arg(clients_dir().join("clients.py"))
        .arg(client)
        .args(["--port", &h.daemon().tls.port().to_string(), "--ca", &ca, "--key", &key])
        .args(["--endpoint", "mlp", "--rows", &serde_json::to_string(&rows).unwrap()]);
    let out = run_to_exit(cmd, CLIENT_TIMEOUT);
    assert!(
        out.status.success(),
        "{client}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["success"]["status"], 200, "{client}: {v}");
    assert_outputs(client, &v["success"]["outputs"], &expected);
    v
}

/// A seed-route refusal for a wrong key: 401 with SPEC §5's error object.
fn assert_wrong_key(client: &str, refusal: &Value) {
    assert_eq!(refusal["status"], 401, "{client}: {refusal}");
    assert_eq!(refusal["body"]["error"]["code"], "Unauthorized", "{client}: {refusal}");
    assert!(refusal["message"].as_str().unwrap().contains("not valid"), "{client}: {refusal}");
}

#[test]
fn curl_scores_over_h2_and_http11_and_reads_refusals() {
    let (h, key, ca) = serving();
    let (rows, expected) = mlp_case();
    let body = serde_json::json!({ "data": rows }).to_string();
    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let curl = |k: &str| {
            let mut cmd = Command::new("curl");
            cmd.args(["-sS", "--max-time", "30", flag, "--cacert", &ca])
                .args(["-w", "\n%{http_code} %{http_version}"])
                .args(["-H", &format!("Authorization: Bearer {k}")])
                .args(["-H", "Content-Type: application/json", "-d", &body, &h.score_url("mlp")]);
            let out = run_to_exit(cmd, CLIENT_TIMEOUT);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                out.status.success(),
                "curl {flag} exit {:?}: {text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            let (json, trailer) = text.rsplit_once('\n').unwrap();
            (serde_json::from_str::<Value>(json).unwrap(), trailer.to_string())
        };
        let (ok, trailer) = curl(&key);
        assert_eq!(trailer, format!("200 {version}"), "curl {flag}");
        assert_outputs("curl", &ok["result"], &expected);
        // The refusal reaches curl as a status and JSON, not as a transport error.
        let (bad, trailer) = curl("esk_wrong");
        assert_eq!(trailer, format!("401 {version}"), "curl {flag}: {bad}");
        assert_eq!(bad["error"]["code"], "Unauthorized");
    }
}

#[test]
fn curl_with_expect_100_continue_gets_the_refusal_without_uploading() {
    let (h, _, ca) = serving();
    // An image-sized body: curl asks `Expect: 100-continue` and waits for the server's word.
    let big =
        h.write_file("big.json", &format!("{{\"data\": [[{}]]}}", "0.5, ".repeat(400_000) + "0.5"));
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "30", "--http1.1", "--cacert", &ca, "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{size_upload}"])
        .args(["-H", "Authorization: Bearer esk_wrong", "-H", "Expect: 100-continue"])
        .args(["-H", "Content-Type: application/json", "--data-binary", &format!("@{big}")])
        .arg(h.score_url("mlp"));
    let out = run_to_exit(cmd, CLIENT_TIMEOUT);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let (status, uploaded) = text.split_once(' ').unwrap();
    assert_eq!(status, "401", "{text}");
    let uploaded: f64 = uploaded.parse().unwrap();
    assert!(uploaded < 1_000_000.0, "the refused body was uploaded anyway: {uploaded} bytes");
}

#[test]
fn python_requests_scores_and_reads_refusals() {
    let v = python_client("requests");
    assert_wrong_key("requests", &v["refusal"]);
}

#[test]
fn the_seed_urllib_snippet_scores_and_reads_refusals() {
    let v = python_client("urllib");
    assert_wrong_key("urllib", &v["refusal"]);
}

#[test]
fn httpx_scores_over_h2_and_reads_refusals() {
    let v = python_client("httpx-h2");
    assert_eq!(v["success"]["httpVersion"], "HTTP/2", "{v}");
    assert_wrong_key("httpx", &v["refusal"]);
}

/// Triton's client reads `error` as a string (case H002): status and message must both come
/// through, and the message names the input.
fn assert_triton_refusals(client: &str, v: &Value) {
    assert_eq!(v["success"]["ready"], true, "{client}: {v}");
    let refusal = &v["refusal"];
    assert_eq!(refusal["status"], 400, "{client}: {v}");
    let message = refusal["message"].as_str().unwrap_or_else(|| panic!("{client}: {v}"));
    assert!(message.contains("input x"), "{client}: {message}");
    assert!(refusal["text"].as_str().unwrap().contains("input x"), "{client}: {v}");
    let unauthorized = &refusal["unauthorized"];
    assert_eq!(unauthorized["status"], 401, "{client}: {v}");
    assert!(unauthorized["message"].as_str().unwrap().contains("not valid"), "{client}: {v}");
}

#[test]
fn tritonclient_http_scores_json_tensors_and_reads_errors() {
    let v = python_client("tritonclient-json");
    assert_triton_refusals("tritonclient-json", &v);
}

#[test]
fn tritonclient_http_scores_binary_tensors_and_reads_errors() {
    let v = python_client("tritonclient-binary");
    assert_triton_refusals("tritonclient-binary", &v);
}

#[test]
fn node_https_scores_and_reads_refusals() {
    let (h, key, ca) = serving();
    let (rows, expected) = mlp_case();
    let mut cmd = Command::new("node");
    cmd.arg(clients_dir().join("node_client.js"))
        .args(["localhost", &h.daemon().tls.port().to_string(), &ca, &key, "mlp"])
        .arg(serde_json::to_string(&rows).unwrap());
    let out = run_to_exit(cmd, CLIENT_TIMEOUT);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["success"]["status"], 200, "{v}");
    assert_outputs("node", &v["success"]["outputs"], &expected);
    assert_wrong_key("node", &v["refusal"]);
}
