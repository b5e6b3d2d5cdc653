//! The control socket: created with its final mode and group before the daemon reports ready,
//! and served with each connection's `SO_PEERCRED` identity attached to its requests.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use std::time::Duration;

use axum::Router;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use tokio::net::UnixListener;

use super::caller::{admin_gid, Caller};
use crate::listen::early::ConnState;
use crate::listen::linger::Linger;
use crate::listen::{http_builder, serve_connection, tagged, ConnectionLimits, Shutdown, Slots};

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlSocketError {
    #[error("control socket {path} ({what}): {source}")]
    /// A step of setting up the socket failed.
    Io {
        /// The socket's path.
        path: PathBuf,
        /// The step that failed (`binding`, `setting its mode ...`, `setting its group`, ...).
        what: &'static str,
        /// The system call's error.
        #[source]
        source: std::io::Error,
    },
}

/// Binds the socket at `path` with `mode` (`daemon.control_socket_mode`, SPEC §1: 0660 by
/// default; 0666 lets any local user connect and roles decide) and group `admin_group` (when
/// that group exists).
pub fn bind_control_socket(
    path: &Path,
    admin_group: &str,
    mode: u32,
) -> Result<UnixListener, ControlSocketError> {
    let io = |what: &'static str| {
        move |source| ControlSocketError::Io { path: path.into(), what, source }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("creating its folder"))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("removing a stale socket")(e)),
    }
    let listener = UnixListener::bind(path).map_err(io("binding"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io("setting its mode (daemon.control_socket_mode)"))?;
    match admin_gid(admin_group) {
        Some(gid) => {
            std::os::unix::fs::chown(path, None, Some(gid)).map_err(io("setting its group"))?;
        }
        None => tracing::warn!(
            group = admin_group,
            "daemon.admin_group does not exist: only root can use the control socket"
        ),
    }
    Ok(listener)
}

/// Serves the control router until shutdown, with the data plane's connection bounds
/// (`limits.max_control_connections` connections, header and idle timeouts, early answers that
/// reach the client), then waits (bounded) for open connections to finish.
pub async fn serve_control(
    listener: UnixListener,
    router: Router,
    admin_group: String,
    limits: ConnectionLimits,
    mut shutdown: Shutdown,
) {
    let admin = admin_gid(&admin_group);
    let slots = Slots::new(limits.max_connections);
    let builder = http_builder(&limits);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let creds = match getsockopt(&stream, PeerCredentials) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "control socket peer without credentials; refused");
                continue;
            }
        };
        let Some(permit) = slots.take() else {
            tracing::warn!(
                uid = creds.uid(),
                "control connection refused: limits.max_control_connections reached"
            );
            continue;
        };
        let caller =
            Caller { uid: creds.uid(), gid: creds.gid(), pid: creds.pid(), admin_gid: admin };
        let service = tagged(router.clone(), caller);
        let stream = Linger::new(stream, limits.linger());
        let builder = builder.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            serve_connection(stream, service, &builder, ConnState::new(), &limits, shutdown).await;
        });
    }
    drop(listener);
    if !slots.drained(limits.drain_timeout).await {
        tracing::warn!("control socket drain timed out; closing remaining connections");
    }
}
