//! The control socket and the `edgeserve` CLI's read verbs.

use std::os::unix::fs::PermissionsExt;

use edgeserve_tests::{bin, Harness};
use serde_json::json;

#[test]
fn endpoint_show_list_status_and_devices() {
    let mut h = Harness::new();
    h.start();
    let port = h.daemon().tls.port();
    let show = h.cli_json(&["endpoint", "show", "-n", "mlp"]);
    for field in [
        "id",
        "name",
        "state",
        "createdAt",
        "updatedAt",
        "scoringUri",
        "authMode",
        "transport",
        "traffic",
        "mirrorTraffic",
        "publicNetworkAccess",
    ] {
        assert!(show.get(field).is_some(), "endpoint show lacks {field}: {show}");
    }
    assert_eq!(show["scoringUri"], format!("https://localhost:{port}/api/v1/service/mlp/score"));
    assert_eq!(show["authMode"], "key");
    assert_eq!(show["transport"], "tls");
    assert_eq!(show["traffic"], json!({"blue": 100}));
    assert_eq!(show["publicNetworkAccess"], "enabled");

    let list = h.cli_json(&["endpoint", "list"]);
    let mut names: Vec<&str> =
        list.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["cnn", "iris", "mlp", "two"]);

    let status = h.cli_json(&["status"]);
    assert_eq!(status["ready"], true);

    let devices = h.cli_json(&["device", "list"]);
    let cpu = &devices[0];
    assert_eq!(cpu["target"], "cpu");
    assert_eq!(cpu["index"], 0);
    assert_eq!(cpu["available"], true);

    let table = h.cli(&["-o", "table", "endpoint", "list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.lines().next().unwrap().contains("NAME"), "{text}");

    let out = h.cli(&["endpoint", "show", "-n", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "edgeserve: EndpointNotFound: endpoint nope not found"
    );
}

#[test]
fn cli_without_daemon_says_how_to_fix() {
    let h = Harness::new();
    let out = h.cli(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the daemon") && err.contains("is edgeserved running?"),
        "{err}"
    );
}

#[test]
fn socket_is_0660_and_refuses_non_admin_users() {
    let mut h = Harness::new();
    h.start();
    let socket = h.socket();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test switches users: run it as root (CI does)"
    );
    // Let an unprivileged user reach the socket file, so the daemon's own check is what refuses.
    for dir in [h.dir.path().to_path_buf(), socket.parent().unwrap().to_path_buf()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let cli = bin("edgeserve");
    let run_as_nobody = |socket_mode: u32| {
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(socket_mode)).unwrap();
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&cli)
            .arg("--socket")
            .arg(&socket)
            .arg("status")
            .output()
            .unwrap()
    };
    // With the shipped mode the kernel refuses the connection, and the CLI says who may use it.
    let out = run_as_nobody(0o660);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("it is for root and members of its group"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ...and with a careless mode the daemon's SO_PEERCRED check still does.
    let out = run_as_nobody(0o666);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Forbidden") && err.contains("may not perform"), "{err}");
}

#[test]
fn board_detect_explains_the_profile() {
    let mut h = Harness::new();
    h.start();
    let board = h.cli_json(&["board", "detect"]);
    assert_eq!(board["configured"], "auto");
    assert_eq!(board["profile"]["arch"], std::env::consts::ARCH);
    assert!(!board["matched"].as_array().unwrap().is_empty(), "{board}");
    assert!(board["facts"]["arch"].is_string());
    let direct = edgeserve_bsp_profile_of_this_box();
    assert_eq!(board["profile"]["name"], direct.as_str());
}

/// The profile the bsp crate picks for this machine, read independently of the daemon.
fn edgeserve_bsp_profile_of_this_box() -> String {
    let out = std::process::Command::new("uname").arg("-m").output().unwrap();
    let arch = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let has_render = std::path::Path::new("/dev/dri/renderD128").exists();
    let xilinx = std::fs::read_dir("/sys/bus/pci/devices")
        .map(|d| {
            d.filter_map(|e| e.ok()).any(|e| {
                std::fs::read_to_string(e.path().join("vendor")).is_ok_and(|v| v.trim() == "0x10ee")
            })
        })
        .unwrap_or(false);
    match (arch.as_str(), xilinx, has_render) {
        ("x86_64", true, _) => "x86_64-alveo".into(),
        ("x86_64", false, true) => "x86_64-opencl-gpu".into(),
        ("x86_64", false, false) => "generic-x86_64".into(),
        (other, _, _) => format!("generic-{other}"),
    }
}
