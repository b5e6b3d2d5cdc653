//! Socket activation: listeners systemd bound for us (`LISTEN_FDS`, named by `FileDescriptorName=`
//! `tls`, `plain` or `metrics` in `edgeserved.socket`), used instead of binding the configured
//! addresses — so privileged ports need no capability in the daemon.

use std::os::fd::FromRawFd;

/// Listeners passed by systemd, by role.
#[derive(Default)]
pub struct ActivatedListeners {
    /// Sockets named `tls`.
    pub tls: Vec<std::net::TcpListener>,
    /// Sockets named `plain`.
    pub plain: Vec<std::net::TcpListener>,
    /// Sockets named `metrics`.
    pub metrics: Vec<std::net::TcpListener>,
}

/// Takes the sockets systemd passed, if any. Unnamed or unknown names are TLS listeners.
pub fn activated_listeners() -> ActivatedListeners {
    let mut out = ActivatedListeners::default();
    let Ok(fds) = sd_notify::listen_fds_with_names() else { return out };
    for (fd, name) in fds {
        // SAFETY: sd_notify returns descriptors from SD_LISTEN_FDS_START on that systemd passed
        // to this very process (LISTEN_PID checked); each is taken exactly once, here.
        let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        if let Err(e) = listener.set_nonblocking(true) {
            tracing::error!(fd, error = %e, "cannot use a socket passed by systemd");
            continue;
        }
        match name.as_str() {
            "plain" => out.plain.push(listener),
            "metrics" => out.metrics.push(listener),
            _ => out.tls.push(listener),
        }
    }
    out
}
