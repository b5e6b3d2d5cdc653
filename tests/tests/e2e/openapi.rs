//! The committed OpenAPI document (`openapi/edgeserve.yaml`, issue 19) describes exactly the
//! routes the daemon serves, and Schemathesis, driven by it against a live daemon, finds no
//! server error and no answer that breaks its schemas.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use edgeserve_tests::routes::{routes_in, without_parameter_names};
use edgeserve_tests::{run_to_exit, Harness};

fn document() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/edgeserve.yaml");
    std::fs::read_to_string(path).unwrap()
}

/// `METHOD /path` of every operation under `paths:`. The document keeps the block style this
/// reads: a path at two spaces of indent, its methods at four.
fn operations(doc: &str) -> BTreeSet<String> {
    let mut ops = BTreeSet::new();
    let mut in_paths = false;
    let mut path: Option<&str> = None;
    for line in doc.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            in_paths = line == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
            path = Some(&line[2..2 + 1 + p.len()]);
        } else if let (Some(p), Some(m)) =
            (path, line.strip_prefix("    ").and_then(|m| m.strip_suffix(':')))
        {
            if ["get", "post", "put", "patch", "delete"].contains(&m) {
                ops.insert(format!("{} {p}", m.to_uppercase()));
            }
        }
    }
    ops
}

#[test]
fn the_openapi_document_names_exactly_the_served_routes() {
    let served: BTreeSet<String> = ["route/mod.rs", "control/mod.rs"]
        .iter()
        .flat_map(|f| routes_in(f))
        .map(|r| without_parameter_names(&r))
        .collect();
    let described: BTreeSet<String> =
        operations(&document()).iter().map(|r| without_parameter_names(r)).collect();
    let missing: Vec<_> = served.difference(&described).collect();
    let extra: Vec<_> = described.difference(&served).collect();
    assert!(missing.is_empty(), "routes missing from openapi/edgeserve.yaml: {missing:?}");
    assert!(extra.is_empty(), "openapi/edgeserve.yaml describes routes nobody serves: {extra:?}");
    assert!(described.contains("POST /v2/models/{}/infer"));
    assert!(described.contains("DELETE /roleAssignments/{}"));
}

/// The Schemathesis CLI: `EDGESERVE_SCHEMATHESIS`, or `st` in the Python test venv that
/// `scripts/deps.sh` builds.
fn schemathesis() -> PathBuf {
    if let Some(st) = std::env::var_os("EDGESERVE_SCHEMATHESIS") {
        return PathBuf::from(st);
    }
    let venv = std::env::var_os("EDGESERVE_PY_CLIENTS").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
        cache.join("edgeserve/py-clients")
    });
    let st = venv.join("bin/st");
    assert!(st.exists(), "{} is missing: run `bash scripts/deps.sh`", st.display());
    st
}

/// One bounded Schemathesis run; returns its exit status and output.
fn run_schemathesis(h: &Harness, spec: &str, url: &str, tag: &str, extra: &[&str]) -> String {
    let ca = h.write_file("ca.pem", &h.pki.ca_pem);
    let reports = h.dir.path().join(format!("st-{tag}"));
    let mut cmd = Command::new(schemathesis());
    if let Some(config) = extra.iter().position(|a| *a == "--config-file") {
        cmd.args(["--config-file", extra[config + 1]]);
    }
    let extra: Vec<&str> = match extra.iter().position(|a| *a == "--config-file") {
        Some(at) => extra[..at].iter().chain(&extra[at + 2..]).copied().collect(),
        None => extra.to_vec(),
    };
    cmd.args(["run", spec, "--url", url, "--include-tag", tag])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        // One worker: Hypothesis parses lambda sources with `ast`, and CPython 3.11's AST
        // constructor is not thread-safe (python/cpython#106905): with two workers a CI run
        // failed once with "AST constructor recursion depth mismatch" inside Schemathesis.
        .args(["--max-examples", "25", "--max-time", "40", "--seed", "19", "--workers", "1"])
        .args(["--phases", "examples,coverage,fuzzing", "--request-timeout", "10"])
        .args(["--generation-database", "none", "--no-color", "--tls-verify", &ca])
        .arg("--report-dir")
        .arg(&reports)
        .args(&extra)
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(h.dir.path());
    // `--max-time` bounds the run (about 45 s alone); the deadline leaves room for a loaded CI
    // machine (other e2e tests compile OpenCL programs and start daemons meanwhile): at 120 s
    // it was hit once there.
    let out = run_to_exit(cmd, Duration::from_secs(300));
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "Schemathesis ({tag}) found failures:\n{text}");
    eprintln!("Schemathesis ({tag}):\n{text}");
    text
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation_on_the_data_plane() {
    let mut h = Harness::new();
    h.edit_config(|t| t.replacen("[limits]\n", "[limits]\nauth_failures_per_minute = 100000\n", 1));
    h.start();
    let (key, _) = h.keys("mlp");
    // Requests reach the mlp endpoint (so bodies get to the codecs), on this daemon's port.
    let spec = document().replace("https://localhost:8443", &h.url("")).replace(
        "    EndpointName:\n      type: string\n",
        "    EndpointName:\n      type: string\n      enum: [mlp]\n",
    );
    let spec = h.write_file("openapi.yaml", &spec);
    let auth = format!("Authorization: Bearer {key}");
    let text = run_schemathesis(&h, &spec, &h.url(""), "data-plane", &["-H", &auth]);
    assert!(text.contains("/v2/models/{endpoint}/infer"), "infer was not exercised:\n{text}");
    // Still serving afterwards.
    let logs = h.logs();
    assert!(!logs.contains("panicked"), "a handler panicked:\n{logs}");
}

/// A TCP listener on 127.0.0.1 passing each connection through to the control socket:
/// Schemathesis speaks TCP, the control plane listens on a Unix socket only.
async fn forward_to_control_socket(h: &Harness) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let socket = h.socket();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let socket = socket.clone();
            tokio::spawn(async move {
                if let Ok(mut unix) = tokio::net::UnixStream::connect(&socket).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_error_and_no_schema_violation_on_the_control_plane() {
    let mut h = Harness::new();
    h.start();
    let addr = forward_to_control_socket(&h).await;
    let url = format!("http://{addr}");
    let spec = h.write_file("openapi.yaml", &document());
    // `invoke` answers the data plane's scoring statuses, among them 503 `NoTraffic` once the
    // fuzzer itself has patched an endpoint's traffic away (SPEC §5: not ready); any other 5xx
    // still fails.
    let config = h.write_file(
        "schemathesis.toml",
        "[[operations]]\ninclude-operation-id = \"invoke\"\n\
         checks.not_a_server_error.expected-statuses = [\"1xx\", \"2xx\", \"3xx\", \"4xx\", \"503\"]\n",
    );
    // Left out: `model register` and `config plan` read any path the caller names on the box,
    // and a fuzzer naming `/` would have the daemon hash the whole file system.
    let text = tokio::task::block_in_place(|| {
        run_schemathesis(
            &h,
            &spec,
            &url,
            "control-plane",
            &[
                "--exclude-operation-id",
                "registerModel",
                "--exclude-operation-id",
                "configPlan",
                "--config-file",
                &config,
            ],
        )
    });
    assert!(text.contains("/endpoints/{name}"), "endpoints were not exercised:\n{text}");
    let logs = h.logs();
    assert!(!logs.contains("panicked"), "a handler panicked:\n{logs}");
}
