//! The shipped fleet files, each checked with its real tool: `haproxy -c` on both HAProxy
//! configs, PyYAML on the Prometheus files, `ansible-playbook --check` on the playbook, and the
//! Grafana dashboard's shape and PromQL metric names against a live daemon's `/metrics`.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use edgeserve_tests::fleet::{fleet_dir, fleet_file, py_venv, template};
use edgeserve_tests::{run_to_exit, Harness};
use serde_json::{json, Value};

const TOOL_TIMEOUT: Duration = Duration::from_secs(180);

/// The seven metrics of SPEC §7, as the exposition names their series.
const SPEC_METRICS: [&str; 7] = [
    "edgeserve_requests_total",
    "edgeserve_request_duration_seconds",
    "edgeserve_auth_failures_total",
    "edgeserve_queue_depth",
    "edgeserve_batch_size",
    "edgeserve_device_up",
    "edgeserve_tls_cert_expiry_timestamp_seconds",
];

const PROMQL_KEYWORDS: [&str; 11] = [
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
];

/// PromQL's aggregation operators: `sum by (x) (…)` puts a modifier before the parenthesis.
const PROMQL_AGGREGATIONS: [&str; 12] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];

/// Text with every `open`…`close` span (not nested) cut out.
fn cut(text: &str, open: char, close: char) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in text.chars() {
        match (inside, c) {
            (false, c) if c == open => inside = true,
            (true, c) if c == close => inside = false,
            (false, c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// The metric names a PromQL expression (with Grafana variables) selects.
fn promql_metrics(expr: &str) -> BTreeSet<String> {
    // String literals first (they may hold braces), then label matchers and ranges.
    let text = cut(&cut(&cut(expr, '"', '"'), '{', '}'), '[', ']');
    let chars: Vec<char> = text.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut after_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        if c == '$' {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            continue;
        }
        if c == '(' && after_grouping {
            // `by (label, …)`: label names, not metrics.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            after_grouping = false;
            continue;
        }
        if !(c.is_ascii_alphabetic() || c == '_' || c == ':') {
            if !c.is_whitespace() {
                after_grouping = false;
            }
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
        {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let next = chars[i..].iter().find(|c| !c.is_whitespace());
        if ["by", "without", "on", "ignoring", "group_left", "group_right"].contains(&word.as_str())
        {
            after_grouping = true;
        } else if next != Some(&'(')
            && !PROMQL_KEYWORDS.contains(&word.as_str())
            && !PROMQL_AGGREGATIONS.contains(&word.as_str())
        {
            names.insert(word);
        }
    }
    names
}

/// The selector inside Grafana's `label_values(selector, label)`, or the query itself.
fn variable_selector(query: &str) -> String {
    match query.trim().strip_prefix("label_values(").and_then(|q| q.strip_suffix(')')) {
        Some(args) => args.rsplit_once(',').map_or("", |(selector, _)| selector).to_string(),
        None => query.to_string(),
    }
}

#[test]
fn promql_metric_names_are_found() {
    let expr = r#"histogram_quantile(0.99, sum by (le, instance) (rate(edgeserve_request_duration_seconds_bucket{job="$job", x=~"a{b}"}[$__rate_interval]))) / on(instance) group_left foo:bar + up offset 5m + count without (job) (other)"#;
    let names: Vec<String> = promql_metrics(expr).into_iter().collect();
    assert_eq!(names, ["edgeserve_request_duration_seconds_bucket", "foo:bar", "other", "up"]);
    assert_eq!(
        variable_selector("label_values(edgeserve_device_up{job=\"$job\"}, instance)"),
        "edgeserve_device_up{job=\"$job\"}"
    );
}

/// Every PromQL query of the dashboard: panel targets and template variables.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?");
            queries.push((title.to_string(), target["expr"].as_str().unwrap_or("").to_string()));
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if var["type"] == "query" {
            let q = var["query"]["query"].as_str().or(var["query"].as_str()).unwrap_or("");
            queries.push((format!("variable {}", var["name"]), variable_selector(q)));
        }
    }
    queries
}

/// Checks the dashboard has the shape Grafana's dashboard schema requires.
fn check_shape(d: &Value) {
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()), "dashboard needs a uid");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()), "dashboard needs a title");
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "dashboard needs schemaVersion");
    let panels = d["panels"].as_array().expect("dashboard needs a panels array");
    assert!(panels.len() > 5, "dashboard has only {} panels", panels.len());
    let mut ids = BTreeSet::new();
    for p in panels {
        let title = p["title"].as_str().expect("every panel needs a title");
        assert!(
            ids.insert(p["id"].as_u64().expect("every panel needs an id")),
            "duplicate id at {title}"
        );
        for k in ["h", "w", "x", "y"] {
            assert!(p["gridPos"][k].is_u64(), "panel {title} needs gridPos.{k}");
        }
        assert!(p["type"].is_string(), "panel {title} needs a type");
        if p["type"] == "row" {
            continue;
        }
        let targets =
            p["targets"].as_array().unwrap_or_else(|| panic!("panel {title} needs targets"));
        assert!(!targets.is_empty(), "panel {title} has no targets");
        for t in targets {
            assert!(t["refId"].is_string(), "a target of {title} has no refId");
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "a target of {title} has no expr"
            );
        }
    }
}

/// The series names in a Prometheus text exposition.
fn exported_series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn grafana_dashboard_queries_name_metrics_a_live_daemon_exports() {
    let dashboard: Value = serde_json::from_str(&fleet_file("grafana-dashboard.json"))
        .expect("grafana-dashboard.json is not JSON");
    check_shape(&dashboard);

    let mut h = Harness::new();
    h.start();
    let (key, _) = h.keys("mlp");
    let client = h.client();
    let body = json!({"data": [[1, 2, 3, 4]]});
    let ok = client.post(h.score_url("mlp")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(ok.status(), 200, "scoring with the key failed");
    let refused = client.post(h.score_url("mlp")).json(&body).send().await.unwrap();
    assert_eq!(refused.status(), 401, "scoring without a credential was not refused");
    let exported = exported_series(&h.metrics().await);

    let mut used = BTreeSet::new();
    for (where_, expr) in dashboard_queries(&dashboard) {
        for name in promql_metrics(&expr) {
            assert!(
                exported.contains(&name),
                "{where_}: {name} is not a series the daemon exports (in {expr:?}); it exports {exported:?}"
            );
            used.insert(name);
        }
    }
    let base = |n: &str| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .fold(n.to_string(), |n, s| n.strip_suffix(s).unwrap_or(&n).to_string())
    };
    let used_bases: BTreeSet<String> = used.iter().map(|n| base(n)).collect();
    for m in SPEC_METRICS {
        assert!(used_bases.contains(m), "the dashboard shows nothing of {m} (it uses {used:?})");
    }
    println!(
        "dashboard: {} queries over {} series, all exported",
        dashboard_queries(&dashboard).len(),
        used.len()
    );
}

/// A shipped HAProxy config with its certificate and socket paths moved into `dir`.
fn haproxy_config_in(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let d = dir.display();
    let mut replacements = vec![
        ("/etc/haproxy/edgeserve/boxes-ca.pem", format!("{d}/boxes-ca.pem")),
        ("/run/haproxy/admin.sock", format!("{d}/admin.sock")),
    ];
    if name == "haproxy.cfg" {
        replacements.push(("/etc/haproxy/edgeserve/fleet.pem", format!("{d}/fleet.pem")));
    }
    let text = template(name, &fleet_file(name), &replacements);
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn shipped_haproxy_configs_pass_haproxy_check() {
    let dir = tempfile::tempdir().unwrap();
    let pki = edgeserve_tests::Pki::generate(&["line.local"]);
    std::fs::write(dir.path().join("boxes-ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(dir.path().join("fleet.pem"), format!("{}{}", pki.cert_pem, pki.key_pem))
        .unwrap();
    for name in ["haproxy.cfg", "haproxy-passthrough.cfg"] {
        let cfg = haproxy_config_in(dir.path(), name);
        let mut cmd = Command::new("haproxy");
        cmd.arg("-c").arg("-f").arg(&cfg);
        let out = run_to_exit(cmd, TOOL_TIMEOUT);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "haproxy -c refused {name}:\n{all}");
        assert!(!all.contains("[WARNING]"), "haproxy -c warns about {name}:\n{all}");
    }
}

#[test]
fn prometheus_files_parse_and_list_boxes_by_file_sd() {
    let script = r#"
import sys, yaml
d = sys.argv[1]
cfg = yaml.safe_load(open(d + "/prometheus.yml"))
jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
assert set(jobs) == {"edgeserve", "haproxy"}, jobs.keys()
for name, target_file in [("edgeserve", "edgeserve-targets.yml"), ("haproxy", "haproxy-targets.yml")]:
    files = [f for sd in jobs[name]["file_sd_configs"] for f in sd["files"]]
    assert files == ["/etc/prometheus/file_sd/" + target_file], files
    groups = yaml.safe_load(open(d + "/" + target_file))
    assert groups and all(g["targets"] and all(":" in t for t in g["targets"]) for g in groups), groups
    print(name, sum(len(g["targets"]) for g in groups), "targets")
"#;
    let mut cmd = Command::new(py_venv().join("bin/python"));
    cmd.arg("-c").arg(script).arg(fleet_dir());
    let out = run_to_exit(cmd, TOOL_TIMEOUT);
    assert!(
        out.status.success(),
        "the Prometheus files do not check:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn ansible_playbook_runs_in_check_mode_against_localhost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |name: &str, text: &str| {
        std::fs::write(d.join(name), text).unwrap();
        d.join(name).display().to_string()
    };
    // Stand-ins: in check mode nothing is installed or written.
    let deb = write("edgeserve.deb", "not a package: check mode only compares files\n");
    let keys = write("keys.json", r#"{"primaryKey":"esk_check","secondaryKey":"esk_mode"}"#);
    let jwks = write("jwks.json", r#"{"keys":[]}"#);
    let inventory = write(
        "inventory.ini",
        "[edgeserve]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3 ansible_become=false\n",
    );
    let venv = py_venv();
    let mut cmd = Command::new(venv.join("bin/ansible-playbook"));
    cmd.args(["--check", "--diff", "-i", &inventory])
        .arg(fleet_dir().join("ansible/rollout.yml"))
        .args(["-e", &format!("edgeserve_deb={deb}"), "-e", &format!("edgeserve_keys_src={keys}")])
        .args([
            "-e",
            &format!("edgeserve_jwks_src={jwks}"),
            "-e",
            "edgeserve_cname=box1.line.local",
        ])
        .args([
            "-e",
            "edgeserve_oidc_issuer=https://idp.test",
            "-e",
            "edgeserve_oidc_audience=line",
        ])
        .env("ANSIBLE_HOME", d.join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", d.join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .current_dir(d);
    let out = run_to_exit(cmd, TOOL_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ansible-playbook --check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recap =
        stdout.lines().find(|l| l.starts_with("localhost") && l.contains("failed=")).unwrap_or("");
    assert!(
        recap.contains("failed=0") && !recap.contains("changed=0"),
        "unexpected recap: {recap}\n{stdout}"
    );
    for task in [
        "The shared endpoint keys",
        "The config, checked by the daemon",
        "keys_file = \"/etc/edgeserve/keys/line.json\"",
    ] {
        assert!(stdout.contains(task), "check mode did not show {task:?}:\n{stdout}");
    }
    println!("ansible-playbook --check: {recap}");
}

#[test]
fn ansible_config_template_renders_a_config_the_daemon_checks_and_plans() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rendered = d.join("rendered.toml");
    let mut cmd = Command::new(py_venv().join("bin/ansible"));
    cmd.args(["localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.template"])
        .arg("-a")
        .arg(format!(
            "src={} dest={}",
            fleet_dir().join("ansible/templates/edgeserve.toml.j2").display(),
            rendered.display()
        ))
        .args([
            "-e",
            "ansible_python_interpreter=/usr/bin/python3",
            "-e",
            "edgeserve_cname=box1.line.local",
        ])
        .args([
            "-e",
            "edgeserve_jwks_src=jwks.json",
            "-e",
            "edgeserve_oidc_issuer=https://idp.test",
        ])
        .args(["-e", "edgeserve_oidc_audience=line"])
        .env("ANSIBLE_HOME", d.join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", d.join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1");
    let out = run_to_exit(cmd, TOOL_TIMEOUT);
    assert!(
        out.status.success(),
        "ansible template failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // What the playbook pushes to /etc/edgeserve, laid out under the temp folder instead.
    let etc = d.join("etc");
    for sub in ["tls", "keys", "oidc", "models"] {
        std::fs::create_dir_all(etc.join(sub)).unwrap();
    }
    let pki = edgeserve_tests::Pki::generate(&["box1.line.local"]);
    pki.write(&etc.join("tls"));
    // Two distinct well-formed keys: 32 bytes are 43 base64url characters, the last one
    // carrying 4 bits (A, Q, g or w).
    let key = |last: &str| format!("esk_{}{last}", "A".repeat(42));
    let keys = json!({"primaryKey": key("Q"), "secondaryKey": key("g")});
    std::fs::write(etc.join("keys/line.json"), keys.to_string()).unwrap();
    std::fs::write(etc.join("oidc/jwks.json"), r#"{"keys":[]}"#).unwrap();
    let mlp = edgeserve_tests::models_dir().join("mlp");
    std::os::unix::fs::symlink(mlp.canonicalize().unwrap(), etc.join("models/defects")).unwrap();
    let text = std::fs::read_to_string(&rendered).unwrap();
    let config = d.join("edgeserve.toml");
    std::fs::write(&config, text.replace("/etc/edgeserve/", &format!("{}/", etc.display())))
        .unwrap();

    let mut check = Command::new(edgeserve_tests::bin("edgeserved"));
    check.arg("--check-config").arg("--config").arg(&config);
    let out = run_to_exit(check, TOOL_TIMEOUT);
    // The plan and the verdict, wherever the daemon prints them.
    let stdout =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "edgeserved --check-config refused the rendered template:\n{stdout}\n{text}"
    );
    for line in [
        "create endpoint defects (auth_mode key, credentials from the declared files)",
        "create role assignment oidc:line-client Scorer /endpoints/defects-oidc",
        "configuration OK",
    ] {
        assert!(stdout.contains(line), "the plan lacks {line:?}:\n{stdout}");
    }
    print!("{stdout}");
}
