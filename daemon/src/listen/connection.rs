//! Accept loops and connections: one per listener, with bounded connections, a handshake and
//! header timeout, HTTP/1.1 and HTTP/2, and a bounded drain on shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::route::PeerAddr;

/// Tells listeners to stop accepting and drain; cloned into each accept loop.
pub type Shutdown = watch::Receiver<bool>;

/// Per-listener bounds.
#[derive(Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub drain_timeout: Duration,
}

/// Serves a bound listener until shutdown, then waits (bounded) for open connections to finish.
pub async fn serve_listener(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: ConnectionLimits,
    mut shutdown: Shutdown,
) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(listener = %local, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(listener = %local, %peer, "connection refused: limits.max_connections reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => {
                    let service = with_peer(router, PeerAddr { addr: peer, cert_cn: None });
                    serve_io(stream, service, &builder, watcher).await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls_stream)) => {
                            let cert_cn =
                                client_cert_cn(tls_stream.get_ref().1.peer_certificates());
                            let service = with_peer(router, PeerAddr { addr: peer, cert_cn });
                            serve_io(tls_stream, service, &builder, watcher).await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(listener = %local, "drain timed out; closing remaining connections");
    }
}

/// The router with the connection's peer attached to each request.
fn with_peer(
    router: Router,
    peer: PeerAddr,
) -> TowerToHyperService<
    tower::util::MapRequest<
        Router,
        impl FnMut(Request<hyper::body::Incoming>) -> Request<hyper::body::Incoming> + Clone,
    >,
> {
    TowerToHyperService::new(tower::ServiceExt::map_request(
        router,
        move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(peer.clone());
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

async fn serve_io<I, S>(io: I, service: S, builder: &auto::Builder<TokioExecutor>, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<hyper::body::Incoming>, Response = axum::response::Response>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = builder.serve_connection(TokioIo::new(io), service).into_owned();
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
