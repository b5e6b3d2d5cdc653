//! Helpers of the fleet tests (issue 21): where the shipped fleet files and the Python tools are.

use std::path::PathBuf;

/// `packaging/fleet/` in the source tree.
pub fn fleet_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../packaging/fleet")
}

/// A shipped fleet file's text.
pub fn fleet_file(name: &str) -> String {
    let path = fleet_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The virtual environment with the Python test tools and ansible-core (scripts/deps.sh).
pub fn py_venv() -> PathBuf {
    let venv = std::env::var_os("EDGESERVE_PY_CLIENTS").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
        cache.join("edgeserve/py-clients")
    });
    assert!(
        venv.join("bin/ansible-playbook").exists(),
        "{} has no ansible-playbook: run `bash scripts/deps.sh`",
        venv.display()
    );
    venv
}

/// Replaces each `(from, to)` in a shipped file's text, failing if one is not there: the test
/// templates only addresses, ports and paths, and notices when the shipped file moves on.
pub fn template(name: &str, text: &str, replacements: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (from, to) in replacements {
        assert!(out.contains(from), "{name} no longer contains {from:?}; update the fleet test");
        out = out.replace(from, to);
    }
    out
}
