//! Network namespaces made by one test: a "lan" namespace holding a bridge (10.20.0.1/24) and one
//! namespace per box (10.20.0.11, .12, …) joined to it by a veth pair. Names are unique per run
//! (`esf-PID-N-…`), everything is deleted on drop, and namespaces left by a killed run are swept
//! at the next start. The host's own network is never touched.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const PREFIX: &str = "esf-";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("the `ip` tool (iproute2) is missing");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Deletes namespaces of earlier runs whose test process is gone, ending what still runs there.
fn sweep_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|r| r.split('-').next()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let pids = Command::new("ip").args(["netns", "pids", name]).output();
            for p in pids
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
                .lines()
            {
                if let Ok(p) = p.trim().parse::<i32>() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

/// A bridge namespace and box namespaces joined to it.
pub struct Lan {
    /// The namespace with the bridge (where the balancer and the clients run).
    pub lan: String,
    /// One namespace per box.
    pub boxes: Vec<String>,
}

impl Lan {
    /// The bridge's address in the lan namespace.
    pub const GATEWAY: &'static str = "10.20.0.1";

    /// Box `i`'s address (1-based): 10.20.0.1i.
    pub fn box_ip(i: usize) -> String {
        format!("10.20.0.{}", 10 + i)
    }

    /// Makes the lan namespace and `boxes` box namespaces.
    pub fn new(boxes: usize) -> Lan {
        static RUN: AtomicU32 = AtomicU32::new(0);
        sweep_stale();
        let id = format!("{PREFIX}{}-{}", std::process::id(), RUN.fetch_add(1, Ordering::SeqCst));
        let mut lan = Lan { lan: format!("{id}-lan"), boxes: Vec::new() };
        let l = lan.lan.clone();
        ip(&["netns", "add", &l]);
        ip(&["-n", &l, "link", "set", "lo", "up"]);
        ip(&["-n", &l, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &l, "addr", "add", &format!("{}/24", Lan::GATEWAY), "dev", "br0"]);
        ip(&["-n", &l, "link", "set", "br0", "up"]);
        for i in 1..=boxes {
            let ns = format!("{id}-b{i}");
            ip(&["netns", "add", &ns]);
            lan.boxes.push(ns.clone());
            let veth = format!("vb{i}");
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&[
                "-n", &l, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ]);
            ip(&["-n", &l, "link", "set", &veth, "master", "br0"]);
            ip(&["-n", &l, "link", "set", &veth, "up"]);
            ip(&["-n", &ns, "addr", "add", &format!("{}/24", Lan::box_ip(i)), "dev", "eth0"]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        }
        lan
    }

    /// `program` to be run inside namespace `ns` (`ip netns exec` execs it: same pid).
    pub fn command(ns: &str, program: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).arg(program);
        cmd
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.boxes.iter().chain(std::iter::once(&self.lan)) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Moves the calling thread into network namespace `ns`: sockets it opens from then on live
/// there. Call it on a thread of its own.
pub fn enter(ns: &str) {
    let file = File::open(format!("/run/netns/{ns}")).unwrap();
    // SAFETY: setns on a valid namespace file descriptor changes only this thread's namespace.
    let rc = unsafe { nix::libc::setns(file.as_raw_fd(), nix::libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns into {ns}: {}", std::io::Error::last_os_error());
}

/// Runs `f` on a new thread inside namespace `ns` and returns its result.
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns);
        f()
    })
    .join()
    .unwrap()
}

/// A plain-HTTP GET (`addr` is IP:port), from the calling thread's namespace: (status, body).
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let sock: std::net::SocketAddr = addr.parse().unwrap();
    let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}
