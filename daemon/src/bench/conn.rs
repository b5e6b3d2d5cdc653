//! Connections of the load generator: TCP (no Nagle), optionally TLS through rustls, then an
//! HTTP/1.1 or HTTP/2 client connection from hyper.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};

use super::BenchError;

/// Where and how to connect.
pub struct Connector {
    /// The resolved address of the data plane.
    pub addr: SocketAddr,
    /// TLS client settings and the name to verify, or `None` for plain HTTP.
    pub tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    /// HTTP/2 instead of HTTP/1.1.
    pub http2: bool,
}

/// A ready client connection.
pub enum Sender {
    /// One request at a time.
    H1(http1::SendRequest<Full<Bytes>>),
    /// Many streams at once; clones of the handle share the connection.
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    /// Whether the connection is gone (the server closed it, or it failed).
    pub fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }

    /// Sends one request and reads the whole answer; returns its status.
    pub async fn send(
        &mut self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<u16, hyper::Error> {
        let response = match self {
            Sender::H1(s) => {
                s.ready().await?;
                s.send_request(request).await?
            }
            Sender::H2(s) => {
                s.ready().await?;
                s.send_request(request).await?
            }
        };
        let status = response.status().as_u16();
        http_body_util::BodyExt::collect(response.into_body()).await?;
        Ok(status)
    }
}

/// Why a connection could not be made, by kind (the report counts them so).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect: {0}")]
    /// The TCP connect failed (refused, unreachable, timed out).
    Tcp(std::io::Error),
    #[error("tls: {0}")]
    /// The TLS handshake failed (untrusted certificate, wrong name, protocol error).
    Tls(std::io::Error),
    #[error("http handshake: {0}")]
    /// The HTTP/1.1 or h2 handshake failed.
    Http(hyper::Error),
}

impl ConnectError {
    /// The error's kind as a report key.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectError::Tcp(_) => "connect",
            ConnectError::Tls(_) => "tls",
            ConnectError::Http(_) => "handshake",
        }
    }
}

impl Connector {
    /// Opens one connection and spawns its driver on the current runtime.
    pub async fn connect(&self) -> Result<Sender, ConnectError> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.map_err(ConnectError::Tcp)?;
        tcp.set_nodelay(true).map_err(ConnectError::Tcp)?;
        match &self.tls {
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await.map_err(ConnectError::Tls)?;
                self.handshake(TokioIo::new(tls)).await
            }
            None => self.handshake(TokioIo::new(tcp)).await,
        }
    }

    async fn handshake<T>(&self, io: TokioIo<T>) -> Result<Sender, ConnectError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        if self.http2 {
            let (sender, conn) =
                http2::handshake(TokioExecutor::new(), io).await.map_err(ConnectError::Http)?;
            tokio::spawn(conn);
            Ok(Sender::H2(sender))
        } else {
            let (sender, conn) = http1::handshake(io).await.map_err(ConnectError::Http)?;
            tokio::spawn(conn);
            Ok(Sender::H1(sender))
        }
    }
}

/// TLS client settings: trust the CA file, the PEM text given, or (`insecure`) anything.
pub fn tls_config(
    ca_file: Option<&Path>,
    ca_pem: Option<&str>,
    insecure: bool,
    http2: bool,
) -> Result<tokio_rustls::TlsConnector, BenchError> {
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| BenchError::Tls(e.to_string()))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
            .with_no_client_auth()
    } else {
        let (pem, from) = match (ca_file, ca_pem) {
            (Some(path), _) => (
                std::fs::read(path)
                    .map_err(|source| BenchError::CaFile { path: path.to_path_buf(), source })?,
                path.display().to_string(),
            ),
            (None, Some(text)) => (text.as_bytes().to_vec(), "the daemon's trust chain".into()),
            (None, None) => return Err(BenchError::NoTrust),
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert =
                cert.map_err(|e| BenchError::BadCa { from: from.clone(), reason: e.to_string() })?;
            roots
                .add(cert)
                .map_err(|e| BenchError::BadCa { from: from.clone(), reason: e.to_string() })?;
        }
        if roots.is_empty() {
            return Err(BenchError::BadCa { from, reason: "no PEM certificate in it".into() });
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = if http2 { vec![b"h2".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// `--insecure`: accepts any server certificate (signatures are still checked).
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
