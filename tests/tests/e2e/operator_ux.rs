//! The product explains itself (issue 22): the demo's printed commands work as pasted,
//! `status` is the box at a glance, `-o table` is for people, and `tls reset` undoes `tls set`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgeserve_tests::{bin, run_to_exit, Harness, LeafOptions};
use serde_json::Value;

/// Runs a pasted shell command, returning stdout.
fn paste(command: &str) -> String {
    let mut cmd = Command::new("bash");
    cmd.args(["-c", command]);
    let out = run_to_exit(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{command}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_command_the_demo_prints_works_as_pasted() {
    let mut child = Command::new(bin("edgeserved"))
        .arg("--demo")
        .env("EDGESERVE_TLS__LISTEN", "127.0.0.1:0")
        .env("EDGESERVE_PLAIN__LISTEN", "127.0.0.1:0")
        .env("EDGESERVE_METRICS__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.starts_with("(endpoints:")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("the demo printed no ready message: {lines:?}");
            }
        }
    }
    let text = lines.join("\n");
    // The scoring command: the lines from `curl` to the URL, joined as a shell would.
    let start = lines.iter().position(|l| l.starts_with("curl ")).unwrap();
    let end = start + lines[start..].iter().position(|l| !l.ends_with('\\')).unwrap();
    let curl = lines[start..=end].join("\n");
    let scored: Value = serde_json::from_str(&paste(&curl)).unwrap();
    assert!(scored.get("outputs").is_some() || scored.get("result").is_some(), "{scored}");
    // `edgeserve --socket ... status`, pasted.
    let status_line = lines.iter().find(|l| l.trim_end().ends_with(" status")).unwrap();
    let status: Value = serde_json::from_str(&paste(status_line.trim())).unwrap();
    assert_eq!(status["ready"], true, "{status}");
    // The CA to trust from another machine, and the command that prints it.
    let ca_line = lines.iter().find(|l| l.trim_end().ends_with("tls show --ca-pem)")).unwrap();
    let printed = paste(ca_line.trim().trim_end_matches(')'));
    assert!(printed.starts_with("-----BEGIN CERTIFICATE-----"), "{printed}");
    let trust = text.split("trust ").nth(1).unwrap().split_whitespace().next().unwrap();
    assert_eq!(std::fs::read_to_string(trust).unwrap().trim(), printed.trim());
    // The metrics URL.
    let metrics = text.split("Metrics: ").nth(1).unwrap().split_whitespace().next().unwrap();
    let body = paste(&format!("curl -sS --max-time 10 {metrics}"));
    assert!(body.contains("edgeserve_requests_total"), "{body}");
    // The busy-port hint names all three listeners.
    for var in ["EDGESERVE_TLS__LISTEN", "EDGESERVE_PLAIN__LISTEN", "EDGESERVE_METRICS__LISTEN"] {
        assert!(text.contains(var), "{text}");
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = child.wait();
}

#[test]
fn status_is_the_box_at_a_glance() {
    let mut h = Harness::new();
    h.start();
    let s = h.cli_json(&["status"]);
    for field in ["version", "build", "uptimeSeconds", "board", "ready"] {
        assert!(s.get(field).is_some(), "status lacks {field}: {s}");
    }
    assert!(s["listeners"]["metrics"].as_str().unwrap().ends_with("/metrics"), "{s}");
    assert!(s["listeners"]["tls"][0].is_string(), "{s}");
    assert!(s["certificate"]["subject"].as_str().unwrap().contains("localhost"), "{s}");
    assert!(s["certificate"]["daysToExpiry"].as_i64().unwrap() > 0, "{s}");
    let mlp = s["endpoints"].as_array().unwrap().iter().find(|e| e["name"] == "mlp").unwrap();
    assert_eq!(mlp["authMode"], "key");
    assert_eq!(mlp["transport"], "tls");
    assert_eq!(mlp["traffic"]["blue"], 100);
    let blue = &mlp["deployments"][0];
    assert_eq!(blue["model"], "mlp:1");
    assert_eq!(blue["state"], "Succeeded");
    assert_eq!(blue["queueDepth"], 0);
}

#[test]
fn tables_are_for_people() {
    let mut h = Harness::new();
    h.start();
    for args in [
        &["status"][..],
        &["endpoint", "list"],
        &["endpoint", "show", "-n", "mlp"],
        &["model", "list"],
        &["deployment", "list", "-e", "mlp"],
        &["tls", "show"],
        &["device", "list"],
    ] {
        let mut full = vec!["-o", "table"];
        full.extend_from_slice(args);
        let out = h.cli(&full);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.is_empty(), "{args:?}");
        assert!(!text.contains('{') && !text.contains("\"["), "{args:?} prints raw JSON:\n{text}");
        for line in text.lines() {
            assert!(
                line.chars().count() <= 240,
                "{args:?}: a line too wide for a terminal:\n{line}"
            );
        }
    }
}

#[test]
fn tls_reset_returns_to_the_config_files() {
    let mut h = Harness::new();
    h.start();
    let before = h.cli_json(&["tls", "show"]);
    assert_eq!(before["source"]["origin"], "config");
    let (cert, key) = h.pki.leaf(&["localhost", "edge-box.test"], LeafOptions::default());
    let cert_path = h.write_file("new.pem", &cert);
    let key_path = h.write_file("new.key", &key);
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
    assert_eq!(h.cli_json(&["tls", "show"])["source"]["origin"], "control-plane");

    // With the config's files broken, reset refuses and the installed copy stays.
    let config_cert = h.dir.path().join("tls/cert.pem");
    let good = std::fs::read_to_string(&config_cert).unwrap();
    std::fs::write(&config_cert, "not a certificate").unwrap();
    let (code, err) = h.cli_err(&["tls", "reset"]);
    assert_eq!(code, 1);
    assert!(err.contains("the installed copy stays in force"), "{err}");
    assert_eq!(h.cli_json(&["tls", "show"])["source"]["origin"], "control-plane");

    std::fs::write(&config_cert, good).unwrap();
    let after = h.cli_json(&["tls", "reset"]);
    assert_eq!(after["source"]["origin"], "config");
    assert_eq!(after["fingerprintSha256"], before["fingerprintSha256"]);
    assert_eq!(after["cname"], "localhost");
    // And it stays so after a restart.
    h.stop();
    h.start();
    let shown = h.cli_json(&["tls", "show"]);
    assert_eq!(shown["source"]["origin"], "config");
    let uri =
        h.cli_json(&["endpoint", "show", "-n", "mlp"])["scoringUri"].as_str().unwrap().to_string();
    assert!(uri.starts_with("https://localhost:"), "{uri}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mirrored_requests_are_counted_and_logged() {
    let mut h = Harness::new();
    h.start();
    tokio::task::block_in_place(|| {
        h.cli_json(&[
            "deployment",
            "create",
            "--name",
            "green",
            "--endpoint",
            "mlp",
            "--model",
            "mlp:1",
            "--target",
            "cpu",
        ]);
        h.cli_json(&[
            "endpoint",
            "update",
            "-n",
            "mlp",
            "--traffic",
            "blue=100,green=0",
            "--mirror",
            "green=100",
        ]);
    });
    let (key, _) = h.keys("mlp");
    let resp = h
        .client()
        .post(h.score_url("mlp"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-deployment"], "blue");
    let series = "edgeserve_requests_total{endpoint=\"mlp\",deployment=\"green\",code=\"200\",mirror=\"true\"} 1";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if h.metrics().await.contains(series) {
            break;
        }
        assert!(Instant::now() < deadline, "no mirrored series: {}", h.metrics().await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.wait_for_log("mirror=true", Duration::from_secs(5));
}

#[test]
fn errors_point_at_the_fix() {
    let mut h = Harness::new();
    h.start();
    // A local user the socket's mode keeps out is told who may use it.
    h.open_socket_dirs();
    let out = h.cli_as("nobody", "nogroup", &["endpoint", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("root and members of its group"), "{err}");
    assert!(err.contains("role assignment"), "{err}");
    assert!(!err.contains("is edgeserved running"), "{err}");

    // Near misses get the closest name.
    let (_, err) = h.cli_err(&["endpoint", "show", "-n", "mpl"]);
    assert!(err.contains("endpoint mpl not found (did you mean mlp?)"), "{err}");
    let (_, err) = h.cli_err(&["deployment", "show", "-n", "bleu", "-e", "mlp"]);
    assert!(err.contains("(did you mean blue?)"), "{err}");
    let (_, err) = h.cli_err(&["model", "show", "--name", "mlp", "--version", "2"]);
    assert!(err.contains("(did you mean mlp:1?)"), "{err}");

    // Names that cannot be names are refused by the CLI with the rule, before any request.
    for bad in ["my endpoint", "bang!", "a/b"] {
        let (code, err) = h.cli_err(&["endpoint", "show", "-n", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("letters, digits, '-', '_' or '.'"), "{bad}: {err}");
        assert!(!err.contains("invalid uri character"), "{bad}: {err}");
    }

    // A field of the wrong type is named.
    let file = h.write_file(
        "two.toml",
        "name = \"two\"\nendpoint = \"mlp\"\nmodel = \"mlp:1\"\ninstance_count = \"two\"\n",
    );
    let (code, err) = h.cli_err(&["deployment", "create", "-f", &file]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("instance_count: invalid type: string \"two\""), "{err}");

    // A clean stop leaves no socket file.
    h.stop();
    assert!(!h.socket().exists(), "the control socket file outlived the daemon");
}

#[test]
fn a_bad_environment_override_names_its_variable() {
    let h = Harness::new();
    let mut cmd = h.edgeserved();
    cmd.arg("--check-config").env("EDGESERVE_LIMITS__MAX_BODY_BYTES", "lots");
    let out = run_to_exit(cmd, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("environment variable EDGESERVE_LIMITS__MAX_BODY_BYTES"), "{err}");
    assert!(!err.contains(h.config_path.to_str().unwrap()), "{err}");
}

#[test]
fn board_detect_and_device_list_agree_on_the_accelerators() {
    let mut h = Harness::new();
    h.start();
    let board = h.cli_json(&["board", "detect"]);
    let devices = h.cli_json(&["device", "list"]);
    let available: Vec<(String, u64)> = devices
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["available"] == true)
        .map(|d| (d["target"].as_str().unwrap().to_string(), d["index"].as_u64().unwrap()))
        .collect();
    let on_board: Vec<(String, u64)> = board["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["target"].as_str().unwrap().to_string(), d["index"].as_u64().unwrap()))
        .collect();
    assert_eq!(on_board, available, "{board}");
    // What the profile does not expect is said, not hidden.
    for (target, _) in &available {
        let expected = board["profile"]["accelerator"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["target"] == target.as_str());
        let listed = board["devicesBeyondProfile"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().starts_with(target.as_str()));
        assert!(expected || listed, "{target}: {board}");
    }
}

#[test]
fn check_config_finds_declared_models_that_are_not_there() {
    let h = Harness::new();
    h.edit_config(|c| c.replace("/mlp\"", "/mlp-missing\""));
    let mut cmd = h.edgeserved();
    cmd.arg("--check-config");
    let out = run_to_exit(cmd, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("model[0].path") && err.contains("mlp-missing does not exist"), "{err}");
}
