//! Getting the listening sockets: those systemd passed (socket activation), else binding the
//! configured addresses.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::config::ListenAddrs;
use crate::systemd::ActivatedListeners;

/// Which listener a socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The TLS scoring listener (`tls.listen`).
    Tls,
    /// The plain scoring listener (`plain.listen`).
    Plain,
    /// The Prometheus listener (`metrics.listen`).
    Metrics,
}

impl Role {
    /// The environment override of the role's address.
    pub fn env_var(self) -> &'static str {
        match self {
            Role::Tls => "EDGESERVE_TLS__LISTEN",
            Role::Plain => "EDGESERVE_PLAIN__LISTEN",
            Role::Metrics => "EDGESERVE_METRICS__LISTEN",
        }
    }

    /// The config key of the role's addresses.
    pub fn key(self) -> &'static str {
        match self {
            Role::Tls => "tls.listen",
            Role::Plain => "plain.listen",
            Role::Metrics => "metrics.listen",
        }
    }
}

/// A socket could not be bound.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on {addr} ({}): {source}; choose another address in the config or with \
     {}=IP:PORT",
    role.key(),
    role.env_var()
)]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// Which listener it is for.
    pub role: Role,
    /// The bind's error (in use, not a local address, no permission).
    #[source]
    pub source: std::io::Error,
}

/// Every listening socket with its role: activated ones replace a role's configured addresses.
pub async fn listeners(
    addrs: &ListenAddrs,
    activated: ActivatedListeners,
) -> Result<Vec<(TcpListener, Role)>, BindError> {
    let mut out = Vec::new();
    let roles = [
        (Role::Tls, activated.tls, addrs.tls.clone()),
        (Role::Plain, activated.plain, addrs.plain.clone()),
        (Role::Metrics, activated.metrics, vec![addrs.metrics]),
    ];
    for (role, passed, configured) in roles {
        if !passed.is_empty() {
            for std_listener in passed {
                let listener = TcpListener::from_std(std_listener).map_err(|source| BindError {
                    addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                    role,
                    source,
                })?;
                out.push((listener, role));
            }
            continue;
        }
        for addr in configured {
            let listener =
                TcpListener::bind(addr).await.map_err(|source| BindError { addr, role, source })?;
            out.push((listener, role));
        }
    }
    Ok(out)
}
