//! The served TLS material and its hot reload: `edgeserve tls set`, SIGHUP. A failed reload
//! keeps what is served; open connections keep their session, new handshakes get the new chain.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::material::{self, CertSummary};
use super::{provider, CertResolver, TlsError};

/// Where the served material comes from.
#[derive(Debug, Clone)]
pub struct TlsSource {
    /// The certificate chain file.
    pub cert_pem: PathBuf,
    /// The key file.
    pub key_pem: PathBuf,
    /// The name clients use, which the leaf covers.
    pub cname: String,
    /// `config` (the config file's paths) or `control-plane` (installed by `tls set`).
    pub origin: &'static str,
}

/// The TLS listener's current material.
pub struct TlsState {
    /// What rustls asks for the certificate; swapped by `tls set` and reloads.
    pub resolver: Arc<CertResolver>,
    current: RwLock<(TlsSource, CertSummary)>,
}

impl TlsState {
    /// Loads and checks the material of `source`.
    pub fn load(source: TlsSource) -> Result<TlsState, TlsError> {
        let m = material::load(&source.cert_pem, &source.key_pem, &source.cname, &provider())?;
        Ok(TlsState {
            resolver: Arc::new(CertResolver::new(m.certified)),
            current: RwLock::new((source, m.summary)),
        })
    }

    /// What is served now, and from where.
    pub fn current(&self) -> (TlsSource, CertSummary) {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads `source` and serves it from the next handshake on; on error nothing changes.
    pub fn reload(&self, source: TlsSource) -> Result<CertSummary, TlsError> {
        Ok(self.commit(Self::prepare(source)?))
    }

    /// Reads and checks `source` without serving it (a reload checks everything first).
    pub fn prepare(source: TlsSource) -> Result<PreparedTls, TlsError> {
        let m = material::load(&source.cert_pem, &source.key_pem, &source.cname, &provider())?;
        Ok(PreparedTls { source, material: m })
    }

    /// Serves prepared material from the next handshake on.
    pub fn commit(&self, prepared: PreparedTls) -> CertSummary {
        let PreparedTls { source, material: m } = prepared;
        self.resolver.replace(m.certified);
        let summary = m.summary.clone();
        match self.current.write() {
            Ok(mut c) => *c = (source, m.summary),
            Err(poisoned) => *poisoned.into_inner() = (source, m.summary),
        }
        tracing::info!(fingerprint = %summary.fingerprint_sha256, subject = %summary.subject, "TLS certificate loaded");
        summary
    }
}

/// TLS material read and checked by [`TlsState::prepare`], not yet served.
pub struct PreparedTls {
    source: TlsSource,
    material: material::TlsMaterial,
}

/// Copies PEM files into `dir` (key mode 0600) atomically, so a restart serves them too.
pub fn install(
    dir: &Path,
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<(PathBuf, PathBuf), std::io::Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    let cert = std::fs::read(cert_pem)?;
    let key = std::fs::read(key_pem)?;
    let write = |name: &str, bytes: &[u8], mode: u32| -> std::io::Result<PathBuf> {
        let tmp = dir.join(format!(".{name}.new"));
        let _ = std::fs::remove_file(&tmp);
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        let dest = dir.join(name);
        std::fs::rename(&tmp, &dest)?;
        Ok(dest)
    };
    let key_path = write("key.pem", &key, 0o600)?;
    let cert_path = write("cert.pem", &cert, 0o644)?;
    // The renames, durable before `tls set` is acknowledged (a power cut could undo them).
    crate::store::sync_dir(dir)?;
    Ok((cert_path, key_path))
}
