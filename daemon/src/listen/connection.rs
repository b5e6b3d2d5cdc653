//! Accept loops and connections: one per listener, with bounded connections, a handshake and
//! header timeout, an idle timeout, HTTP/1.1 and HTTP/2, early answers that reach the client,
//! lingering closes, and a bounded drain on shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::Response;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use super::early::{ConnState, DrainPolicy, Guarded, Reader};
use super::linger::{Linger, LingerBounds, LINGER_BYTES, LINGER_QUIET, LINGER_TIME};
use crate::config::LimitsSection;
use crate::route::PeerAddr;

/// Tells listeners to stop accepting and drain; cloned into each accept loop.
pub type Shutdown = watch::Receiver<bool>;

/// Longest a connection told to close (idle) may take to finish closing.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Per-listener bounds.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections on the listener; further ones are closed at once.
    pub max_connections: usize,
    /// Time for the TLS handshake, and for a request's headers to arrive (the first request's
    /// counted from the accept).
    pub header_timeout: Duration,
    /// A connection with no request in flight this long is closed.
    pub idle_timeout: Duration,
    /// On stop: longest wait for in-flight requests.
    pub drain_timeout: Duration,
    /// How refused request bodies are drained so their early answers reach the client.
    pub drain: DrainPolicy,
}

impl ConnectionLimits {
    /// The data-plane bounds of `[limits]`.
    pub fn from_settings(limits: &LimitsSection, drain_timeout: Duration) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: usize::try_from(limits.max_connections).unwrap_or(usize::MAX),
            header_timeout: Duration::from_millis(limits.header_timeout_ms),
            idle_timeout: Duration::from_millis(limits.idle_timeout_ms),
            drain_timeout,
            drain: DrainPolicy {
                bytes: limits.early_answer_drain_bytes,
                time: Duration::from_millis(limits.request_timeout_ms),
            },
        }
    }

    /// The control socket's bounds: the same timeouts, its own connection limit
    /// (`limits.max_control_connections`).
    pub fn control(&self, limits: &LimitsSection) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: usize::try_from(limits.max_control_connections).unwrap_or(usize::MAX),
            ..*self
        }
    }

    /// How a closing connection lingers (RFC 9112 §9.6): up to [`LINGER_TIME`], and at least
    /// [`LINGER_BYTES`] (or the drain allowance, if larger); a drain allowance of 0 turns it off.
    pub fn linger(&self) -> LingerBounds {
        let bytes = if self.drain.bytes == 0 { 0 } else { self.drain.bytes.max(LINGER_BYTES) };
        LingerBounds { time: LINGER_TIME, quiet: LINGER_QUIET, bytes }
    }
}

/// The open connections of one listener, at most `limits.max_connections`.
pub struct Slots {
    permits: Arc<Semaphore>,
    max: u32,
}

impl Slots {
    /// Room for `max` connections.
    pub fn new(max: usize) -> Slots {
        let max = u32::try_from(max.min(Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
        Slots { permits: Arc::new(Semaphore::new(max as usize)), max }
    }

    /// A slot for one more connection, if there is room.
    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Waits (at most `timeout`) until every connection has ended; false if some remain.
    pub async fn drained(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.permits.acquire_many(self.max)).await.is_ok()
    }
}

/// The HTTP/1.1 + HTTP/2 builder every listener uses.
pub fn http_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's header timeout also runs while an HTTP/1.1 connection waits for its next
    // request, so an idle HTTP/1.1 connection closes after min(header, idle) timeout.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Serves a bound listener until shutdown, then waits (bounded) for open connections to finish.
pub async fn serve_listener(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: ConnectionLimits,
    mut shutdown: Shutdown,
) {
    let slots = Slots::new(limits.max_connections);
    let builder = http_builder(&limits);
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors, usually: wait for connections to end.
                tracing::warn!(listener = %local, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(permit) = slots.take() else {
            tracing::warn!(listener = %local, %peer, "connection refused: limits.max_connections reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let stream = Linger::new(stream, limits.linger());
        let builder = builder.clone();
        let tls = tls.clone();
        let router = router.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let conn = ConnState::new();
            match tls {
                None => {
                    let service = tagged(router, PeerAddr { addr: peer, cert_cn: None });
                    serve_connection(stream, service, &builder, conn, &limits, shutdown).await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls_stream)) => {
                            let cert_cn =
                                client_cert_cn(tls_stream.get_ref().1.peer_certificates());
                            let service = tagged(router, PeerAddr { addr: peer, cert_cn });
                            serve_connection(tls_stream, service, &builder, conn, &limits, shutdown)
                                .await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    if !slots.drained(limits.drain_timeout).await {
        tracing::warn!(listener = %local, "drain timed out; closing remaining connections");
    }
}

/// The router with `tag` attached to each request's extensions.
pub fn tagged<T: Clone + Send + Sync + 'static>(
    router: Router,
    tag: T,
) -> TowerToHyperService<
    tower::util::MapRequest<Router, impl FnMut(Request<Reader>) -> Request<Reader> + Clone>,
> {
    TowerToHyperService::new(tower::ServiceExt::map_request(
        router,
        move |mut req: Request<Reader>| {
            req.extensions_mut().insert(tag.clone());
            req
        },
    ))
}

/// The common name of a verified client certificate, for the `cert:` identity.
fn client_cert_cn(
    certs: Option<&[rustls_pki_types::CertificateDer<'_>]>,
) -> Option<std::sync::Arc<str>> {
    use x509_parser::prelude::*;
    let leaf = certs?.first()?;
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.to_string();
    Some(cn.into())
}

/// Serves one connection until the client closes it, it stays idle past the idle timeout (or
/// sends no request within the header timeout), or the daemon stops; then closes it gracefully
/// (in-flight requests finish).
pub async fn serve_connection<I, S>(
    io: I,
    service: S,
    builder: &auto::Builder<TokioExecutor>,
    conn: Arc<ConnState>,
    limits: &ConnectionLimits,
    mut shutdown: Shutdown,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Reader>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = Guarded::new(service, conn.clone(), limits.drain);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let (why, grace) = tokio::select! {
        ended = connection.as_mut() => {
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = conn.idle_expired(limits.header_timeout, limits.idle_timeout) => ("idle", CLOSE_GRACE),
        _ = stopping(&mut shutdown) => ("stopping", limits.drain_timeout),
    };
    connection.as_mut().graceful_shutdown();
    match tokio::time::timeout(grace, connection).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, closing = why, "connection ended with an error"),
        Err(_) => tracing::debug!(closing = why, "connection did not close in time; dropped"),
    }
}

/// Resolves when the daemon stops (or the stop sender is gone).
async fn stopping(shutdown: &mut Shutdown) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
