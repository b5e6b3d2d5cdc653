//! Answers decided before the body is read reach the client (SPEC §5, issue 19, case H017): a
//! wrong key (401), a wrong content type (415) or a declared length over `limits.max_body_bytes`
//! (413) on an image-sized body. Before, curl over HTTP/2 exited 92 with no status (the stream
//! was reset after the answer), httpx timed out, and HTTP/1.1 clients that upload first saw a
//! broken pipe or `EOF occurred in violation of protocol`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use edgeserve_tests::{run_to_exit, Harness};
use serde_json::Value;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

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

fn case_file(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cases/H017").join(name).display().to_string()
}

/// A 2 MB seed body for the mlp example (784 inputs), over the harness's 1 MiB body limit.
fn two_mb_body() -> String {
    let row = format!("[{}]", vec!["0.5"; 784].join(", "));
    let body = format!("{{\"data\": [{}]}}", vec![row; 512].join(", "));
    assert!(body.len() > 2_000_000, "{}", body.len());
    body
}

/// The three refusals: (what, key, content type, status, error code).
fn refusals(key: &str) -> Vec<(&'static str, String, &'static str, u16, &'static str)> {
    vec![
        ("wrong key", "esk_wrong".to_string(), "application/json", 401, "Unauthorized"),
        ("text/plain", key.to_string(), "text/plain", 415, "UnsupportedMediaType"),
        ("over max_body_bytes", key.to_string(), "application/json", 413, "PayloadTooLarge"),
    ]
}

/// Runs curl; returns (exit code, status, HTTP version, body).
fn curl(
    h: &Harness,
    args: &[&str],
    key: &str,
    content_type: &str,
    file: &str,
) -> (i32, u16, String, String) {
    let ca = h.dir.path().join("tls/ca.pem").display().to_string();
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "60", "--cacert", &ca])
        .args(args)
        .args(["-w", "\n%{http_code} %{http_version}"])
        .args(["-H", &format!("Authorization: Bearer {key}")])
        .args(["-H", &format!("Content-Type: {content_type}")])
        .args(["--data-binary", &format!("@{file}"), &h.score_url("mlp")]);
    let out = run_to_exit(cmd, CLIENT_TIMEOUT);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, trailer) = text.rsplit_once('\n').unwrap_or(("", &text));
    let (status, version) = trailer.split_once(' ').unwrap_or(("0", ""));
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (code, status.parse().unwrap_or(0), version.to_string(), format!("{body}{stderr}"))
}

fn assert_refusal(client: &str, what: &str, status: u16, code: &str, got: (i32, u16, &str)) {
    let (exit, got_status, body) = got;
    assert_eq!(exit, 0, "{client}, {what}: exit {exit}: {body}");
    assert_eq!(got_status, status, "{client}, {what}: {body}");
    let v: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{client}, {what}: not JSON ({e}): {body}"));
    assert_eq!(v["error"]["code"], code, "{client}, {what}: {v}");
}

#[test]
fn curl_over_h2_and_http11_reads_refusals_of_a_2mb_body() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let file = h.write_file("2mb.json", &two_mb_body());
    // HTTP/1.1 twice: curl's own `Expect: 100-continue` (the answer comes before the upload)
    // and without it (the body is uploaded and drained, then answered).
    let variants: [(&str, &[&str], &str); 3] = [
        ("curl --http2", &["--http2"], "2"),
        ("curl --http1.1", &["--http1.1"], "1.1"),
        ("curl --http1.1 (no Expect)", &["--http1.1", "-H", "Expect:"], "1.1"),
    ];
    for (client, args, version) in variants {
        for (what, k, ct, status, code) in refusals(&key) {
            let (exit, got, v, body) = curl(&h, args, &k, ct, &file);
            assert_eq!(v, version, "{client}, {what}: {body}");
            assert_refusal(client, what, status, code, (exit, got, &body));
        }
    }
}

/// The seed's `urllib` snippet (HTTP/1.1, uploads everything before reading) and httpx over
/// HTTP/2, each with the three refusals of a 2 MB body.
#[test]
fn python_urllib_and_httpx_h2_read_refusals_of_a_2mb_body() {
    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let file = h.write_file("2mb.json", &two_mb_body());
    let ca = h.dir.path().join("tls/ca.pem").display().to_string();
    let script = r#"
import json, ssl, sys, urllib.request, urllib.error, httpx
url, ca, path = sys.argv[1], sys.argv[2], sys.argv[3]
cases = json.loads(sys.argv[4])
body = open(path, "rb").read()
out = []
for key, ct in cases:
    headers = {"Content-Type": ct, "Authorization": "Bearer " + key}
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        r = urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca), timeout=60)
        u = {"status": r.status, "body": r.read().decode()}
    except urllib.error.HTTPError as e:
        u = {"status": e.code, "body": e.read().decode()}
    except Exception as e:
        u = {"status": 0, "body": type(e).__name__ + ": " + str(e)}
    with httpx.Client(http2=True, verify=ca, timeout=60) as c:
        try:
            r = c.post(url, content=body, headers=headers)
            x = {"status": r.status_code, "body": r.text, "version": r.http_version}
        except Exception as e:
            x = {"status": 0, "body": type(e).__name__ + ": " + str(e), "version": ""}
    out.append({"urllib": u, "httpx": x})
print(json.dumps(out))
"#;
    let cases = refusals(&key);
    let args: Vec<(String, &str)> = cases.iter().map(|(_, k, ct, _, _)| (k.clone(), *ct)).collect();
    let mut cmd = Command::new(python());
    cmd.args(["-c", script, &h.score_url("mlp"), &ca, &file])
        .arg(serde_json::to_string(&args).unwrap());
    let out = run_to_exit(cmd, CLIENT_TIMEOUT);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    for ((what, _, _, status, code), got) in cases.iter().zip(&got) {
        for client in ["urllib", "httpx"] {
            let r = &got[client];
            let body = r["body"].as_str().unwrap();
            let status_got = r["status"].as_u64().unwrap() as u16;
            assert_refusal(client, what, *status, code, (0, status_got, body));
        }
        assert_eq!(got["httpx"]["version"], "HTTP/2", "{got}");
    }
}

/// Case H017 as reported: a 320 KB body over a 64 KiB `max_body_bytes` over curl's HTTP/2,
/// and the frames of an early 401 when HEADERS arrive before DATA (no RST_STREAM).
#[test]
fn case_h017_early_answers_end_their_h2_stream_cleanly() {
    let mut h = Harness::bare();
    h.env.push(("EDGESERVE_LIMITS__MAX_BODY_BYTES".into(), "65536".into()));
    h.start();
    let key = h.try_deploy_cpu("tiny", &case_file("tiny.onnx")).unwrap();
    let row = format!("[{}]", vec!["0.5"; 784].join(","));
    let file = h.write_file("320k.json", &format!("{{\"data\": [{}]}}", vec![row; 100].join(",")));
    let ca = h.dir.path().join("tls/ca.pem").display().to_string();
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "20", "--http2", "--cacert", &ca, "-w", "\n%{http_code}"])
        .args([
            "-H",
            &format!("Authorization: Bearer {key}"),
            "-H",
            "Content-Type: application/json",
        ])
        .args(["--data-binary", &format!("@{file}"), &h.score_url("tiny")]);
    let out = run_to_exit(cmd, CLIENT_TIMEOUT);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "curl exit {:?}: {text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.ends_with("\n413") && text.contains("PayloadTooLarge"), "{text}");

    let mut cmd = Command::new(python());
    cmd.arg(case_file("h2_frames.py"))
        .arg(h.daemon().tls.port().to_string())
        .arg(&ca)
        .arg("Bearer esk_wrong");
    let out = run_to_exit(cmd, CLIENT_TIMEOUT);
    let frames = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{frames}{}", String::from_utf8_lossy(&out.stderr));
    assert!(frames.contains("(client sent body)"), "{frames}");
    assert!(frames.contains("HEADERS 401") && frames.contains("END_STREAM"), "{frames}");
    assert!(!frames.contains("RST_STREAM"), "the stream was reset after the answer:\n{frames}");
}

/// Past the drain budget the answer goes out at once and the connection closes with a
/// lingering close: curl, which reads while it uploads, still gets it over both protocols.
#[test]
fn beyond_the_drain_budget_curl_still_reads_the_refusal() {
    let mut h = Harness::new();
    h.env.push(("EDGESERVE_LIMITS__EARLY_ANSWER_DRAIN_BYTES".into(), "65536".into()));
    h.start();
    let file = h.write_file("2mb.json", &two_mb_body());
    for args in [&["--http2"][..], &["--http1.1", "-H", "Expect:"][..]] {
        let (exit, status, _, body) = curl(&h, args, "esk_wrong", "application/json", &file);
        assert_refusal("curl", &format!("{args:?}"), 401, "Unauthorized", (exit, status, &body));
    }
}

/// A drained refusal leaves an HTTP/1.1 connection usable: curl sends the next request on it.
#[test]
fn a_drained_refusal_keeps_the_http11_connection() {
    let mut h = Harness::new();
    h.start();
    let ca = h.dir.path().join("tls/ca.pem").display().to_string();
    let body = format!("{{\"data\": [[{}]]}}", vec!["0.5"; 784].join(","));
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--http1.1", "--cacert", &ca, "-o", "/dev/null", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{num_connects}\n"])
        .args(["-H", "Authorization: Bearer esk_wrong", "-H", "Content-Type: application/json"])
        .args(["-d", &body, &h.score_url("mlp"), &h.score_url("mlp")]);
    let out = run_to_exit(cmd, CLIENT_TIMEOUT);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text, "401 1\n401 0\n", "the second request should reuse the connection");
}
