//! TLS material: the certificate chain and private key, checked before they are served.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Certificates expiring sooner than this are warned about.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// Why TLS material was refused; messages name the file and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("{path} is encrypted; the key must be password-free (decrypt it with `openssl pkey -in {path} -out key.pem`)")]
    EncryptedKey { path: PathBuf },
    #[error("{path} holds no PEM private key (PKCS#8, SEC1 or PKCS#1)")]
    NoKey { path: PathBuf },
    #[error("{path}: unsupported private key: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("the key in {key} does not match the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("{path}: the certificate cannot be parsed: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{path}: the certificate expired on {not_after}")]
    Expired { path: PathBuf, not_after: String },
    #[error("{path}: the certificate is not valid before {not_before}")]
    NotYetValid { path: PathBuf, not_before: String },
    #[error("{path}: cname {cname} is not among the certificate's DNS names ({sans})")]
    CnameMismatch { path: PathBuf, cname: String, sans: String },
    #[error("TLS setup failed: {0}")]
    Rustls(String),
}

/// A checked certificate chain and key, ready for rustls.
pub struct TlsMaterial {
    pub certified: Arc<CertifiedKey>,
    pub summary: CertSummary,
}

/// What `tls show` reports of the served leaf.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// Unix time after which the leaf is no longer valid.
    pub not_after_unix: i64,
    /// SHA-256 of the leaf's DER, hex.
    pub fingerprint_sha256: String,
    pub self_signed: bool,
    pub chain_length: usize,
    pub cname: String,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.into(), source })
}

/// Loads and checks `cert_pem` (full chain, leaf first) and `key_pem` for `cname`.
pub fn load(
    cert_pem: &Path,
    key_pem: &Path,
    cname: &str,
    provider: &CryptoProvider,
) -> Result<TlsMaterial, TlsError> {
    let cert_bytes = read(cert_pem)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadCertificate { path: cert_pem.into(), reason: e.to_string() })?;
    let leaf = chain.first().ok_or_else(|| TlsError::NoCertificate { path: cert_pem.into() })?;

    let key_bytes = read(key_pem)?;
    let key_text = String::from_utf8_lossy(&key_bytes);
    if key_text.contains("ENCRYPTED PRIVATE KEY") || key_text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(TlsError::EncryptedKey { path: key_pem.into() });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_bytes)
        .map_err(|_| TlsError::NoKey { path: key_pem.into() })?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::BadKey { path: key_pem.into(), reason: e.to_string() })?;
    let certified = CertifiedKey::new(chain.clone(), signing);
    certified
        .keys_match()
        .map_err(|_| TlsError::KeyMismatch { cert: cert_pem.into(), key: key_pem.into() })?;

    let mut summary = check_leaf(cert_pem, leaf, cname)?;
    check_chain_order(cert_pem, &chain);
    summary.chain_length = chain.len();
    summary.cert_pem = cert_pem.to_path_buf();
    summary.key_pem = key_pem.to_path_buf();
    Ok(TlsMaterial { certified: Arc::new(certified), summary })
}

/// Warns when the chain is not leaf-first with each certificate issued by the next, or when
/// the leaf's issuer is absent (fine if it is a root every client trusts, fatal otherwise).
fn check_chain_order(path: &Path, chain: &[CertificateDer<'_>]) {
    use x509_parser::prelude::*;
    let parsed: Vec<X509Certificate<'_>> = chain
        .iter()
        .filter_map(|c| X509Certificate::from_der(c.as_ref()).ok().map(|(_, c)| c))
        .collect();
    for pair in parsed.windows(2) {
        if pair[0].issuer() != pair[1].subject() {
            tracing::warn!(
                cert = %path.display(),
                certificate = %pair[0].subject(),
                next = %pair[1].subject(),
                "the certificate chain is out of order: each certificate must be followed by its issuer (leaf first)"
            );
            return;
        }
    }
    if let Some(last) = parsed.last() {
        let leaf_self_signed = parsed.len() == 1 && last.subject() == last.issuer();
        if !leaf_self_signed && last.subject() != last.issuer() && parsed.len() == 1 {
            tracing::warn!(
                cert = %path.display(),
                issuer = %last.issuer(),
                "the chain holds only the leaf: its issuer is missing (fine if that is a root clients trust; otherwise append the intermediate)"
            );
        }
    }
}

/// Validity window, SANs and self-signature of the leaf; returns what `tls show` reports.
fn check_leaf(
    path: &Path,
    leaf: &CertificateDer<'_>,
    cname: &str,
) -> Result<CertSummary, TlsError> {
    use x509_parser::prelude::*;
    let bad = |reason: String| TlsError::BadCertificate { path: path.into(), reason };
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).map_err(|e| bad(e.to_string()))?;
    let validity = cert.validity();
    let now = ASN1Time::now();
    if validity.not_after < now {
        return Err(TlsError::Expired {
            path: path.into(),
            not_after: validity.not_after.to_string(),
        });
    }
    if validity.not_before > now {
        return Err(TlsError::NotYetValid {
            path: path.into(),
            not_before: validity.not_before.to_string(),
        });
    }
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                sans.push(dns.to_string());
            }
        }
    }
    if !sans.iter().any(|s| s.eq_ignore_ascii_case(cname)) {
        return Err(TlsError::CnameMismatch {
            path: path.into(),
            cname: cname.to_string(),
            sans: if sans.is_empty() { "none".into() } else { sans.join(", ") },
        });
    }
    let self_signed = cert.subject() == cert.issuer();
    if self_signed {
        tracing::warn!(cert = %path.display(), "the TLS certificate is self-signed: for development only, clients must pin it");
    }
    let not_after = validity.not_after.timestamp();
    let days_left = (not_after - now.timestamp()) / 86_400;
    if days_left < EXPIRY_WARNING_DAYS {
        tracing::warn!(cert = %path.display(), days_left, "the TLS certificate expires within 30 days; renew it");
    }
    let fingerprint: String = {
        use sha2::Digest;
        sha2::Sha256::digest(leaf.as_ref()).iter().map(|b| format!("{b:02x}")).collect()
    };
    Ok(CertSummary {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: validity.not_before.to_string(),
        not_after: validity.not_after.to_string(),
        not_after_unix: not_after,
        fingerprint_sha256: fingerprint,
        self_signed,
        chain_length: 1,
        cname: cname.to_string(),
        cert_pem: PathBuf::new(),
        key_pem: PathBuf::new(),
    })
}
