//! TLS material: the certificate chain and private key, checked before they are served.

mod chain;
mod key;
pub mod names;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

/// Certificates expiring sooner than this are warned about.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// Why TLS material was refused; each message names the file, the cause and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error(
        "cannot read {path}: {source} (check the path, and that the daemon's user may read it)"
    )]
    /// A file at `path` cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The read's error.
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----; a DER file \
         converts with `openssl x509 -inform der -in {path} -out cert.pem`)"
    )]
    /// The certificate file holds no `CERTIFICATE` PEM block.
    NoCertificate {
        /// `tls.cert_pem`.
        path: PathBuf,
    },
    #[error("{path} is encrypted; the key must be password-free (decrypt it with `openssl pkey -in {path} -out key.pem`)")]
    /// The key is password-protected (`ENCRYPTED PRIVATE KEY`, or a `Proc-Type: 4,ENCRYPTED`
    /// header).
    EncryptedKey {
        /// `tls.key_pem`.
        path: PathBuf,
    },
    #[error(
        "{path} holds no PEM private key (PKCS#8, SEC1 or PKCS#1; a DER key converts with \
         `openssl pkey -inform der -in {path} -out key.pem`)"
    )]
    /// The key file holds no PEM private key.
    NoKey {
        /// `tls.key_pem`.
        path: PathBuf,
    },
    #[error("{path} is {what}, which is not supported: {fix}")]
    /// A key encoding the crypto provider cannot use (`what`: OpenSSH, DSA, RSA-PSS, an
    /// unsupported curve...), with the command that converts it (`fix`).
    UnsupportedKey {
        /// `tls.key_pem`.
        path: PathBuf,
        /// The encoding found (`an OpenSSH-format key`, `a DSA key`, `an RSA-PSS key`, ...).
        what: String,
        /// The command that converts it.
        fix: String,
    },
    #[error(
        "{path}: the private key cannot be used ({reason}); TLS here signs with RSA (2048 bits or \
         more), ECDSA P-256/P-384 or Ed25519 keys"
    )]
    /// The provider refused the key for `reason`, and no known encoding explains why.
    BadKey {
        /// `tls.key_pem`.
        path: PathBuf,
        /// The provider's message.
        reason: String,
    },
    #[error(
        "the key in {key} matches none of the {count} certificate(s) in {cert} ({subjects}): \
         use the key the certificate was issued for (compare the public keys that \
         `openssl storeutl -noout -text -certs {cert}` lists with `openssl pkey -pubout -in {key}`)"
    )]
    /// No certificate of `cert` (`count` of them, `subjects` joined by `; `) is the key's.
    KeyMismatch {
        /// `tls.cert_pem`.
        cert: PathBuf,
        /// `tls.key_pem`.
        key: PathBuf,
        /// The certificates' subjects, joined by `; `.
        subjects: String,
        /// How many certificates the file holds.
        count: usize,
    },
    #[error(
        "{key} is the key of the CA certificate {ca}, not of the leaf {leaf}: point key_pem at \
         the leaf's key"
    )]
    /// The key is the CA certificate `ca`'s, while the file also holds the leaf `leaf`.
    KeyOfCa {
        /// `tls.key_pem`.
        key: PathBuf,
        /// The CA certificate the key belongs to.
        ca: String,
        /// A leaf certificate in the file.
        leaf: String,
    },
    #[error(
        "{path}: the certificate cannot be parsed ({reason}); re-export it as PEM \
         (`openssl x509 -in {path} -out cert.pem`)"
    )]
    /// A PEM block or the leaf's DER does not parse; `reason` is the parser's.
    BadCertificate {
        /// `tls.cert_pem`.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    #[error(
        "{path}: the certificate {subject} carries its EC public key with explicit curve \
         parameters, which TLS clients refuse: write the key with a named curve \
         (`openssl ec -in KEY -param_enc named_curve -out named.key`) and have the certificate \
         reissued from a CSR made with that key"
    )]
    /// The certificate `subject` carries its EC key with explicit curve parameters.
    ExplicitCurveCertificate {
        /// `tls.cert_pem`.
        path: PathBuf,
        /// The certificate's subject.
        subject: String,
    },
    #[error("{path}: the certificate expired on {not_after}; install a renewed one")]
    /// The leaf's validity ended at `not_after` (`Nov 30 13:36:43 2026 +00:00`).
    Expired {
        /// `tls.cert_pem`.
        path: PathBuf,
        /// When it expired.
        not_after: String,
    },
    #[error("{path}: the certificate is not valid before {not_before}; check the box's clock or install a current one")]
    /// The leaf's validity starts at `not_before`, after now.
    NotYetValid {
        /// `tls.cert_pem`.
        path: PathBuf,
        /// When it becomes valid.
        not_before: String,
    },
    #[error("cname {cname}: {reason}")]
    /// `tls.cname` is neither a DNS name nor an IP literal.
    BadCname {
        /// `tls.cname`.
        cname: String,
        /// Why it is not a name.
        reason: String,
    },
    #[error(
        "{path}: the certificate does not cover cname {cname} (it names {sans}); set the cname \
         to a name it covers, or use a certificate issued for {cname}"
    )]
    /// The leaf's subjectAltNames (`sans`, comma-separated) do not cover `cname`.
    CnameMismatch {
        /// `tls.cert_pem`.
        path: PathBuf,
        /// `tls.cname`.
        cname: String,
        /// The leaf's subjectAltNames, comma-separated.
        sans: String,
    },
    #[error("TLS setup failed: {0}")]
    /// rustls refused the checked material (should not happen); its message.
    Rustls(String),
}

/// A checked certificate chain and key, ready for rustls.
pub struct TlsMaterial {
    /// The chain (leaf first) and signing key, as rustls serves them.
    pub certified: Arc<CertifiedKey>,
    /// What `tls show` reports of the leaf.
    pub summary: CertSummary,
}

/// What `tls show` reports of the served leaf.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertSummary {
    /// The leaf's subject DN (`CN=edge-box.local`).
    pub subject: String,
    /// The leaf's issuer DN.
    pub issuer: String,
    /// DNS names of the leaf's subjectAltName (wildcards as written).
    pub sans: Vec<String>,
    /// IP addresses of the leaf's subjectAltName.
    pub ip_sans: Vec<String>,
    /// Start of the leaf's validity, as x509-parser prints it (`Nov 30 13:36:43 2026 +00:00`).
    pub not_before: String,
    /// End of the leaf's validity, in the same form.
    pub not_after: String,
    /// Unix time after which the leaf is no longer valid.
    pub not_after_unix: i64,
    /// SHA-256 of the leaf's DER, hex.
    pub fingerprint_sha256: String,
    /// Whether the leaf is its own issuer.
    pub self_signed: bool,
    /// Certificates served: the leaf and the issuers found in the file.
    pub chain_length: usize,
    /// `tls.cname`, which the leaf covers.
    pub cname: String,
    /// The certificate file's path.
    pub cert_pem: PathBuf,
    /// The key file's path.
    pub key_pem: PathBuf,
    /// PEM of the certificate a client must trust: the chain's root when the file holds it,
    /// else its top-most certificate (the leaf itself when self-signed).
    #[serde(skip)]
    pub trust_pem: String,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.into(), source })
}

/// Loads and checks `cert_pem` (the chain; served leaf first whatever the file's order) and
/// `key_pem` for `cname` (a host name or IP literal, SPEC §3).
pub fn load(
    cert_pem: &Path,
    key_pem: &Path,
    cname: &str,
    provider: &CryptoProvider,
) -> Result<TlsMaterial, TlsError> {
    let name = names::parse(cname)
        .map_err(|reason| TlsError::BadCname { cname: cname.to_string(), reason })?;
    let cert_bytes = read(cert_pem)?;
    let key_bytes = read(key_pem)?;
    check(cert_pem, &cert_bytes, key_pem, &key_bytes, cname, &name, provider)
}

/// [`load`] on file contents already read: `cert_bytes` is the PEM of `cert_pem`, `key_bytes`
/// the PEM of `key_pem` (the paths only name the files in messages). Every [`TlsError`] but
/// `Read` can come back. The fuzz targets feed it arbitrary bytes (`crate::fuzz::tls_pem`).
pub fn from_pem(
    cert_pem: &Path,
    cert_bytes: &[u8],
    key_pem: &Path,
    key_bytes: &[u8],
    cname: &str,
    provider: &CryptoProvider,
) -> Result<TlsMaterial, TlsError> {
    let name = names::parse(cname)
        .map_err(|reason| TlsError::BadCname { cname: cname.to_string(), reason })?;
    check(cert_pem, cert_bytes, key_pem, key_bytes, cname, &name, provider)
}

fn check(
    cert_pem: &Path,
    cert_bytes: &[u8],
    key_pem: &Path,
    key_bytes: &[u8],
    cname: &str,
    name: &ServerName<'static>,
    provider: &CryptoProvider,
) -> Result<TlsMaterial, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadCertificate { path: cert_pem.into(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: cert_pem.into() });
    }
    let signing = key::load(key_pem, key_bytes, provider)?;
    let chain::Ordered { chain, top } = chain::order(cert_pem, key_pem, certs, &signing)?;
    let mut summary = check_leaf(cert_pem, &chain[0], cname, name)?;
    check_chain_order(cert_pem, &chain);
    summary.chain_length = chain.len();
    summary.cert_pem = cert_pem.to_path_buf();
    summary.key_pem = key_pem.to_path_buf();
    summary.trust_pem = trust_pem(&top);
    let certified = CertifiedKey::new(chain, signing);
    Ok(TlsMaterial { certified: Arc::new(certified), summary })
}

/// PEM of the chain's top-most certificate (the root when present): what a client trusts.
fn trust_pem(top: &CertificateDer<'_>) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(top.as_ref());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// Warns when the (ordered) chain does not reach a self-signed root: the top certificate's
/// issuer is missing, fine if that is a root clients trust.
fn check_chain_order(path: &Path, chain: &[CertificateDer<'_>]) {
    use x509_parser::prelude::*;
    let Some(Ok((_, top))) = chain.last().map(|c| X509Certificate::from_der(c.as_ref())) else {
        return;
    };
    if top.subject() != top.issuer() {
        tracing::warn!(
            cert = %path.display(),
            top = %top.subject(),
            issuer = %top.issuer(),
            "the chain's issuer is missing: it ends at a certificate whose issuer the file does not hold (fine if that is a root clients trust; otherwise append it; `edgeserve tls show --ca-pem` prints the top certificate)"
        );
    }
}

/// Validity window, SANs and self-signature of the leaf; returns what `tls show` reports.
fn check_leaf(
    path: &Path,
    leaf: &CertificateDer<'_>,
    cname: &str,
    name: &ServerName<'_>,
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
    let mut ip_sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for general in &ext.value.general_names {
            match general {
                GeneralName::DNSName(dns) => sans.push(dns.to_string()),
                GeneralName::IPAddress(bytes) => ip_sans.push(ip_text(bytes)),
                _ => {}
            }
        }
    }
    if !names::covers(leaf, name) {
        let listed: Vec<String> = sans
            .iter()
            .map(|d| format!("DNS:{d}"))
            .chain(ip_sans.iter().map(|i| format!("IP:{i}")))
            .collect();
        return Err(TlsError::CnameMismatch {
            path: path.into(),
            cname: cname.to_string(),
            sans: if listed.is_empty() { "no subjectAltName".into() } else { listed.join(", ") },
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
        ip_sans,
        not_before: validity.not_before.to_string(),
        not_after: validity.not_after.to_string(),
        not_after_unix: not_after,
        fingerprint_sha256: fingerprint,
        self_signed,
        chain_length: 1,
        cname: cname.to_string(),
        cert_pem: PathBuf::new(),
        key_pem: PathBuf::new(),
        trust_pem: String::new(),
    })
}

/// An IP SAN's octets as text (4 or 16 bytes).
fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => format!("{bytes:02x?}"),
    }
}
