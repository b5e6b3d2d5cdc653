//! Three daemons in network namespaces behind Debian's HAProxy with the shipped haproxy.cfg (only
//! paths templated), one declared config and keys file for all: a client scoring with a key and
//! with an OIDC token reaches every box; a box stopped mid-load (SIGTERM), started again, a
//! config change rolled out box by box (SIGHUP), and a box taken out with `edgeserve drain` and
//! put back each cost zero failed requests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use edgeserve_tests::fleet::{fleet_file, haproxy_servers, template, Logged};
use edgeserve_tests::netns::{self, Lan};
use edgeserve_tests::{bin, models_dir, Pki};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use nix::sys::signal::Signal;
use serde_json::json;

const BOXES: usize = 3;
const ISSUER: &str = "https://idp.line.test";
const AUDIENCE: &str = "edgeserve-line";
const START: Duration = Duration::from_secs(60);
const SETTLE: Duration = Duration::from_secs(30);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `esk_` + base64url of 32 random bytes: the fleet's shared key format.
fn new_key() -> String {
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut bytes)
        .unwrap();
    format!("esk_{}", b64(&bytes))
}

/// One box's config: its own state, socket, certificate and addresses; the shared declarations.
fn box_config(dir: &Path, i: usize, traffic: &str, green: bool) -> String {
    let models = models_dir();
    let (d, m, ip) = (dir.display(), models.display(), Lan::box_ip(i));
    let mut text = format!(
        r#"[daemon]
state_dir = "{d}/box{i}/state"
control_socket = "{d}/box{i}/control.sock"
[tls]
listen = ["{ip}:8443"]
cert_pem = "{d}/box{i}/cert.pem"
key_pem = "{d}/box{i}/key.pem"
cname = "box{i}.line.local"
[plain]
listen = ["127.0.0.1:0"]
[metrics]
listen = "{ip}:9464"
[oidc]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
jwks_file = "{d}/jwks.json"
[[model]]
name = "mlp"
version = "1"
path = "{m}/mlp"
[[endpoint]]
name = "line"
keys_file = "{d}/keys.json"
traffic = {{ {traffic} }}
[[deployment]]
name = "blue"
endpoint = "line"
model = "mlp:1"
[[endpoint]]
name = "line-oidc"
auth_mode = "oidc"
traffic = {{ blue = 100 }}
[[deployment]]
name = "blue"
endpoint = "line-oidc"
model = "mlp:1"
[[role_assignment]]
assignee = "oidc:line-client"
role = "Scorer"
scope = "/endpoints/line-oidc"
"#
    );
    if green {
        text.push_str("[[deployment]]\nname = \"green\"\nendpoint = \"line\"\nmodel = \"mlp:1\"\n");
    }
    text
}

/// The test's identity provider: an ES256 key, its JWKS, and a token for `line-client`.
fn idp(dir: &Path) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let raw = key.public_key_raw();
    let jwks = json!({"keys": [{"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256",
        "crv": "P-256", "x": b64(&raw[1..33]), "y": b64(&raw[33..65])}]});
    std::fs::write(dir.join("jwks.json"), jwks.to_string()).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "line-client", "iat": now,
        "nbf": now, "exp": now + 900});
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec-1".into());
    let pem = key.serialize_pem();
    encode(&header, &claims, &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()).unwrap()
}

/// The lan, its daemons and HAProxy. Dropped in field order: processes before namespaces.
struct Fleet {
    boxes: Vec<Logged>,
    haproxy: Logged,
    dir: tempfile::TempDir,
    lan: Lan,
    pki: Pki,
    key: String,
    token: String,
}

impl Fleet {
    fn config_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("box{i}/edgeserve.toml"))
    }

    fn stats_socket(&self) -> PathBuf {
        self.dir.path().join("haproxy/admin.sock")
    }

    fn start_box(dir: &Path, lan: &Lan, i: usize) -> Logged {
        let mut cmd = Lan::command(&lan.boxes[i - 1], &bin("edgeserved"));
        cmd.arg("--config")
            .arg(dir.join(format!("box{i}/edgeserve.toml")))
            .env("CREDENTIALS_DIRECTORY", dir.join(format!("box{i}/creds")))
            .env("EDGESERVE_LOG", "info,edgeserve::traffic=info");
        Logged::spawn(&format!("box{i}"), cmd)
    }

    /// Waits until HAProxy sees every box `want`s (UP / DOWN).
    fn wait_servers(&self, want: &[(usize, &str)]) {
        let deadline = Instant::now() + SETTLE;
        loop {
            let seen = haproxy_servers(&self.stats_socket(), "edgeserve_boxes").unwrap_or_default();
            if want.iter().all(|(i, s)| seen.get(&format!("box{i}")).is_some_and(|v| v == s)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "HAProxy never saw {want:?}; it sees {seen:?}\nHAProxy:\n{}",
                self.haproxy.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn new() -> Fleet {
        let dir = tempfile::Builder::new().prefix("edgeserve-fleet-").tempdir().unwrap();
        let d = dir.path();
        let lan = Lan::new(BOXES);
        let pki = Pki::generate(&["line.local"]);
        let key = new_key();
        let keys = json!({"primaryKey": key, "secondaryKey": new_key()});
        std::fs::write(d.join("keys.json"), keys.to_string()).unwrap();
        let token = idp(d);
        let mut boxes = Vec::new();
        for i in 1..=BOXES {
            let b = d.join(format!("box{i}"));
            std::fs::create_dir_all(b.join("creds")).unwrap();
            let (cert, k) =
                pki.leaf(&[&format!("box{i}.line.local"), &Lan::box_ip(i)], Default::default());
            std::fs::write(b.join("cert.pem"), cert).unwrap();
            std::fs::write(b.join("key.pem"), k).unwrap();
            std::fs::write(b.join("edgeserve.toml"), box_config(d, i, "blue = 100", false))
                .unwrap();
            boxes.push(Fleet::start_box(d, &lan, i));
        }
        for b in &mut boxes {
            b.wait_for("edgeserved ready", START);
        }

        let h = d.join("haproxy");
        std::fs::create_dir_all(&h).unwrap();
        std::fs::write(h.join("fleet.pem"), format!("{}{}", pki.cert_pem, pki.key_pem)).unwrap();
        std::fs::write(h.join("boxes-ca.pem"), &pki.ca_pem).unwrap();
        let hd = h.display();
        let cfg = template(
            "haproxy.cfg",
            &fleet_file("haproxy.cfg"),
            &[
                ("/etc/haproxy/edgeserve/fleet.pem", format!("{hd}/fleet.pem")),
                ("/etc/haproxy/edgeserve/boxes-ca.pem", format!("{hd}/boxes-ca.pem")),
                ("/run/haproxy/admin.sock", format!("{hd}/admin.sock")),
                // Its log lines to its stderr, kept by the test.
                ("/dev/log", "stderr".to_string()),
            ],
        );
        std::fs::write(h.join("haproxy.cfg"), cfg).unwrap();
        let mut cmd = Lan::command(&lan.lan, Path::new("/usr/sbin/haproxy"));
        cmd.arg("-db").arg("-f").arg(h.join("haproxy.cfg"));
        let haproxy = Logged::spawn("haproxy", cmd);
        let fleet = Fleet { boxes, haproxy, dir, lan, pki, key, token };
        fleet.wait_servers(&[(1, "UP"), (2, "UP"), (3, "UP")]);
        fleet
    }

    /// Scoring requests each box has answered 200 so far (its traffic log), by endpoint.
    fn served(&self, i: usize, endpoint: &str) -> usize {
        self.boxes[i - 1].count(&[
            "edgeserve::traffic",
            &format!("endpoint={endpoint} "),
            "status=200",
        ])
    }

    fn served_all(&self) -> BTreeMap<String, [usize; 2]> {
        (1..=BOXES)
            .map(|i| (format!("box{i}"), [self.served(i, "line"), self.served(i, "line-oidc")]))
            .collect()
    }

    /// Runs the CLI against box `i`, failing the test if it fails.
    fn cli(&self, i: usize, args: &[&str]) -> String {
        let out = std::process::Command::new(bin("edgeserve"))
            .arg("--socket")
            .arg(self.dir.path().join(format!("box{i}/control.sock")))
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "edgeserve {args:?} on box{i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// 200s box `i`'s metrics count for endpoint `line`, deployment `deployment`.
    fn metric_served(&self, i: usize, deployment: &str) -> u64 {
        let addr = format!("{}:9464", Lan::box_ip(i));
        let (status, text) =
            netns::in_ns(&self.lan.lan, move || netns::http_get(&addr, "/metrics")).unwrap();
        assert_eq!(status, 200, "box{i} /metrics answered {status}");
        let labels =
            format!("endpoint=\"line\",deployment=\"{deployment}\",code=\"200\",mirror=\"false\"");
        text.lines()
            .filter(|l| l.starts_with("edgeserve_requests_total{") && l.contains(&labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }
}

/// Requests running through HAProxy until stopped: alternately the key endpoint and the OIDC one.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Load {
    fn start(f: &Fleet, concurrency: usize) -> Load {
        let (stop, ok, failed) = (Arc::default(), Arc::default(), Arc::default());
        let failures = Arc::default();
        let (ns, ca, key, token) =
            (f.lan.lan.clone(), f.pki.ca_pem.clone(), f.key.clone(), f.token.clone());
        let (s, o, x, fl) =
            (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed), Arc::clone(&failures));
        let thread = std::thread::spawn(move || {
            netns::enter(&ns);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(run_load(concurrency, ca, key, token, s, o, x, fl));
        });
        Load { stop, ok, failed, failures, thread }
    }

    fn ok(&self) -> u64 {
        self.ok.load(Ordering::SeqCst)
    }

    /// Waits until `n` more requests have succeeded (or `timeout`).
    fn wait_ok(&self, n: u64, timeout: Duration) {
        let (start, deadline) = (self.ok(), Instant::now() + timeout);
        while self.ok() < start + n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            self.ok() >= start + n,
            "the load made no progress: {} ok, {:?}",
            self.ok(),
            self.failures.lock().unwrap()
        );
    }

    /// Stops the load: (succeeded, failed, the first failures).
    fn finish(self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::SeqCst), self.failed.load(Ordering::SeqCst), failures)
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_load(
    concurrency: usize,
    ca: String,
    key: String,
    token: String,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
) {
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .resolve("line.local", format!("{}:8443", Lan::GATEWAY).parse().unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..concurrency {
        let (client, key, token) = (client.clone(), key.clone(), token.clone());
        let (stop, ok, failed, failures) =
            (stop.clone(), ok.clone(), failed.clone(), failures.clone());
        tasks.spawn(async move {
            let mut n = t;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let (endpoint, bearer) =
                    if n % 2 == 0 { ("line", &key) } else { ("line-oidc", &token) };
                let url = format!("https://line.local:8443/api/v1/service/{endpoint}/score");
                let sent = client
                    .post(&url)
                    .bearer_auth(bearer)
                    .json(&json!({"data": [[1, 2, 3, 4]]}))
                    .send()
                    .await;
                let outcome = match sent {
                    Ok(r) if r.status() == 200 => {
                        r.bytes().await.map(|_| ()).map_err(|e| format!("{endpoint}: body: {e}"))
                    }
                    Ok(r) => Err(format!(
                        "{endpoint}: {} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => Err(format!("{endpoint}: {e:?}")),
                };
                match outcome {
                    Ok(()) => ok.fetch_add(1, Ordering::SeqCst),
                    Err(e) => {
                        let mut f = failures.lock().unwrap();
                        if f.len() < 10 {
                            f.push(e);
                        }
                        failed.fetch_add(1, Ordering::SeqCst)
                    }
                };
                // Room on a 2-core machine for the daemons and HAProxy.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Per-box 200s between two `served_all` snapshots, as "box1 k/o" pairs (key, OIDC).
fn delta(
    before: &BTreeMap<String, [usize; 2]>,
    after: &BTreeMap<String, [usize; 2]>,
) -> BTreeMap<String, [usize; 2]> {
    after
        .iter()
        .map(|(b, [k, o])| {
            let [k0, o0] = before.get(b).copied().unwrap_or([0, 0]);
            (b.clone(), [k.saturating_sub(k0), o.saturating_sub(o0)])
        })
        .collect()
}

/// What HAProxy's request log says: requests, how many it retried, how many ended abnormally
/// (a termination state other than `----`).
fn haproxy_summary(lines: &[String]) -> String {
    let (mut requests, mut retried, mut abnormal) = (0, 0, Vec::new());
    for line in lines.iter().filter(|l| l.contains("edgeserve_boxes/")) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // `… STATUS BYTES - - TERM act/fe/be/srv/RETRIES …`
        let Some(w) = fields.windows(2).find(|w| {
            w[0].len() == 4
                && w[1].split('/').count() == 5
                && w[1].split('/').all(|n| n.trim_start_matches('+').parse::<u32>().is_ok())
        }) else {
            continue;
        };
        let (term, conns) = (w[0], w[1]);
        requests += 1;
        if !conns.ends_with("/0") {
            retried += 1;
        }
        if term != "----" && abnormal.len() < 5 {
            abnormal.push(line.clone());
        }
    }
    format!("HAProxy logged {requests} requests, {retried} retried, abnormal endings: {abnormal:?}")
}

#[test]
fn three_boxes_behind_haproxy_lose_no_request_to_stop_restart_rolling_reload_or_drain() {
    let t0 = Instant::now();
    let mut f = Fleet::new();
    let mut report = Vec::new();

    // 1. Every box serves both credentials.
    let before = f.served_all();
    let load = Load::start(&f, 3);
    load.wait_ok(150, SETTLE);
    let (ok, failed, failures) = load.finish();
    std::thread::sleep(Duration::from_millis(200));
    let spread = delta(&before, &f.served_all());
    report.push(format!("spread: {ok} ok, {failed} failed, per box [key, oidc] {spread:?}"));
    assert_eq!(failed, 0, "requests failed through HAProxy: {failures:?}");
    for (b, [k, o]) in &spread {
        assert!(
            *k > 0 && *o > 0,
            "{b} did not serve both the key and the OIDC endpoint: {spread:?}"
        );
    }
    for i in 1..=BOXES {
        assert!(f.metric_served(i, "blue") > 0, "box{i}'s /metrics counts no 200 on line/blue");
    }

    // 2. box2 stopped mid-load (SIGTERM): readiness 503, HAProxy marks it down, it drains.
    let before = f.served_all();
    let load = Load::start(&f, 3);
    load.wait_ok(30, SETTLE);
    let stopped = Instant::now();
    f.boxes[1].signal(Signal::SIGTERM);
    f.wait_servers(&[(2, "DOWN")]);
    let down_after = stopped.elapsed();
    let served_while_draining = f.served(2, "line") + f.served(2, "line-oidc");
    let status = f.boxes[1].wait_exit(Duration::from_secs(40));
    assert!(
        status.success(),
        "box2 exited with {status} on SIGTERM:\n{}",
        f.boxes[1].lines().join("\n")
    );
    load.wait_ok(50, SETTLE);
    let (ok, failed, failures) = load.finish();
    let during = delta(&before, &f.served_all());
    report.push(format!(
        "stop box2: {ok} ok, {failed} failed; HAProxy saw it DOWN after {:.1} s; per box {during:?}; box2 total at DOWN {served_while_draining}",
        down_after.as_secs_f64()
    ));
    assert_eq!(failed, 0, "requests failed while box2 stopped: {failures:?}");

    // 3. box2 started again rejoins.
    let old = std::mem::replace(&mut f.boxes[1], Fleet::start_box(f.dir.path(), &f.lan, 2));
    drop(old);
    f.boxes[1].wait_for("edgeserved ready", START);
    f.wait_servers(&[(1, "UP"), (2, "UP"), (3, "UP")]);
    let before = f.served_all();
    let load = Load::start(&f, 3);
    load.wait_ok(150, SETTLE);
    let (ok, failed, failures) = load.finish();
    std::thread::sleep(Duration::from_millis(200));
    let rejoin = delta(&before, &f.served_all());
    report.push(format!("rejoin box2: {ok} ok, {failed} failed, per box {rejoin:?}"));
    assert_eq!(failed, 0, "requests failed after box2 rejoined: {failures:?}");
    assert!(
        rejoin["box2"][0] + rejoin["box2"][1] > 0,
        "box2 served nothing after it rejoined: {rejoin:?}"
    );

    // 4. A config change (deployment green, half the traffic) rolled out box by box (SIGHUP).
    let before = f.served_all();
    let load = Load::start(&f, 3);
    load.wait_ok(30, SETTLE);
    for i in 1..=BOXES {
        std::fs::write(
            f.config_path(i),
            box_config(f.dir.path(), i, "blue = 50, green = 50", true),
        )
        .unwrap();
        f.boxes[i - 1].signal(Signal::SIGHUP);
        let deadline = Instant::now() + START;
        loop {
            let shown: serde_json::Value =
                serde_json::from_str(&f.cli(i, &["endpoint", "show", "-n", "line"])).unwrap();
            if shown["traffic"]["green"] == 50 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "box{i} never applied the new traffic: {shown}\n{}",
                f.boxes[i - 1].lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        f.wait_servers(&[(i, "UP")]);
        load.wait_ok(20, SETTLE);
    }
    load.wait_ok(60, SETTLE);
    let (ok, failed, failures) = load.finish();
    let rolled = delta(&before, &f.served_all());
    report.push(format!("rolling reload: {ok} ok, {failed} failed, per box {rolled:?}"));
    assert_eq!(failed, 0, "requests failed during the rolling reload: {failures:?}");
    for i in 1..=BOXES {
        assert!(f.metric_served(i, "green") > 0, "box{i} never served the new deployment green");
    }

    // 5. `edgeserve drain` takes box3 out of the balancer without stopping it; --cancel puts it back.
    let load = Load::start(&f, 3);
    load.wait_ok(30, SETTLE);
    f.cli(3, &["drain"]);
    f.wait_servers(&[(3, "DOWN")]);
    let at_down = f.served(3, "line") + f.served(3, "line-oidc");
    load.wait_ok(100, SETTLE);
    let while_drained = f.served(3, "line") + f.served(3, "line-oidc") - at_down;
    f.cli(3, &["drain", "--cancel"]);
    f.wait_servers(&[(3, "UP")]);
    load.wait_ok(30, SETTLE);
    let (ok, failed, failures) = load.finish();
    report.push(format!(
        "drain box3: {ok} ok, {failed} failed; box3 served {while_drained} while HAProxy had it DOWN"
    ));
    assert_eq!(failed, 0, "requests failed while box3 was drained: {failures:?}");

    for b in &f.boxes {
        for (what, marker) in [("an endpoint key", "esk_"), ("a token", "eyJ")] {
            let lines = b.lines();
            let leak = lines.iter().find(|l| l.contains(marker));
            assert!(leak.is_none(), "{what} reached {}'s log: {leak:?}", b.name);
        }
    }
    report.push(haproxy_summary(&f.haproxy.lines()));
    report.push(format!("wall time {:.1} s", t0.elapsed().as_secs_f64()));
    println!("fleet through HAProxy:\n  {}", report.join("\n  "));
}
