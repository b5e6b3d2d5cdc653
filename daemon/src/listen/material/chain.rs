//! The certificate file's chain put in the order TLS needs (RFC 8446 §4.4.2: leaf first, each
//! certificate followed by its issuer): the leaf is the certificate that matches the key, not
//! whichever comes first, so bundles written CA-first still serve (with a warning).

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

/// Subject and issuer (raw DER names) and a readable subject of each certificate.
struct Names {
    subject: Vec<u8>,
    issuer: Vec<u8>,
    readable: String,
}

fn names(cert: &CertificateDer<'_>) -> Names {
    match X509Certificate::from_der(cert.as_ref()) {
        Ok((_, c)) => Names {
            subject: c.subject().as_raw().to_vec(),
            issuer: c.issuer().as_raw().to_vec(),
            readable: c.subject().to_string(),
        },
        Err(_) => {
            Names { subject: Vec::new(), issuer: Vec::new(), readable: "(unparsable)".into() }
        }
    }
}

/// Returns the chain leaf-first, each certificate followed by its issuer when the file holds
/// it; certificates that fit nowhere keep their place at the end. Errors with
/// [`TlsError::KeyMismatch`] when no certificate matches the key.
pub fn order(
    cert_pem: &Path,
    key_pem: &Path,
    certs: Vec<CertificateDer<'static>>,
    key: &Arc<dyn SigningKey>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let verdicts: Vec<Option<bool>> = certs.iter().map(|c| matches(c, key)).collect();
    let leaf = match verdicts.iter().position(|v| *v == Some(true)) {
        Some(i) => i,
        // The provider cannot compare this key type: trust the file's order (leaf first).
        None if verdicts.iter().all(|v| v.is_none()) => 0,
        None => {
            return Err(TlsError::KeyMismatch {
                cert: cert_pem.into(),
                key: key_pem.into(),
                leaf: names(&certs[0]).readable,
                count: certs.len(),
            })
        }
    };
    let all: Vec<Names> = certs.iter().map(names).collect();
    let mut order = vec![leaf];
    let mut current = leaf;
    loop {
        let next = (0..certs.len()).find(|&i| {
            !order.contains(&i)
                && !all[i].subject.is_empty()
                && all[i].subject == all[current].issuer
                && all[current].subject != all[current].issuer
        });
        match next {
            Some(i) => {
                order.push(i);
                current = i;
            }
            None => break,
        }
    }
    let rest: Vec<usize> = (0..certs.len()).filter(|i| !order.contains(i)).collect();
    order.extend(rest);
    if order.iter().enumerate().any(|(pos, &i)| pos != i) {
        let file_order: Vec<&str> = all.iter().map(|n| n.readable.as_str()).collect();
        tracing::warn!(
            cert = %cert_pem.display(),
            leaf = %all[leaf].readable,
            file_order = %file_order.join(" | "),
            "the certificate chain is out of order: serving it leaf first, each certificate followed by its issuer; rewrite the file in that order to silence this warning"
        );
    }
    let mut slots: Vec<Option<CertificateDer<'static>>> = certs.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}
