//! The README's configuration reference is what `edgeserved --print-default-config` prints, and
//! `daemon.master_key` decides where the master key lives.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use edgeserve_tests::routes::{routes_in, without_parameter_names};
use edgeserve_tests::{bin, run_to_exit, Harness};

fn readme() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(path).unwrap()
}

fn print_default_config() -> String {
    let mut cmd = Command::new(bin("edgeserved"));
    cmd.arg("--print-default-config");
    let out = run_to_exit(cmd, Duration::from_secs(30));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The first ```toml block after the "## Configuration reference" heading.
fn readme_reference_block(readme: &str) -> &str {
    let section = readme
        .find("\n## Configuration reference\n")
        .map(|at| &readme[at..])
        .expect("README has no \"## Configuration reference\" section");
    let start = section.find("```toml\n").expect("no ```toml block in the reference") + 8;
    let end = section[start..].find("\n```").expect("unterminated ```toml block") + start;
    &section[start..end]
}

#[test]
fn readme_reference_is_the_printed_default_config() {
    let printed = print_default_config();
    let readme = readme();
    let block = readme_reference_block(&readme);
    if block.trim() != printed.trim() {
        let first = block
            .lines()
            .zip(printed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| block.lines().count().min(printed.lines().count()));
        panic!(
            "README's configuration reference differs from `edgeserved --print-default-config` \
             at line {}: paste the output into the ```toml block.\nREADME:  {:?}\nprinted: {:?}",
            first + 1,
            block.lines().nth(first),
            printed.lines().nth(first)
        );
    }
    for key in ["master_key", "control_socket_mode", "auth_failures_per_minute", "[[deployment]]"] {
        assert!(printed.contains(key), "{key} missing from the reference");
    }
}

#[test]
fn the_printed_default_config_checks_ok() {
    // The printed defaults parse with the daemon's loader; only the TLS files are the box's own.
    let h = Harness::bare();
    let d = h.dir.path().display();
    let text = print_default_config()
        .replace("\"/etc/edgeserve/tls/cert.pem\"", &format!("\"{d}/tls/cert.pem\""))
        .replace("\"/etc/edgeserve/tls/key.pem\"", &format!("\"{d}/tls/key.pem\""))
        .replace("cname = \"edge-box.local\"", "cname = \"localhost\"");
    let path = h.write_file("printed.toml", &text);
    let mut cmd = Command::new(bin("edgeserved"));
    cmd.args(["--config", &path, "--check-config"]);
    let out = run_to_exit(cmd, Duration::from_secs(30));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn readme_links_stay_inside_the_repository() {
    let readme = readme();
    assert!(!readme.contains("../"), "README links outside the repository");
    assert!(!readme.contains("SPEC.md"), "README sends readers to SPEC.md, which is not in it");
}

#[test]
fn an_explicit_master_key_path_is_used() {
    let mut h = Harness::bare();
    let key = h.dir.path().join("keys/edge-master.key");
    let line = format!("[daemon]\nmaster_key = \"{}\"\n", key.display());
    h.edit_config(|t| t.replacen("[daemon]\n", &line, 1));
    h.start();
    assert!(key.exists(), "no master key at {}:\n{}", key.display(), h.logs());
    let credential = h.dir.path().join("creds/master.key");
    assert!(!credential.exists(), "the explicit path must win over $CREDENTIALS_DIRECTORY");
    h.cli_json(&["endpoint", "create", "--name", "sealed"]);
    let keys = h.cli_json(&["endpoint", "get-credentials", "--name", "sealed"]);
    let created = std::fs::read(&key).unwrap();
    h.stop();
    // A restart reads the same key: the sealed endpoint keys still open.
    h.start();
    assert_eq!(std::fs::read(&key).unwrap(), created);
    assert_eq!(h.cli_json(&["endpoint", "get-credentials", "--name", "sealed"]), keys);
    h.stop();
}

#[test]
fn without_master_key_the_systemd_credential_is_used() {
    let mut h = Harness::bare();
    h.start();
    assert!(h.dir.path().join("creds/master.key").exists(), "{}", h.logs());
}

#[test]
fn readme_names_every_route() {
    let readme = without_parameter_names(&readme());
    let mut missing = Vec::new();
    for file in ["route/mod.rs", "control/mod.rs", "metrics/serve.rs"] {
        for route in routes_in(file) {
            let route = without_parameter_names(&route);
            if !readme.contains(&format!("`{route}`")) && !readme.contains(&format!("`{route}[")) {
                missing.push(route);
            }
        }
    }
    assert!(missing.is_empty(), "routes missing from the README's reference: {missing:?}");
    assert!(routes_in("control/mod.rs").contains(&"DELETE /roleAssignments/{id}".to_string()));
    assert!(routes_in("route/mod.rs").contains(&"POST /v2/models/{endpoint}/infer".to_string()));
}
