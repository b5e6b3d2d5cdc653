//! Role-based access on the control socket (SPEC §4) with a real non-root user: the CLI runs as
//! `nobody` through `setpriv` against a daemon whose socket mode is `0666`, so the kernel lets
//! it connect and the daemon's roles decide.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use edgeserve_tests::Harness;
use serde_json::{json, Value};

/// A daemon serving nothing yet, with `daemon.control_socket_mode = "0666"`.
fn harness() -> Harness {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "these tests switch users: run them as root (CI does)"
    );
    let h = Harness::bare();
    h.edit_config(|c| c.replacen("[daemon]\n", "[daemon]\ncontrol_socket_mode = \"0666\"\n", 1));
    h
}

fn start(h: &mut Harness) {
    h.start();
    h.open_socket_dirs();
}

fn nobody(h: &Harness, args: &[&str]) -> Output {
    h.cli_as("nobody", "nogroup", args)
}

fn nobody_json(h: &Harness, args: &[&str]) -> Value {
    let out = nobody(h, args);
    assert!(
        out.status.success(),
        "edgeserve {args:?} as nobody failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `nobody` is refused with a 403 that names `action` and the caller.
fn denied(h: &Harness, args: &[&str], action: &str) -> String {
    let out = nobody(h, args);
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(out.status.code(), Some(1), "edgeserve {args:?} as nobody: {err}");
    assert!(err.contains("Forbidden"), "{err}");
    assert!(err.contains(action), "edgeserve {args:?}: the refusal should name {action}: {err}");
    assert!(err.contains("unix-user:nobody"), "the refusal should name the caller: {err}");
    err
}

fn assign(h: &Harness, assignee: &str, role: &str, scope: &str) -> String {
    let a = h.cli_json(&[
        "role",
        "assignment",
        "create",
        "--assignee",
        assignee,
        "--role",
        role,
        "--scope",
        scope,
    ]);
    assert_eq!(a["assignee"], assignee);
    assert_eq!(a["role"], role);
    assert_eq!(a["scope"], scope);
    assert!(a["createdAt"].is_string(), "{a}");
    a["id"].as_str().unwrap().to_string()
}

fn endpoint_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        list.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

#[test]
fn a_non_root_user_gets_what_its_roles_grant_and_assignments_survive_a_restart() {
    let mut h = harness();
    start(&mut h);
    let mode = std::fs::metadata(h.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666, "daemon.control_socket_mode applies to the socket");
    for ep in ["ep1", "ep2"] {
        h.cli_json(&["endpoint", "create", "--name", ep]);
    }

    // Unassigned: connected, but refused by role.
    denied(&h, &["endpoint", "list"], "endpoints/read");
    denied(&h, &["role", "assignment", "list"], "roles/read");

    // Reader at /: reads everything, changes nothing.
    let reader = assign(&h, "unix-user:nobody", "Reader", "/");
    assert_eq!(endpoint_names(&nobody_json(&h, &["endpoint", "list"])), ["ep1", "ep2"]);
    nobody_json(&h, &["endpoint", "show", "-n", "ep2"]);
    nobody_json(&h, &["tls", "show"]); // tls/read, its own read action
    nobody_json(&h, &["role", "list"]);
    denied(&h, &["endpoint", "create", "--name", "ep3"], "endpoints/write");
    denied(&h, &["endpoint", "get-credentials", "-n", "ep1"], "endpoints/listKeys/action");
    denied(&h, &["endpoint", "delete", "-n", "ep1"], "endpoints/delete");
    // A Reader cannot create an assignment, not even for itself.
    denied(
        &h,
        &[
            "role",
            "assignment",
            "create",
            "--assignee",
            "unix-user:nobody",
            "--role",
            "Owner",
            "--scope",
            "/",
        ],
        "roles/write",
    );
    denied(&h, &["role", "assignment", "delete", "--id", &reader], "roles/write");

    // The admin group is Owner through a built-in assignment that is listed and kept.
    let list = h.cli_json(&["role", "assignment", "list"]);
    let builtin = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "builtin-admin-group")
        .unwrap_or_else(|| panic!("no built-in admin group assignment: {list}"));
    assert_eq!(builtin["assignee"], "unix-group:edgeserve-admin");
    assert_eq!(builtin["role"], "Owner");
    assert_eq!(builtin["scope"], "/");
    let (code, err) = h.cli_err(&["role", "assignment", "delete", "--id", "builtin-admin-group"]);
    assert_eq!(code, 1);
    assert!(err.contains("Conflict") && err.contains("built in"), "{err}");

    // A custom role on ep1 only: everything on endpoints but scoring.
    let role = json!({
        "Name": "Endpoint Operator",
        "IsCustom": true,
        "Description": "Runs endpoints; does not score.",
        "Actions": ["endpoints/*"],
        "NotActions": ["endpoints/score/action"],
        "AssignableScopes": ["/"]
    });
    let file = h.write_file("operator.json", &role.to_string());
    let created = h.cli_json(&["role", "create", "-f", &file]);
    assert_eq!(created, role);
    assert_eq!(h.cli_json(&["role", "show", "-n", "Endpoint Operator"]), role);
    let operator = assign(&h, "unix-user:nobody", "Endpoint Operator", "/endpoints/ep1");

    let before = h.keys("ep1");
    let out =
        nobody_json(&h, &["endpoint", "regenerate-keys", "-n", "ep1", "--key-type", "primary"]);
    assert_eq!(out["regenerated"], "primary");
    let after = h.keys("ep1");
    assert_ne!(before.0, after.0, "the primary key changed");
    assert_eq!(before.1, after.1, "the secondary key is untouched");
    denied(
        &h,
        &["endpoint", "regenerate-keys", "-n", "ep2", "--key-type", "primary"],
        "endpoints/regenerateKeys/action",
    );
    let request = h.write_file("request.json", r#"{"data": [[1.0]]}"#);
    std::fs::set_permissions(&request, std::fs::Permissions::from_mode(0o644)).unwrap();
    denied(&h, &["endpoint", "invoke", "-n", "ep1", "-r", &request], "endpoints/score/action");

    // A role cannot go while it is assigned; the refusal names the assignment.
    let (code, err) = h.cli_err(&["role", "delete", "-n", "Endpoint Operator"]);
    assert_eq!(code, 1);
    assert!(err.contains("Conflict") && err.contains(&operator), "{err}");
    let (_, err) = h.cli_err(&["role", "delete", "-n", "Reader"]);
    assert!(err.contains("built in"), "{err}");

    // Roles and assignments are durable: a restart keeps them.
    h.stop();
    start(&mut h);
    let ids: Vec<String> = h
        .cli_json(&["role", "assignment", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&reader) && ids.contains(&operator), "{ids:?}");
    assert_eq!(endpoint_names(&nobody_json(&h, &["endpoint", "list"])), ["ep1", "ep2"]);
    nobody_json(&h, &["endpoint", "regenerate-keys", "-n", "ep1", "--key-type", "secondary"]);
    denied(
        &h,
        &["endpoint", "regenerate-keys", "-n", "ep2", "--key-type", "secondary"],
        "endpoints/regenerateKeys/action",
    );

    // Removing the assignment takes the grant away at once; then the role can go.
    h.cli_json(&["role", "assignment", "delete", "--id", &operator]);
    denied(
        &h,
        &["endpoint", "regenerate-keys", "-n", "ep1", "--key-type", "primary"],
        "endpoints/regenerateKeys/action",
    );
    h.cli_json(&["role", "delete", "-n", "Endpoint Operator"]);
    let (code, _) = h.cli_err(&["role", "show", "-n", "Endpoint Operator"]);
    assert_eq!(code, 1);
}

#[test]
fn nobody_can_grant_more_than_they_hold() {
    let mut h = harness();
    start(&mut h);
    h.cli_json(&["endpoint", "create", "--name", "ep1"]);
    // nobody may manage roles and read endpoints, nothing else.
    let admin = json!({
        "Name": "Role Admin",
        "Actions": ["roles/*", "endpoints/read"],
        "AssignableScopes": ["/"]
    });
    h.cli_json(&["role", "create", "-f", &h.write_file("admin.json", &admin.to_string())]);
    let viewer = json!({"Name": "Viewer", "Actions": ["endpoints/read"]});
    h.cli_json(&["role", "create", "-f", &h.write_file("viewer.json", &viewer.to_string())]);
    assign(&h, "unix-user:nobody", "Role Admin", "/");

    let grant = |role: &str, scope: &str| {
        nobody(
            &h,
            &[
                "role",
                "assignment",
                "create",
                "--assignee",
                "unix-user:nobody",
                "--role",
                role,
                "--scope",
                scope,
            ],
        )
    };
    for (role, missing) in [("Owner", "endpoints/write"), ("Scorer", "endpoints/score/action")] {
        let out = grant(role, "/");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("Forbidden") && err.contains(missing) && err.contains("unix-user:nobody"),
            "{err}"
        );
    }
    // Within what it holds, it may grant.
    let out = grant("Viewer", "/endpoints/ep1");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Nor can it widen a role it could assign.
    let wider = json!({"Name": "Viewer", "Actions": ["endpoints/*"]});
    let file = h.write_file("wider.json", &wider.to_string());
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = nobody(&h, &["role", "create", "-f", &file]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Forbidden") && err.contains("endpoints/write"), "{err}");
    // Bad roles are refused with the reason.
    let typo = json!({"Name": "Typo", "Actions": ["endpoint/read"]});
    let (_, err) =
        h.cli_err(&["role", "create", "-f", &h.write_file("typo.json", &typo.to_string())]);
    assert!(
        err.contains("InvalidInput") && err.contains("\"endpoint/read\" matches no action"),
        "{err}"
    );
}
