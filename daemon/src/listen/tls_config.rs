//! The rustls server configuration: ring provider, TLS 1.2/1.3, ALPN h2 and http/1.1, and a
//! certificate resolver whose material can be swapped without dropping connections.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use super::TlsError;

/// Serves the current certificate; [`CertResolver::replace`] swaps it for new handshakes.
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertResolver {
    /// A resolver serving `certified`.
    pub fn new(certified: Arc<CertifiedKey>) -> CertResolver {
        CertResolver { current: RwLock::new(certified) }
    }

    /// Serves `certified` from the next handshake on.
    pub fn replace(&self, certified: Arc<CertifiedKey>) {
        match self.current.write() {
            Ok(mut guard) => *guard = certified,
            Err(poisoned) => *poisoned.into_inner() = certified,
        }
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        })
    }
}

/// The crypto provider, chosen once: ring.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Largest plaintext per TLS record: small enough for microcontroller clients (embedded-tls)
/// whose read buffer must hold a whole record, which cannot negotiate a smaller one with rustls.
pub const MAX_FRAGMENT_SIZE: usize = 4096;

/// The TLS listener's configuration: TLS 1.3 and 1.2, ALPN h2 and http/1.1, session resumption
/// (stateful and tickets), and client certificates checked against `client_ca` when given.
pub fn server_config(
    resolver: Arc<CertResolver>,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => builder.with_client_cert_verifier(client_verifier(path)?),
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.max_fragment_size = Some(MAX_FRAGMENT_SIZE);
    config.ticketer =
        rustls::crypto::ring::Ticketer::new().map_err(|e| TlsError::Rustls(e.to_string()))?;
    Ok(Arc::new(config))
}

/// Requires client certificates issued by the CAs in `path` (`tls.client_ca_pem`).
fn client_verifier(
    path: &Path,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let bytes =
        std::fs::read(path).map_err(|source| TlsError::Read { path: path.into(), source })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert
            .map_err(|e| TlsError::BadCertificate { path: path.into(), reason: e.to_string() })?;
        roots
            .add(cert)
            .map_err(|e| TlsError::BadCertificate { path: path.into(), reason: e.to_string() })?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoCertificate { path: path.into() });
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| TlsError::Rustls(format!("tls.client_ca_pem {}: {e}", path.display())))
}
