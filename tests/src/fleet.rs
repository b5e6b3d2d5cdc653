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

/// A process whose stderr (and stdout) lines are kept: a daemon or HAProxy of the fleet test.
/// Killed on drop.
pub struct Logged {
    /// What the process is (`daemon box1`, `haproxy`), in failure messages.
    pub name: String,
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Logged {
    /// Starts `cmd`, collecting what it prints.
    pub fn spawn(name: &str, mut cmd: std::process::Command) -> Logged {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        use std::process::Stdio;
        // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal, so
        // a test killed outright (SIGKILL) takes its daemons with it. HAProxy drops it when it
        // changes user; the next run's namespace sweep ends it.
        unsafe {
            cmd.pre_exec(|| {
                nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
        for stream in [out, err] {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        Logged { name: name.to_string(), child, lines }
    }

    /// Everything printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// How many lines so far contain every one of `needles`.
    pub fn count(&self, needles: &[&str]) -> usize {
        self.lines.lock().unwrap().iter().filter(|l| needles.iter().all(|n| l.contains(n))).count()
    }

    /// Waits until a line contains `needle`, failing (with the output) after `timeout` or if
    /// the process exits first.
    pub fn wait_for(&mut self, needle: &str, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while self.count(&[needle]) == 0 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{} exited ({status}) before {needle:?}:\n{}",
                    self.name,
                    self.lines().join("\n")
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} never printed {needle:?} within {timeout:?}:\n{}",
                self.name,
                self.lines().join("\n")
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    /// Waits for the process to exit, failing after `timeout`.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the readers take the last lines.
                std::thread::sleep(std::time::Duration::from_millis(50));
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} did not exit within {timeout:?}:\n{}",
                self.name,
                self.lines().join("\n")
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HAProxy's view of the servers of `backend` through its stats socket: name → status
/// (`UP`, `DOWN`, `UP 1/2`, `NOLB`, …).
pub fn haproxy_servers(
    socket: &std::path::Path,
    backend: &str,
) -> std::io::Result<std::collections::BTreeMap<String, String>> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    s.write_all(b"show stat\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let mut lines = text.lines();
    let header: Vec<&str> =
        lines.next().unwrap_or("").trim_start_matches("# ").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(px), Some(sv), Some(st)) = (col("pxname"), col("svname"), col("status")) else {
        return Err(std::io::Error::other(format!("unexpected `show stat` output: {text}")));
    };
    Ok(lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() > st && f[px] == backend && f[sv] != "BACKEND" && f[sv] != "FRONTEND")
        .map(|f| (f[sv].to_string(), f[st].to_string()))
        .collect())
}
