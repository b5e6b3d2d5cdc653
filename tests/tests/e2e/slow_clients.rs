//! Slow clients and held connections (issue 19): 500 slowloris sockets (half finish the TLS
//! handshake and trickle header bytes, half never finish the handshake) and 1,000 idle
//! keep-alive connections (half HTTP/1.1, half HTTP/2, each after one answered request) are
//! held while a client keeps scoring. Its p99 is compared with the same client's without the
//! attack; the daemon's open files and RSS stay bounded and return to idle once the sockets
//! close; and the header and idle timeouts close such sockets by themselves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeserve_tests::Harness;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SLOWLORIS: usize = 500;
const IDLE: usize = 1000;
/// Sequential scoring requests per measurement.
const SAMPLES: usize = 300;
const HEADER_TIMEOUT_MS: u64 = 15_000;
const IDLE_TIMEOUT_MS: u64 = 15_000;

/// The test opens about 1,600 sockets, and so does the daemon (it inherits the limit).
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let want = 8192.min(hard);
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want, hard).unwrap();
    }
}

/// The daemon's pid: the edgeserved process started with this harness's config.
fn daemon_pid(h: &Harness) -> u32 {
    let config = h.config_path.display().to_string();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("edgeserved") && cmdline.contains(&config) {
            return pid;
        }
    }
    panic!("no edgeserved process with {config}");
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn tls_connector(h: &Harness, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(h.pki.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn server_name() -> rustls_pki_types::ServerName<'static> {
    rustls_pki_types::ServerName::try_from("localhost").unwrap()
}

/// `SAMPLES` sequential scoring requests on one keep-alive client; sorted latencies.
async fn score_latencies(h: &Harness, client: &reqwest::Client, key: &str) -> Vec<Duration> {
    let body = serde_json::json!({ "data": [[0.1, 0.2, 0.3, 0.4]] }).to_string();
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let r = client
            .post(h.score_url("mlp"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        samples.push(started.elapsed());
    }
    samples.sort();
    samples
}

fn p(samples: &[Duration], q: f64) -> Duration {
    let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i]
}

/// A slowloris socket that completed the TLS handshake: sends part of a request head, then a
/// header byte every 2 s, until the server closes it (returns then).
async fn trickle_headers(tls: tokio_rustls::TlsConnector, port: u16) {
    let Ok(tcp) = TcpStream::connect(("127.0.0.1", port)).await else { return };
    let Ok(s) = tls.connect(server_name(), tcp).await else { return };
    let (mut r, mut w) = tokio::io::split(s);
    let head = b"POST /api/v1/service/mlp/score HTTP/1.1\r\nHost: localhost\r\nX-A: ";
    if w.write_all(head).await.is_err() {
        return;
    }
    let mut buf = [0u8; 256];
    loop {
        tokio::select! {
            read = r.read(&mut buf) => if matches!(read, Ok(0) | Err(_)) { return },
            _ = tokio::time::sleep(Duration::from_secs(2)) => {
                if w.write_all(b"a").await.is_err() || w.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A slowloris socket that never finishes the TLS handshake: half a ClientHello, then nothing.
async fn stall_handshake(port: u16) -> Option<TcpStream> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    // A TLS record header announcing a 512-byte handshake message, and a few bytes of it.
    tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]).await.ok()?;
    Some(tcp)
}

/// An HTTP/1.1 keep-alive connection after one answered request.
async fn idle_h1(
    tls: &tokio_rustls::TlsConnector,
    port: u16,
) -> Option<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let mut s = tls.connect(server_name(), tcp).await.ok()?;
    s.write_all(b"GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\n\r\n").await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got));
    Some(s)
}

/// An HTTP/2 connection after one answered request, kept open by its driver task.
async fn idle_h2(
    tls: &tokio_rustls::TlsConnector,
    port: u16,
) -> Option<(hyper::client::conn::http2::SendRequest<String>, tokio::task::JoinHandle<()>)> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let s = tls.connect(server_name(), tcp).await.ok()?;
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(s),
    )
    .await
    .ok()?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = hyper::Request::get(format!("https://localhost:{port}/v2/health/live"))
        .body(String::new())
        .unwrap();
    let r = send.send_request(req).await.ok()?;
    assert_eq!(r.status(), 200);
    Some((send, driver))
}

/// What one attack round measured.
struct Round {
    attacked: Vec<Duration>,
    attack_fds: usize,
    attack_rss: u64,
    after_fds: usize,
    after_rss: u64,
}

/// Holds the slowloris sockets and idle connections while the client scores, then lets them go
/// and waits for the daemon's open files to return to idle.
async fn attack_round(
    h: &Harness,
    client: &reqwest::Client,
    key: &str,
    pid: u32,
    idle_fds: usize,
) -> Round {
    let port = h.daemon().tls.port();
    let attack_started = Instant::now();
    let tls_h1 = tls_connector(h, b"http/1.1");
    let tls_h2 = tls_connector(h, b"h2");
    let mut trickling = tokio::task::JoinSet::new();
    for _ in 0..SLOWLORIS / 2 {
        trickling.spawn(trickle_headers(tls_h1.clone(), port));
    }
    let mut stalled = Vec::new();
    for _ in 0..SLOWLORIS / 2 {
        stalled.extend(stall_handshake(port).await);
    }
    let mut idle1 = Vec::new();
    for _ in 0..IDLE / 2 {
        idle1.extend(idle_h1(&tls_h1, port).await);
    }
    let mut idle2 = Vec::new();
    for _ in 0..IDLE / 2 {
        idle2.extend(idle_h2(&tls_h2, port).await);
    }
    let held = (trickling.len(), stalled.len(), idle1.len(), idle2.len());
    assert_eq!(held, (SLOWLORIS / 2, SLOWLORIS / 2, IDLE / 2, IDLE / 2), "sockets held");
    let attacked = score_latencies(h, client, key).await;
    let (attack_fds, attack_rss) = (open_fds(pid), rss_kib(pid));
    let measured_within = attack_started.elapsed();
    assert!(
        measured_within < Duration::from_millis(HEADER_TIMEOUT_MS.min(IDLE_TIMEOUT_MS)),
        "the measurement outlasted the timeouts ({measured_within:?}): the sockets were not all held"
    );

    // The attackers go away.
    trickling.abort_all();
    while trickling.join_next().await.is_some() {}
    drop(stalled);
    drop(idle1);
    for (send, driver) in idle2 {
        drop(send);
        driver.abort();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while open_fds(pid) > idle_fds + 16 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (after_fds, after_rss) = (open_fds(pid), rss_kib(pid));
    Round { attacked, attack_fds, attack_rss, after_fds, after_rss }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_idle_connections_do_not_starve_a_scoring_client() {
    raise_fd_limit();
    let mut h = Harness::new();
    h.env.push(("EDGESERVE_LIMITS__HEADER_TIMEOUT_MS".into(), HEADER_TIMEOUT_MS.to_string()));
    h.env.push(("EDGESERVE_LIMITS__IDLE_TIMEOUT_MS".into(), IDLE_TIMEOUT_MS.to_string()));
    h.start();
    let pid = daemon_pid(&h);
    let (key, _) = h.keys("mlp");
    let client = h.client();
    // Warm up (connection, model, allocator), then the baseline.
    let _ = score_latencies(&h, &client, &key).await;
    let (idle_fds, idle_rss) = (open_fds(pid), rss_kib(pid));
    let baseline = score_latencies(&h, &client, &key).await;

    // Two rounds: the second shows that what the first left allocated is reused, not grown.
    let first = attack_round(&h, &client, &key, pid, idle_fds).await;
    let second = attack_round(&h, &client, &key, pid, idle_fds).await;
    let after = score_latencies(&h, &client, &key).await;
    let Round { attacked, attack_fds, attack_rss, after_fds, after_rss } = first;
    let (b99, a99) = (p(&baseline, 0.99), p(&attacked, 0.99));
    eprintln!(
        "second round: p99 {:?}; fds attacked {}, after {}; RSS attacked {} MiB, after {} MiB",
        p(&second.attacked, 0.99),
        second.attack_fds,
        second.after_fds,
        second.attack_rss / 1024,
        second.after_rss / 1024
    );
    assert!(second.after_fds <= idle_fds + 16, "fds after the second round: {}", second.after_fds);
    assert!(
        second.attack_rss <= attack_rss + 32 * 1024,
        "RSS grew from round to round: {attack_rss} KiB, then {} KiB",
        second.attack_rss
    );
    let ratio = a99.as_secs_f64() / b99.as_secs_f64();
    eprintln!(
        "slow clients: baseline p50 {:?} p99 {:?}; with {SLOWLORIS} slowloris + {IDLE} idle \
         keep-alive held: p50 {:?} p99 {:?} (x{ratio:.2}); after: p99 {:?}; daemon fds idle {idle_fds}, \
         attacked {attack_fds}, after {after_fds}; RSS idle {} MiB, attacked {} MiB, after {} MiB",
        p(&baseline, 0.5),
        b99,
        p(&attacked, 0.5),
        a99,
        p(&after, 0.99),
        idle_rss / 1024,
        attack_rss / 1024,
        after_rss / 1024,
    );
    // The target is 5x; on a loaded 2-core box a few milliseconds of scheduling noise
    // on a sub-millisecond baseline would fail it, hence the 50 ms floor.
    let bound = (b99 * 5).max(b99 + Duration::from_millis(50));
    assert!(a99 <= bound, "attacked p99 {a99:?} over {bound:?} (baseline {b99:?})");
    assert!(
        attack_fds >= idle_fds + SLOWLORIS + IDLE - 50,
        "the daemon did not hold the attack's sockets ({attack_fds} fds)"
    );
    assert!(attack_fds <= idle_fds + SLOWLORIS + IDLE + 64, "fds unbounded: {attack_fds}");
    assert!(after_fds <= idle_fds + 16, "fds did not return to idle: {after_fds} vs {idle_fds}");
    assert!(attack_rss <= idle_rss + 512 * 1024, "RSS {attack_rss} KiB under attack");
    assert!(after_rss <= attack_rss + 16 * 1024, "RSS grew after the attack: {after_rss} KiB");
    // Freed connection buffers go back to the kernel (the daemon trims its heap every 5 s).
    let deadline = Instant::now() + Duration::from_secs(12);
    let mut settled = rss_kib(pid);
    while settled > idle_rss + 16 * 1024 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        settled = rss_kib(pid);
    }
    println!("RSS back to {} MiB (idle {} MiB)", settled / 1024, idle_rss / 1024);
    assert!(
        settled <= idle_rss + 16 * 1024,
        "RSS did not return near idle: {settled} KiB vs {idle_rss} KiB idle"
    );
}

/// The timeouts close held sockets by themselves: a trickled request head at
/// `limits.header_timeout_ms`, a TLS handshake that never ends at the same bound, an HTTP/2
/// connection that never sends a request at the same bound, and idle HTTP/2 and HTTP/1.1
/// keep-alive connections at `limits.idle_timeout_ms` (HTTP/1.1: the header timeout, if shorter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_and_idle_timeouts_close_held_sockets() {
    let mut h = Harness::new();
    h.env.push(("EDGESERVE_LIMITS__HEADER_TIMEOUT_MS".into(), "2000".into()));
    h.env.push(("EDGESERVE_LIMITS__IDLE_TIMEOUT_MS".into(), "4000".into()));
    h.start();
    let port = h.daemon().tls.port();
    let tls_h1 = tls_connector(&h, b"http/1.1");
    let tls_h2 = tls_connector(&h, b"h2");

    let started = Instant::now();
    let trickle = async {
        trickle_headers(tls_h1.clone(), port).await;
        started.elapsed()
    };
    let stalled = async {
        let mut s = stall_handshake(port).await.unwrap();
        let mut buf = [0u8; 64];
        while !matches!(s.read(&mut buf).await, Ok(0) | Err(_)) {}
        started.elapsed()
    };
    let silent_h2 = async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let s = tls_h2.connect(server_name(), tcp).await.unwrap();
        let (_send, conn) = hyper::client::conn::http2::handshake::<_, _, String>(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(s),
        )
        .await
        .unwrap();
        let _ = conn.await;
        started.elapsed()
    };
    let idle2 = async {
        let (_send, driver) = idle_h2(&tls_h2, port).await.unwrap();
        let _ = driver.await;
        started.elapsed()
    };
    let idle1 = async {
        let mut s = idle_h1(&tls_h1, port).await.unwrap();
        let mut buf = [0u8; 64];
        while !matches!(s.read(&mut buf).await, Ok(0) | Err(_)) {}
        started.elapsed()
    };
    let all = async { tokio::join!(trickle, stalled, silent_h2, idle2, idle1) };
    let (trickle, stalled, silent_h2, idle2, idle1) =
        tokio::time::timeout(Duration::from_secs(20), all)
            .await
            .expect("a socket was never closed");
    eprintln!(
        "closed after: trickled head {trickle:?}, stalled handshake {stalled:?}, silent h2 \
         {silent_h2:?}, idle h2 {idle2:?}, idle http/1.1 {idle1:?}"
    );
    let around = |got: Duration, ms: u64| {
        got >= Duration::from_millis(ms - 200) && got <= Duration::from_millis(ms + 3000)
    };
    assert!(around(trickle, 2000), "trickled head closed after {trickle:?}");
    assert!(around(stalled, 2000), "stalled handshake closed after {stalled:?}");
    assert!(around(silent_h2, 2000), "silent h2 closed after {silent_h2:?}");
    assert!(around(idle2, 4000), "idle h2 closed after {idle2:?}");
    // HTTP/1.1 waits at most the header timeout for its next request.
    assert!(around(idle1, 2000), "idle http/1.1 closed after {idle1:?}");
}
