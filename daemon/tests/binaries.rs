//! The binaries start and describe themselves (this also makes `cargo test` build them for the
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! end-to-end tests in `edgeserve-tests`).

use std::process::Command;

#[test]
fn edgeserved_help_lists_its_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_edgeserved")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--check-config", "--demo"] {
        assert!(text.contains(flag), "{text}");
    }
}

#[test]
fn edgeserve_help_lists_its_verbs() {
    let out = Command::new(env!("CARGO_BIN_EXE_edgeserve")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for verb in ["endpoint", "device", "status"] {
        assert!(text.contains(verb), "{text}");
    }
}

#[test]
fn missing_config_file_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_edgeserved"))
        .args(["--config", "/nonexistent/edgeserve.toml", "--check-config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read config file /nonexistent/edgeserve.toml"), "{err}");
}
