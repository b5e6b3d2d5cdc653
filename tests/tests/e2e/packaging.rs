//! The shipped systemd units and the .deb (issue 10): verified, hardened, installable into a
//! scratch root with users and units in place, config kept, state kept on purge; manual pages and
//! shell completions installed (issue 22).

use std::path::{Path, PathBuf};
use std::process::Command;

use edgeserve_tests::bin_dir;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn units_verify_and_are_hardened() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for dir in ["usr/bin", "bin", "etc/systemd/system", "lib/systemd"] {
        std::fs::create_dir_all(r.join(dir)).unwrap();
    }
    std::fs::copy(bin_dir().join("edgeserved"), r.join("usr/bin/edgeserved")).unwrap();
    for tool in ["/bin/kill", "/bin/sh", "/usr/bin/install", "/usr/bin/head"] {
        std::fs::copy(tool, r.join(tool.trim_start_matches('/'))).unwrap();
    }
    let (ok, text) =
        run(Command::new("cp").arg("-r").arg("/lib/systemd/system").arg(r.join("lib/systemd/")));
    assert!(ok, "{text}");
    let units = ["edgeserved.service", "edgeserve-master-key.service", "edgeserved.socket"];
    for unit in units {
        std::fs::copy(repo().join("systemd").join(unit), r.join("etc/systemd/system").join(unit))
            .unwrap();
    }
    let (ok, text) = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", r.display()))
        .args(units));
    assert!(ok && text.trim().is_empty(), "systemd-analyze verify: {text}");

    let (_, text) = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(repo().join("systemd/edgeserved.service")));
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for edgeserved.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(level <= 2.0, "exposure {level} is above 2.0:\n{text}");
}

fn dpkg(root: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--force-script-chrootless", "--force-depends", "--log=/dev/null"])
        .args(args)
        .envs(env.iter().copied()))
}

#[test]
fn deb_installs_into_a_scratch_root_and_keeps_what_operators_own() {
    let out = tempfile::tempdir().unwrap();
    let (ok, text) = run(Command::new("bash")
        .arg(repo().join("scripts/package-deb.sh"))
        .args(["--profile", "debug", "--bin-dir"])
        .arg(bin_dir())
        .arg("--out")
        .arg(out.path()));
    assert!(ok, "{text}");
    let deb = text.lines().last().unwrap().trim().to_string();

    let (ok, text) = run(Command::new("lintian").args(["--fail-on", "error,warning", &deb]));
    assert!(ok, "lintian: {text}");

    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"] {
        std::fs::create_dir_all(r.join(dir)).unwrap();
    }
    std::fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
    let (ok, text) = dpkg(r, &["-i", &deb], &[]);
    assert!(ok, "dpkg -i: {text}");

    for file in [
        "usr/bin/edgeserved",
        "usr/bin/edgeserve",
        "lib/systemd/system/edgeserved.service",
        "lib/systemd/system/edgeserve-master-key.service",
        "usr/lib/sysusers.d/edgeserve.conf",
        "usr/lib/tmpfiles.d/edgeserve.conf",
        "lib/udev/rules.d/70-edgeserve.rules",
        "etc/edgeserve/edgeserve.toml",
        "etc/systemd/system/multi-user.target.wants/edgeserved.service",
        "usr/share/bash-completion/completions/edgeserve",
        "usr/share/zsh/vendor-completions/_edgeserve",
        "usr/share/fish/vendor_completions.d/edgeserve.fish",
        "usr/share/man/man1/edgeserve.1.gz",
        "usr/share/man/man8/edgeserved.8.gz",
    ] {
        // symlink_metadata: the enable link points at /lib/..., absolute, inside the root.
        assert!(r.join(file).symlink_metadata().is_ok(), "{file} missing after install");
    }
    let passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("edgeserve:")
                && l.ends_with(":/var/lib/edgeserve:/usr/sbin/nologin")),
        "{passwd}"
    );
    let group = std::fs::read_to_string(r.join("etc/group")).unwrap();
    assert!(
        group.lines().any(|l| l.starts_with("edgeserve-admin:") && l.ends_with(":edgeserve")),
        "{group}"
    );
    assert!(r.join("etc/edgeserve/tls").is_dir());
    let rules = std::fs::read_to_string(r.join("lib/udev/rules.d/70-edgeserve.rules")).unwrap();
    assert!(rules.contains("DRIVERS==\"zocl\""), "{rules}");
    // The manual pages render (NAME first), the completions complete the verbs.
    for (page, name) in
        [("man1/edgeserve.1.gz", "edgeserve"), ("man8/edgeserved.8.gz", "edgeserved")]
    {
        let path = r.join("usr/share/man").join(page);
        let (ok, roff) = run(Command::new("zcat").arg(&path));
        assert!(ok && roff.contains(".SH NAME"), "{page}: {roff}");
        let text = crate::cli_help::render_man(&path);
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&format!("NAME {name} - ")), "{text}");
    }
    let bash = r.join("usr/share/bash-completion/completions/edgeserve");
    let verbs = crate::cli_help::bash_completes(&bash, &["edgeserve", ""]);
    for verb in ["endpoint", "deployment", "model", "tls", "role", "status"] {
        assert!(verbs.iter().any(|v| v == verb), "{verb} not offered: {verbs:?}");
    }
    let zsh =
        std::fs::read_to_string(r.join("usr/share/zsh/vendor-completions/_edgeserve")).unwrap();
    assert!(zsh.starts_with("#compdef edgeserve"), "{zsh}");
    let fish =
        std::fs::read_to_string(r.join("usr/share/fish/vendor_completions.d/edgeserve.fish"))
            .unwrap();
    assert!(fish.contains("complete -c edgeserve"), "{fish}");
    // The packaged daemon runs and checks a config.
    let (ok, text) = run(Command::new(r.join("usr/bin/edgeserved")).arg("--version"));
    assert!(ok && text.starts_with("edgeserved "), "{text}");

    // A changed config survives reinstalling.
    let config = r.join("etc/edgeserve/edgeserve.toml");
    std::fs::write(&config, "[tls]\ncname = \"my-box.local\"\n").unwrap();
    let (ok, text) = dpkg(r, &["--force-confold", "-i", &deb], &[]);
    assert!(ok, "{text}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "[tls]\ncname = \"my-box.local\"\n");

    // Purge keeps the state (store, models, keys) unless asked.
    std::fs::create_dir_all(r.join("var/lib/edgeserve/store")).unwrap();
    std::fs::write(r.join("var/lib/edgeserve/store/db"), "state").unwrap();
    let (ok, text) = dpkg(r, &["--purge", "edgeserve"], &[]);
    assert!(ok, "{text}");
    assert!(!r.join("usr/bin/edgeserved").exists());
    let wants = r.join("etc/systemd/system/multi-user.target.wants/edgeserved.service");
    assert!(wants.symlink_metadata().is_err(), "disabled on removal");
    assert!(r.join("var/lib/edgeserve/store/db").exists(), "purge kept the state");
    assert!(text.contains("kept"), "{text}");
    let (ok, text) = dpkg(r, &["-i", &deb], &[]);
    assert!(ok, "{text}");
    let (ok, text) = dpkg(r, &["--purge", "edgeserve"], &[("EDGESERVE_PURGE_STATE", "yes")]);
    assert!(ok, "{text}");
    assert!(!r.join("var/lib/edgeserve").exists(), "asked to, purge removed the state");
}
