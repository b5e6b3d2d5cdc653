//! `sd_notify` messages: READY, STATUS, WATCHDOG, RELOADING and STOPPING.

use std::time::Duration;

use sd_notify::NotifyState;

use crate::deploy::RoutingTable;

/// Sends one notification without ever blocking: this runs on the async runtime, and a service
/// manager that stops reading must not stall it (the message is dropped instead).
fn send(states: &[NotifyState<'_>]) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let message: String = states.iter().map(|s| format!("{s}\n")).collect();
    match send_nonblocking(&path, message.as_bytes()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            tracing::debug!("the service manager is not reading notifications; one dropped");
        }
        Err(e) => tracing::warn!(error = %e, "cannot notify the service manager"),
    }
}

fn send_nonblocking(path: &std::ffi::OsStr, message: &[u8]) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let socket = UnixDatagram::unbound()?;
    socket.set_nonblocking(true)?;
    let addr = match path.as_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name)?
        }
        None => SocketAddr::from_pathname(path)?,
    };
    socket.send_to_addr(message, &addr)?;
    Ok(())
}

/// What `systemctl status` shows: endpoints served and deployments ready.
fn status_line(table: &RoutingTable) -> String {
    let deployments: Vec<_> =
        table.endpoints.values().flat_map(|e| e.deployments.values()).collect();
    let ready = deployments.iter().filter(|d| d.state_name() == "Succeeded").count();
    format!(
        "serving {} endpoint(s); {ready}/{} deployment(s) ready",
        table.endpoints.len(),
        deployments.len()
    )
}

/// Whether `READY=1` has been sent (since the last `RELOADING=1`). Until then table changes (the declarations applied at start,
/// one per object) send no `STATUS=`: a burst of them could fill the notification socket's
/// queue (`net.unix.max_dgram_qlen`, 10 by default) and get `READY=1` itself dropped, and
/// systemd would then time the start out.
static READY_SENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Listeners are bound and declared deployments loaded.
pub fn notify_ready(table: &RoutingTable) {
    let status = status_line(table);
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
    READY_SENT.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Keeps `STATUS=` current after a change (from the first `READY=1` on).
pub fn notify_status(table: &RoutingTable) {
    if !READY_SENT.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let status = status_line(table);
    send(&[NotifyState::Status(&status)]);
}

/// A reload starts (`READY=1` follows when it is done; no `STATUS=` between, for the same
/// reason as at start).
pub fn notify_reloading() {
    READY_SENT.store(false, std::sync::atomic::Ordering::Relaxed);
    match NotifyState::monotonic_usec_now() {
        Ok(now) => {
            send(&[NotifyState::Reloading, now, NotifyState::Status("reloading TLS material")])
        }
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// Draining in-flight requests before exit.
pub fn notify_stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping: draining in-flight requests")]);
}

/// Pings the watchdog at half its period from a task on the async runtime, so a wedged
/// runtime stops the pings and systemd restarts the daemon.
pub fn spawn_watchdog() {
    let Some(period) = sd_notify::watchdog_enabled() else { return };
    let every = (period / 2).max(Duration::from_millis(10));
    tracing::info!(period_ms = period.as_millis() as u64, "systemd watchdog enabled");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            send(&[NotifyState::Watchdog]);
        }
    });
}
