//! Life under systemd: notifications in order on a fake NOTIFY_SOCKET, SIGHUP reloads, SIGTERM
//! drains an in-flight request.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use edgeserve_tests::{models_dir, Harness};
use nix::sys::signal::Signal;
use serde_json::json;

/// Every datagram received within `wait`, in order.
fn drain(socket: &UnixDatagram, wait: Duration) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
    }
    out
}

fn position(messages: &[String], needle: &str) -> usize {
    messages
        .iter()
        .position(|m| m.lines().any(|l| l == needle))
        .unwrap_or_else(|| panic!("no {needle} in {messages:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn notifications_reload_and_drain() {
    let mut h = Harness::with_extra_config(&format!(
        "[[model]]\nname = \"heavy\"\nversion = \"1\"\npath = \"{}/heavy\"\n[[endpoint]]\nname = \"heavy\"\ntraffic = {{ blue = 100 }}\n[[deployment]]\nname = \"blue\"\nendpoint = \"heavy\"\nmodel = \"heavy:1\"\n",
        models_dir().display()
    ));
    let path = h.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    h.env.push(("NOTIFY_SOCKET".into(), path.display().to_string()));
    h.env.push(("WATCHDOG_USEC".into(), "100000".into()));
    h.start();

    let mut messages = drain(&socket, Duration::from_millis(400));
    let ready = position(&messages, "READY=1");
    let status = messages[ready].lines().find(|l| l.starts_with("STATUS=")).unwrap().to_string();
    assert_eq!(status, "STATUS=serving 5 endpoint(s); 5/5 deployment(s) ready");
    let watchdogs = messages.iter().filter(|m| m.trim() == "WATCHDOG=1").count();
    assert!(watchdogs >= 3, "watchdog pings every 50 ms: {messages:?}");

    // A control-plane change keeps STATUS current.
    h.cli_json(&["endpoint", "create", "--name", "extra"]);
    messages.extend(drain(&socket, Duration::from_millis(200)));
    assert!(messages.iter().any(|m| m.contains("STATUS=serving 6 endpoint(s)")), "{messages:?}");

    // SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 again.
    h.signal(Signal::SIGHUP);
    let after_hup = drain(&socket, Duration::from_millis(400));
    let reloading = position(&after_hup, "RELOADING=1");
    assert!(after_hup[reloading].contains("MONOTONIC_USEC="), "{after_hup:?}");
    assert!(position(&after_hup, "READY=1") > reloading);

    // SIGTERM while a heavy request runs: STOPPING=1, and the request still completes.
    let (key, _) = h.keys("heavy");
    let client = h.client();
    let url = h.score_url("heavy");
    // Open the connection first, so the heavy request is in flight when the signal lands.
    let warm = client
        .post(&url)
        .bearer_auth(&key)
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200);
    let inflight = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(key)
            .json(&json!({"data": vec![[0.5, -1.0, 0.25, 2.0]; 20000]}))
            .send()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    h.signal(Signal::SIGTERM);
    let resp = inflight.await.unwrap();
    assert_eq!(resp.status(), 200, "the in-flight request was drained, not dropped");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["result"].as_array().unwrap().len(), 20000);
    let at_stop = drain(&socket, Duration::from_millis(300));
    position(&at_stop, "STOPPING=1");
    h.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn socket_activation_serves_on_the_passed_socket() {
    use std::io::{BufRead, BufReader};
    let h = Harness::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = std::process::Command::new("systemd-socket-activate")
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg("--fdname=tls")
        .arg(format!("--setenv=CREDENTIALS_DIRECTORY={}", h.dir.path().join("creds").display()))
        .arg("--setenv=EDGESERVE_LOG=info")
        .arg(edgeserve_tests::bin("edgeserved"))
        .arg("--config")
        .arg(&h.config_path)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    // The first connection starts the daemon, which then accepts on the socket systemd bound.
    let url = format!("https://localhost:{port}/v2/health/live");
    let client = h.client();
    let mut live = false;
    for _ in 0..300 {
        if let Ok(resp) = client.get(&url).send().await {
            live = resp.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(live, "no answer on the activated socket:\n{}", logs.lock().unwrap());
    let (key, _) = h.keys("mlp");
    let resp = client
        .post(format!("https://localhost:{port}/api/v1/service/mlp/score"))
        .bearer_auth(&key)
        .json(&json!({"data": [[1, 2, 3, 4]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = logs.lock().unwrap().clone();
    let tls_lines: Vec<&str> =
        text.lines().filter(|l| l.contains("listening") && l.contains("transport=Tls")).collect();
    assert_eq!(
        tls_lines.len(),
        1,
        "only the passed socket serves TLS, not tls.listen: {tls_lines:?}"
    );
    assert!(tls_lines[0].contains(&format!("listen=127.0.0.1:{port}")), "{tls_lines:?}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
}
