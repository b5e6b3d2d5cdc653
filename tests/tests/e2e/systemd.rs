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

/// Receives datagrams until one holds the line `needle` (or `wait` passes); returns them all.
fn until(socket: &UnixDatagram, needle: &str, wait: Duration) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            let done = msg.lines().any(|l| l == needle || l.starts_with(needle));
            out.push(msg);
            if done {
                break;
            }
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

    let mut messages = until(&socket, "READY=1", Duration::from_secs(30));
    messages.extend(drain(&socket, Duration::from_millis(400)));
    let ready = position(&messages, "READY=1");
    let status = messages[ready].lines().find(|l| l.starts_with("STATUS=")).unwrap().to_string();
    assert_eq!(status, "STATUS=serving 5 endpoint(s); 5/5 deployment(s) ready");
    let watchdogs = messages.iter().filter(|m| m.trim() == "WATCHDOG=1").count();
    assert!(watchdogs >= 3, "watchdog pings every 50 ms: {messages:?}");

    // A control-plane change keeps STATUS current.
    h.cli_json(&["endpoint", "create", "--name", "extra"]);
    messages.extend(until(&socket, "STATUS=serving 6 endpoint(s)", Duration::from_secs(30)));
    assert!(messages.iter().any(|m| m.contains("STATUS=serving 6 endpoint(s)")), "{messages:?}");

    // SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 again.
    h.signal(Signal::SIGHUP);
    let mut after_hup = until(&socket, "RELOADING=1", Duration::from_secs(30));
    after_hup.extend(until(&socket, "READY=1", Duration::from_secs(30)));
    let reloading = position(&after_hup, "RELOADING=1");
    assert!(after_hup[reloading].contains("MONOTONIC_USEC="), "{after_hup:?}");
    assert!(position(&after_hup, "READY=1") > reloading);

    // SIGTERM while one heavy request runs and another waits in the queue: STOPPING=1, and both
    // still complete (the drain covers queued work too).
    let (key, _) = h.keys("heavy");
    let client = h.client();
    let url = h.score_url("heavy");
    let heavy = json!({"data": vec![[0.5, -1.0, 0.25, 2.0]; 20000]});
    let mut inflight = Vec::new();
    for _ in 0..2 {
        let (client, url, key, heavy) = (client.clone(), url.clone(), key.clone(), heavy.clone());
        inflight.push(tokio::spawn(async move {
            client.post(url).bearer_auth(key).json(&heavy).send().await.unwrap()
        }));
    }
    let depth = "edgeserve_queue_depth{endpoint=\"heavy\",deployment=\"blue\"} 1";
    let deadline = Instant::now() + Duration::from_secs(60);
    while !h.metrics().await.contains(depth) {
        assert!(Instant::now() < deadline, "the second request never queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Read the notifications while the requests drain: the watchdog pings every 50 ms, and a
    // slow drain on a loaded machine would otherwise fill the socket's queue and drop STOPPING=1.
    let reader = socket.try_clone().unwrap();
    let stopping =
        std::thread::spawn(move || until(&reader, "STOPPING=1", Duration::from_secs(90)));
    h.signal(Signal::SIGTERM);
    for task in inflight {
        let resp = task.await.unwrap();
        assert_eq!(resp.status(), 200, "an in-flight request was dropped, not drained");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["result"].as_array().unwrap().len(), 20000);
    }
    let at_stop = stopping.join().unwrap();
    // Nothing reads the notify socket any more: the daemon must still exit (a regression test
    // for a blocking notification send that stalled the runtime's shutdown).
    std::thread::sleep(Duration::from_millis(500));
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
