//! Test certificates: a CA and leaves it signs, made with rcgen.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use time::{Duration, OffsetDateTime};

/// A CA and one leaf signed by it.
pub struct Pki {
    /// The CA certificate, PEM: what clients trust.
    pub ca_pem: String,
    /// The leaf certificate, PEM.
    pub cert_pem: String,
    /// The leaf's private key, PEM (PKCS#8).
    pub key_pem: String,
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// How a test leaf differs from a plain, valid one.
#[derive(Clone, Copy, Default)]
pub struct LeafOptions {
    /// Days from now: negative in the past.
    pub not_before_days: Option<i64>,
    /// Days from now the leaf expires: negative for an expired one.
    pub not_after_days: Option<i64>,
    /// Signed by itself rather than the CA.
    pub self_signed: bool,
}

impl Pki {
    /// A CA and an ECDSA P-256 leaf for `names`.
    pub fn generate(names: &[&str]) -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "edgeserve test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let (cert_pem, key_pem) = leaf(&ca, names, LeafOptions::default());
        Pki { ca_pem: ca.pem(), cert_pem, key_pem, ca }
    }

    /// Another leaf for `names` from the same CA (a new key), as PEM (cert, key).
    pub fn leaf(&self, names: &[&str], options: LeafOptions) -> (String, String) {
        leaf(&self.ca, names, options)
    }

    /// A leaf for `names` issued by a new intermediate CA that this CA signs, as PEM
    /// (leaf, intermediate, leaf key).
    pub fn leaf_via_intermediate(&self, names: &[&str]) -> (String, String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "edgeserve test intermediate CA");
        let issuer =
            CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), &self.ca).unwrap();
        let (leaf_pem, leaf_key) = leaf(&issuer, names, LeafOptions::default());
        (leaf_pem, issuer.pem(), leaf_key)
    }

    /// A client certificate with common name `cn`, as one PEM holding cert and key.
    pub fn client_identity(&self, cn: &str) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        format!("{}{}", cert.pem(), key.serialize_pem())
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` into `dir`.
    pub fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("ca.pem"), &self.ca_pem).unwrap();
        std::fs::write(dir.join("cert.pem"), &self.cert_pem).unwrap();
        std::fs::write(dir.join("key.pem"), &self.key_pem).unwrap();
    }
}

/// An IP SAN for an IP literal, a DNS SAN (wildcards as written) otherwise.
fn san(name: &str) -> SanType {
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(name.try_into().unwrap()),
    }
}

fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    o: LeafOptions,
) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.subject_alt_names = names.iter().map(|n| san(n)).collect();
    params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
    let now = OffsetDateTime::now_utc();
    if let Some(d) = o.not_before_days {
        params.not_before = now + Duration::days(d);
    }
    if let Some(d) = o.not_after_days {
        params.not_after = now + Duration::days(d);
    }
    let key = KeyPair::generate().unwrap();
    let cert = if o.self_signed {
        params.self_signed(&key).unwrap()
    } else {
        params.signed_by(&key, ca).unwrap()
    };
    (cert.pem(), key.serialize_pem())
}
