//! Crash durability (SPEC §6 and §8, issue 19): the daemon is `SIGKILL`ed at random moments
//! while a client streams control-plane writes (endpoint create/delete, key regeneration,
//! deployment create/delete, role assignment create/delete), each acknowledgement recorded in a
//! journal here. After every restart: every acknowledged write is there (and every acknowledged
//! delete absent), the one write in flight at the kill is there entirely or not at all, and every
//! served endpoint scores with its latest acknowledged key while a replaced key is refused.
//!
//! `EDGESERVE_DURABILITY_KILLS` (default 100) sets the number of kills and
//! `EDGESERVE_DURABILITY_SEED` replays a run (the seed is printed). Power cuts of a whole box
//! are `images/power-cut.sh`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgeserve_tests::{bin, models_dir, Harness};
use serde_json::{json, Value};

/// At most this many endpoints live at once, so a restart loads few models.
const MAX_ENDPOINTS: usize = 3;
/// The kill comes this long, at most, after the stream starts.
const MAX_KILL_DELAY_MS: u64 = 300;

/// splitmix64: a seeded, reproducible sequence without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What the journal knows of an endpoint's primary key.
#[derive(Clone, Debug, PartialEq)]
enum Key {
    /// Read back after the acknowledged write that made it.
    Known(String),
    /// Regenerated (acknowledged or in flight) but not read back: anything but this old key.
    Not(String),
    /// Created but not read back.
    Unknown,
}

#[derive(Clone, Debug, PartialEq)]
struct Endpoint {
    key: Key,
    deployments: BTreeSet<String>,
    /// The primary key a regeneration (acknowledged or in flight) replaced.
    replaced: Option<String>,
}

/// The control-plane state as the acknowledged writes define it.
#[derive(Clone, Debug, Default, PartialEq)]
struct World {
    endpoints: BTreeMap<String, Endpoint>,
    /// assignee → (id once acknowledged, scope); every assignee is unique to one write.
    assignments: BTreeMap<String, (Option<String>, String)>,
}

#[derive(Clone, Debug)]
enum Op {
    CreateEndpoint(String),
    DeleteEndpoint(String),
    RegenerateKey(String),
    /// `blue` takes all traffic; `green` takes none and may be deleted.
    CreateDeployment(String, &'static str),
    DeleteDeployment(String),
    Assign {
        assignee: String,
        scope: String,
    },
    Unassign {
        assignee: String,
        id: String,
    },
}

impl Op {
    /// The world after this write, as far as it is known before the write answers.
    fn apply(&self, world: &World) -> World {
        let mut w = world.clone();
        match self {
            Op::CreateEndpoint(name) => {
                w.endpoints.insert(
                    name.clone(),
                    Endpoint { key: Key::Unknown, deployments: BTreeSet::new(), replaced: None },
                );
            }
            Op::DeleteEndpoint(name) => {
                w.endpoints.remove(name);
                let scope = format!("/endpoints/{name}");
                w.assignments.retain(|_, (_, s)| *s != scope);
            }
            Op::RegenerateKey(name) => {
                let e = w.endpoints.get_mut(name).unwrap();
                if let Key::Known(old) = &e.key {
                    e.replaced = Some(old.clone());
                    e.key = Key::Not(old.clone());
                }
            }
            Op::CreateDeployment(name, dep) => {
                w.endpoints.get_mut(name).unwrap().deployments.insert(dep.to_string());
            }
            Op::DeleteDeployment(name) => {
                w.endpoints.get_mut(name).unwrap().deployments.remove("green");
            }
            Op::Assign { assignee, scope } => {
                w.assignments.insert(assignee.clone(), (None, scope.clone()));
            }
            Op::Unassign { assignee, .. } => {
                w.assignments.remove(assignee);
            }
        }
        w
    }

    fn args(&self) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        match self {
            Op::CreateEndpoint(n) => s(&["endpoint", "create", "-n", n]),
            Op::DeleteEndpoint(n) => s(&["endpoint", "delete", "-n", n]),
            Op::RegenerateKey(n) => {
                s(&["endpoint", "regenerate-keys", "-n", n, "--key-type", "primary"])
            }
            Op::CreateDeployment(n, "blue") => s(&[
                "deployment",
                "create",
                "-n",
                "blue",
                "-e",
                n,
                "--model",
                "mlp:1",
                "--all-traffic",
            ]),
            Op::CreateDeployment(n, dep) => {
                s(&["deployment", "create", "-n", dep, "-e", n, "--model", "mlp:1"])
            }
            Op::DeleteDeployment(n) => s(&["deployment", "delete", "-n", "green", "-e", n]),
            Op::Assign { assignee, scope } => s(&[
                "role",
                "assignment",
                "create",
                "--assignee",
                assignee,
                "--role",
                "Reader",
                "--scope",
                scope,
            ]),
            Op::Unassign { id, .. } => s(&["role", "assignment", "delete", "--id", id]),
        }
    }
}

/// Picks the next write from the acknowledged world.
fn choose(rng: &mut Rng, w: &World, serial: &mut u64) -> Op {
    *serial += 1;
    let names: Vec<&String> = w.endpoints.keys().collect();
    let pick = |rng: &mut Rng| names[rng.below(names.len() as u64) as usize].clone();
    loop {
        match rng.below(8) {
            0 if w.endpoints.len() < MAX_ENDPOINTS => {
                return Op::CreateEndpoint(format!("e{serial}"))
            }
            1 if w.endpoints.len() == MAX_ENDPOINTS => return Op::DeleteEndpoint(pick(rng)),
            2 | 3 if !names.is_empty() => {
                let name = pick(rng);
                let e = &w.endpoints[&name];
                if matches!(e.key, Key::Known(_)) {
                    return Op::RegenerateKey(name);
                }
            }
            4 if !names.is_empty() => {
                let name = pick(rng);
                let e = &w.endpoints[&name];
                if !e.deployments.contains("blue") {
                    return Op::CreateDeployment(name, "blue");
                }
                if e.deployments.contains("green") {
                    return Op::DeleteDeployment(name);
                }
                return Op::CreateDeployment(name, "green");
            }
            5 | 6 => {
                let scope = if names.is_empty() || rng.below(3) == 0 {
                    "/".to_string()
                } else {
                    format!("/endpoints/{}", pick(rng))
                };
                return Op::Assign { assignee: format!("unix-user:u{serial}"), scope };
            }
            7 => {
                let known: Vec<_> = w
                    .assignments
                    .iter()
                    .filter_map(|(a, (id, _))| Some((a, id.as_ref()?)))
                    .collect();
                if !known.is_empty() {
                    let (a, id) = known[rng.below(known.len() as u64) as usize];
                    return Op::Unassign { assignee: a.clone(), id: id.clone() };
                }
            }
            _ => {}
        }
    }
}

/// One `edgeserve` CLI run against the socket: its JSON answer, or its error.
fn cli(socket: &Path, args: &[String]) -> Result<Value, String> {
    let out = Command::new(bin("edgeserve"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {:?}", out.stdout))
}

fn primary_key(socket: &Path, endpoint: &str) -> Result<String, String> {
    let v =
        cli(socket, &["endpoint".into(), "get-credentials".into(), "-n".into(), endpoint.into()])?;
    v["primaryKey"].as_str().map(String::from).ok_or_else(|| format!("no primaryKey in {v}"))
}

/// The journal the writer keeps: the acknowledged world and the write in flight, if any.
#[derive(Default)]
struct Journal {
    world: World,
    in_flight: Option<(Op, World)>,
    acknowledged: u64,
}

/// Streams writes until one fails after `killed` was set (the kill's victim, left in flight).
fn stream(socket: PathBuf, journal: Arc<Mutex<Journal>>, killed: Arc<AtomicBool>, seed: u64) {
    let mut rng = Rng(seed);
    let mut serial = seed % 1_000_000 * 1000;
    loop {
        let world = journal.lock().unwrap().world.clone();
        let op = choose(&mut rng, &world, &mut serial);
        let mut post = op.apply(&world);
        journal.lock().unwrap().in_flight = Some((op.clone(), post.clone()));
        let answer = match cli(&socket, &op.args()) {
            Ok(answer) => answer,
            Err(_) if killed.load(Ordering::SeqCst) => return,
            Err(e) => panic!("write {op:?} failed with the daemon up: {e}"),
        };
        // Acknowledged. What the answer or a read-back tells is recorded too.
        match &op {
            Op::CreateEndpoint(name) | Op::RegenerateKey(name) => {
                if let Ok(key) = primary_key(&socket, name) {
                    post.endpoints.get_mut(name).unwrap().key = Key::Known(key);
                }
            }
            Op::Assign { assignee, .. } => {
                let id = answer["id"].as_str().expect("assignment id").to_string();
                post.assignments.get_mut(assignee).unwrap().0 = Some(id);
            }
            _ => {}
        }
        let mut j = journal.lock().unwrap();
        j.world = post;
        j.in_flight = None;
        j.acknowledged += 1;
        if killed.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// The state the restarted daemon reports.
struct Actual {
    keys: BTreeMap<String, String>,
    deployments: BTreeMap<String, BTreeSet<String>>,
    assignments: BTreeMap<String, (String, String)>,
}

fn read_actual(socket: &Path) -> Actual {
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let list = cli(socket, &s(&["endpoint", "list"])).unwrap();
    let mut keys = BTreeMap::new();
    let mut deployments = BTreeMap::new();
    for e in list.as_array().unwrap() {
        let name = e["name"].as_str().unwrap().to_string();
        keys.insert(name.clone(), primary_key(socket, &name).unwrap());
        let deps = cli(socket, &s(&["deployment", "list", "-e", &name])).unwrap();
        let names = deps.as_array().unwrap().iter();
        deployments.insert(name, names.map(|d| d["name"].as_str().unwrap().to_string()).collect());
    }
    let mut assignments = BTreeMap::new();
    for a in cli(socket, &s(&["role", "assignment", "list"])).unwrap().as_array().unwrap() {
        if a["builtIn"].as_bool() == Some(true) {
            continue;
        }
        assignments.insert(
            a["assignee"].as_str().unwrap().to_string(),
            (a["id"].as_str().unwrap().to_string(), a["scope"].as_str().unwrap().to_string()),
        );
    }
    Actual { keys, deployments, assignments }
}

/// Whether the actual state is `expected`; the first difference otherwise.
fn compare(expected: &World, actual: &Actual) -> Result<(), String> {
    let names: Vec<&String> = expected.endpoints.keys().collect();
    let actual_names: Vec<&String> = actual.keys.keys().collect();
    if names != actual_names {
        return Err(format!("endpoints {actual_names:?}, expected {names:?}"));
    }
    for (name, e) in &expected.endpoints {
        let key = &actual.keys[name];
        match &e.key {
            Key::Known(k) if k != key => return Err(format!("{name}: not the acknowledged key")),
            Key::Not(old) if old == key => return Err(format!("{name}: the replaced key is back")),
            _ => {}
        }
        if e.deployments != actual.deployments[name] {
            return Err(format!(
                "{name}: deployments {:?}, expected {:?}",
                actual.deployments[name], e.deployments
            ));
        }
    }
    let assignees: Vec<&String> = expected.assignments.keys().collect();
    let actual_assignees: Vec<&String> = actual.assignments.keys().collect();
    if assignees != actual_assignees {
        return Err(format!("role assignments {actual_assignees:?}, expected {assignees:?}"));
    }
    for (assignee, (id, scope)) in &expected.assignments {
        let (actual_id, actual_scope) = &actual.assignments[assignee];
        if id.as_ref().is_some_and(|id| id != actual_id) || scope != actual_scope {
            return Err(format!(
                "{assignee}: {actual_id} at {actual_scope}, expected {id:?} at {scope}"
            ));
        }
    }
    Ok(())
}

/// The world as the restarted daemon holds it, every key known.
fn rebase(actual: &Actual) -> World {
    World {
        endpoints: actual
            .keys
            .iter()
            .map(|(name, key)| {
                let deployments = actual.deployments[name].clone();
                let key = Key::Known(key.clone());
                (name.clone(), Endpoint { key, deployments, replaced: None })
            })
            .collect(),
        assignments: actual
            .assignments
            .iter()
            .map(|(a, (id, scope))| (a.clone(), (Some(id.clone()), scope.clone())))
            .collect(),
    }
}

/// A daemon process started on the harness's config and state dir.
struct Daemon {
    child: Child,
    tls_port: u16,
    logs: Arc<Mutex<Vec<String>>>,
}

fn start(h: &Harness) -> Daemon {
    let mut child = h.edgeserved().stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    let mut tls_port = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                if line.contains("listening") && line.contains("transport=Tls") {
                    let addr = line.split("listen=").nth(1).unwrap().split_whitespace().next();
                    tls_port = addr.and_then(|a| a.rsplit(':').next()?.parse().ok());
                }
                if line.contains("edgeserved ready") {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("edgeserved did not become ready:\n{}", logs.lock().unwrap().join("\n"));
            }
        }
    }
    Daemon { child, tls_port: tls_port.expect("a TLS listener"), logs }
}

#[test]
fn sigkill_during_control_plane_writes_loses_no_acknowledged_write() {
    let kills: u64 = std::env::var("EDGESERVE_DURABILITY_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let seed: u64 = std::env::var("EDGESERVE_DURABILITY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
                as u64
        });
    println!(
        "durability: seed {seed} (EDGESERVE_DURABILITY_SEED={seed} replays it), {kills} kills"
    );
    let began = Instant::now();
    let mut rng = Rng(seed);
    let h = Harness::bare();
    let socket = h.socket();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = h.client_builder().timeout(Duration::from_secs(20)).build().unwrap();
    let body = json!({"data": [[0.5, 0.1, -0.3, 2.0]]});
    let score = |port: u16, endpoint: &str, key: &str| -> (u16, String) {
        rt.block_on(async {
            let url = format!("https://localhost:{port}/api/v1/service/{endpoint}/score");
            let resp = client.post(url).bearer_auth(key).json(&body).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        })
    };

    let mut daemon = start(&h);
    let mlp = models_dir().join("mlp").display().to_string();
    let args = ["model", "register", "-n", "mlp", "-v", "1", "--path", &mlp];
    cli(&socket, &args.map(String::from)).unwrap();
    let mut world = World::default();
    let mut reference: Option<String> = None;
    let (mut acknowledged, mut in_flight_applied, mut in_flight_absent) = (0u64, 0u64, 0u64);
    let mut violations: Vec<String> = Vec::new();
    let mut stale_checks = 0u64;
    let mut all_logs: Vec<String> = Vec::new();

    for kill in 0..kills {
        let journal = Arc::new(Mutex::new(Journal { world: world.clone(), ..Journal::default() }));
        let killed = Arc::new(AtomicBool::new(false));
        let writer = {
            let (socket, journal, killed) = (socket.clone(), journal.clone(), killed.clone());
            let seed = rng.next();
            std::thread::spawn(move || stream(socket, journal, killed, seed))
        };
        std::thread::sleep(Duration::from_millis(rng.below(MAX_KILL_DELAY_MS)));
        killed.store(true, Ordering::SeqCst);
        daemon.child.kill().unwrap();
        daemon.child.wait().unwrap();
        writer.join().expect("the writer panicked");
        all_logs.extend(daemon.logs.lock().unwrap().drain(..));
        let j = std::mem::take(&mut *journal.lock().unwrap());
        acknowledged += j.acknowledged;

        daemon = start(&h);
        let actual = read_actual(&socket);
        let before = j.world;
        let verdict = match (compare(&before, &actual), &j.in_flight) {
            (Ok(()), None) => Ok(()),
            (Ok(()), Some(_)) => {
                in_flight_absent += 1;
                Ok(())
            }
            (Err(e), Some((op, post))) => match compare(post, &actual) {
                Ok(()) => {
                    in_flight_applied += 1;
                    Ok(())
                }
                Err(e2) => Err(format!(
                    "neither before nor after the in-flight {op:?}: {e}; after it: {e2}"
                )),
            },
            (Err(e), None) => Err(e),
        };
        if let Err(e) = verdict {
            violations.push(format!("kill {kill}: {e}"));
        }
        // Scoring with the latest keys; a replaced key is refused.
        for (name, deployments) in &actual.deployments {
            if !deployments.contains("blue") {
                continue;
            }
            let (status, text) = score(daemon.tls_port, name, &actual.keys[name]);
            if status != 200 {
                violations.push(format!("kill {kill}: {name} scored {status}: {text}"));
                continue;
            }
            match &reference {
                None => reference = Some(text),
                Some(r) if *r != text => {
                    violations.push(format!("kill {kill}: {name} answered {text}, not {r}"))
                }
                Some(_) => {}
            }
            let post = j.in_flight.as_ref().map(|(_, p)| p).unwrap_or(&before);
            let replaced: BTreeSet<&String> = [&before, post]
                .iter()
                .filter_map(|w| w.endpoints.get(name)?.replaced.as_ref())
                .filter(|old| **old != actual.keys[name])
                .collect();
            for old in replaced {
                stale_checks += 1;
                let (status, _) = score(daemon.tls_port, name, old);
                if status != 401 {
                    violations.push(format!("kill {kill}: {name}'s replaced key got {status}"));
                }
            }
        }
        world = rebase(&actual);
    }
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    all_logs.extend(daemon.logs.lock().unwrap().drain(..));
    if let Some(line) = all_logs.iter().find(|l| l.contains("esk_")) {
        violations.push(format!("an endpoint key reached the daemon log: {line}"));
    }
    println!(
        "durability: seed {seed}: {kills} SIGKILLs, {acknowledged} acknowledged writes, in-flight \
         write present after {in_flight_applied} and absent after {in_flight_absent} restarts, \
         {stale_checks} replaced keys refused, {} violations, {:.1}s",
        violations.len(),
        began.elapsed().as_secs_f64()
    );
    assert!(violations.is_empty(), "seed {seed}:\n{}", violations.join("\n"));
}
