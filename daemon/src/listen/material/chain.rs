//! The certificate file's chain put in the order TLS needs (RFC 8446 §4.4.2: leaf first, each
//! certificate followed by its issuer): the leaf is the certificate that matches the key (a
//! non-CA one, valid now, before others), not whichever comes first, so bundles written
//! CA-first still serve, with a warning. Duplicates and certificates outside the leaf's chain
//! are dropped, with a warning.

use std::path::Path;
use std::sync::Arc;

use rustls::sign::{CertifiedKey, SigningKey};
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::TlsError;

/// Whether one certificate holds the public half of `key`: `None` when the provider cannot tell.
fn matches(cert: &CertificateDer<'static>, key: &Arc<dyn SigningKey>) -> Option<bool> {
    match CertifiedKey::new(vec![cert.clone()], key.clone()).keys_match() {
        Ok(()) => Some(true),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Some(false),
        Err(_) => None,
    }
}

/// What ordering needs to know of one certificate.
struct Facts {
    subject: Vec<u8>,
    issuer: Vec<u8>,
    readable: String,
    is_ca: bool,
    valid_now: bool,
    not_after: i64,
    /// An EC public key with explicit curve parameters (no TLS client accepts it).
    explicit_curve: bool,
}

fn facts(cert: &CertificateDer<'_>) -> Facts {
    match X509Certificate::from_der(cert.as_ref()) {
        Ok((_, c)) => Facts {
            subject: c.subject().as_raw().to_vec(),
            issuer: c.issuer().as_raw().to_vec(),
            readable: c.subject().to_string(),
            is_ca: c.is_ca(),
            valid_now: c.validity().is_valid(),
            not_after: c.validity().not_after.timestamp(),
            explicit_curve: c
                .public_key()
                .algorithm
                .parameters
                .as_ref()
                .is_some_and(|p| p.tag() == x509_parser::der_parser::asn1_rs::Tag::Sequence),
        },
        Err(_) => Facts {
            subject: Vec::new(),
            issuer: Vec::new(),
            readable: "(unparsable)".into(),
            is_ca: false,
            valid_now: false,
            not_after: 0,
            explicit_curve: false,
        },
    }
}

/// The served chain, and the certificate a client must trust.
pub struct Ordered {
    /// Leaf first, each certificate followed by its issuer.
    pub chain: Vec<CertificateDer<'static>>,
    /// The top of the chain: its root when the file holds it.
    pub top: CertificateDer<'static>,
}

/// Orders `certs` for serving. Errors with [`TlsError::KeyMismatch`] when no certificate
/// matches the key, and [`TlsError::KeyOfCa`] when only a CA certificate does while the file
/// also holds a leaf.
pub fn order(
    cert_pem: &Path,
    key_pem: &Path,
    mut certs: Vec<CertificateDer<'static>>,
    key: &Arc<dyn SigningKey>,
) -> Result<Ordered, TlsError> {
    let before = certs.len();
    let mut seen = std::collections::HashSet::new();
    certs.retain(|c| seen.insert(c.as_ref().to_vec()));
    if certs.len() != before {
        tracing::warn!(cert = %cert_pem.display(), duplicates = before - certs.len(), "the certificate file holds the same certificate more than once; serving it once");
    }
    let all: Vec<Facts> = certs.iter().map(facts).collect();
    if let Some(bad) = all.iter().find(|f| f.explicit_curve) {
        return Err(TlsError::ExplicitCurveCertificate {
            path: cert_pem.into(),
            subject: bad.readable.clone(),
        });
    }
    let verdicts: Vec<Option<bool>> = certs.iter().map(|c| matches(c, key)).collect();
    let mut candidates: Vec<usize> =
        (0..certs.len()).filter(|&i| verdicts[i] == Some(true)).collect();
    // Prefer a leaf (not a CA), valid now, expiring last.
    candidates.sort_by_key(|&i| (all[i].is_ca, !all[i].valid_now, -all[i].not_after));
    let leaf = match candidates.first() {
        Some(&i) if all[i].is_ca => {
            if let Some(other) = (0..certs.len()).find(|&j| !all[j].is_ca) {
                return Err(TlsError::KeyOfCa {
                    key: key_pem.into(),
                    ca: all[i].readable.clone(),
                    leaf: all[other].readable.clone(),
                });
            }
            i
        }
        Some(&i) => i,
        // The provider cannot compare this key type: trust the file's order (leaf first).
        None if verdicts.iter().all(|v| v.is_none()) => 0,
        None => {
            return Err(TlsError::KeyMismatch {
                cert: cert_pem.into(),
                key: key_pem.into(),
                subjects: all.iter().map(|f| f.readable.clone()).collect::<Vec<_>>().join("; "),
                count: certs.len(),
            })
        }
    };
    let mut order = vec![leaf];
    let mut current = leaf;
    while all[current].subject != all[current].issuer {
        let next = (0..certs.len()).find(|&i| {
            !order.contains(&i)
                && !all[i].subject.is_empty()
                && all[i].subject == all[current].issuer
        });
        match next {
            Some(i) => {
                order.push(i);
                current = i;
            }
            None => break,
        }
    }
    let strays: Vec<&str> =
        (0..certs.len()).filter(|i| !order.contains(i)).map(|i| all[i].readable.as_str()).collect();
    if !strays.is_empty() {
        tracing::warn!(cert = %cert_pem.display(), dropped = %strays.join(" | "), "the certificate file holds certificates that are not in the leaf's chain; they are not served (remove them from the file)");
    }
    if order.iter().enumerate().any(|(pos, &i)| pos != i) {
        let file_order: Vec<&str> = all.iter().map(|f| f.readable.as_str()).collect();
        tracing::warn!(
            cert = %cert_pem.display(),
            leaf = %all[leaf].readable,
            file_order = %file_order.join(" | "),
            "the certificate chain is out of order: serving it leaf first, each certificate followed by its issuer; rewrite the file in that order to silence this warning"
        );
    }
    let chain: Vec<CertificateDer<'static>> = order.iter().map(|&i| certs[i].clone()).collect();
    let top = chain[chain.len() - 1].clone();
    Ok(Ordered { chain, top })
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    use super::*;

    fn ca(
        name: &str,
        parent: Option<&CertifiedIssuer<'static, KeyPair>>,
    ) -> CertifiedIssuer<'static, KeyPair> {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        match parent {
            None => CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap(),
            Some(parent) => {
                CertifiedIssuer::signed_by(p, KeyPair::generate().unwrap(), parent).unwrap()
            }
        }
    }

    fn signing(key: &KeyPair) -> Arc<dyn SigningKey> {
        let der = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        rustls::crypto::ring::default_provider().key_provider.load_private_key(der).unwrap()
    }

    fn subjects(chain: &[CertificateDer<'_>]) -> Vec<String> {
        chain.iter().map(|c| facts(c).readable).collect()
    }

    #[test]
    fn orders_duplicates_and_strays() {
        let root = ca("root", None);
        let inter = ca("inter", Some(&root));
        let stray = ca("stray", None);
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["box.test".to_string()]).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, "box");
        let leaf = p.signed_by(&key, &inter).unwrap();
        let der = |c: &CertificateDer<'static>| c.clone();
        let file = vec![
            der(stray.der()),
            der(root.der()),
            der(inter.der()),
            der(leaf.der()),
            der(leaf.der()),
        ];
        let got = order(Path::new("c.pem"), Path::new("k.pem"), file, &signing(&key)).unwrap();
        assert_eq!(subjects(&got.chain), ["CN=box", "CN=inter", "CN=root"]);
        assert_eq!(subjects(&[got.top]), ["CN=root"]);
    }

    #[test]
    fn the_key_of_a_ca_is_named_as_such() {
        let root = ca("root", None);
        let key = KeyPair::generate().unwrap();
        let p = CertificateParams::new(vec!["box.test".to_string()]).unwrap();
        let leaf = p.signed_by(&key, &root).unwrap();
        let file = vec![leaf.der().clone(), root.der().clone()];
        let err = order(Path::new("c.pem"), Path::new("k.pem"), file, &signing(root.key()))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("is the key of the CA certificate"), "{err}");
    }

    #[test]
    fn a_key_matching_nothing_lists_every_subject() {
        let root = ca("root", None);
        let other = KeyPair::generate().unwrap();
        let err = order(
            Path::new("c.pem"),
            Path::new("k.pem"),
            vec![root.der().clone()],
            &signing(&other),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("matches none of the 1 certificate(s)") && err.contains("CN=root"),
            "{err}"
        );
    }
}
