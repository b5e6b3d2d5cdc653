//! The private key file: decoded as PEM (PKCS#8, SEC1 or PKCS#1, password-free, SPEC §3), and
//! when the crypto provider refuses it, the encoding is named with the `openssl` command that
//! converts it (explicit EC curve parameters, unsupported curves, DSA, RSA-PSS, short RSA).

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::SigningKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use x509_parser::asn1_rs::{Any, Class, FromDer, Tag};

use super::TlsError;

/// Reads `bytes` (the content of `path`) as one password-free private key the provider can sign
/// with. Errors: [`TlsError::EncryptedKey`], [`TlsError::NoKey`], [`TlsError::UnsupportedKey`]
/// (a known encoding the provider cannot use, with the fix), [`TlsError::BadKey`].
pub fn load(
    path: &Path,
    bytes: &[u8],
    provider: &CryptoProvider,
) -> Result<Arc<dyn SigningKey>, TlsError> {
    let text = String::from_utf8_lossy(bytes);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(TlsError::EncryptedKey { path: path.into() });
    }
    let unsupported = |what: &str, fix: String| TlsError::UnsupportedKey {
        path: path.into(),
        what: what.into(),
        fix,
    };
    if text.contains("BEGIN OPENSSH PRIVATE KEY") {
        return Err(unsupported(
            "an OpenSSH-format key",
            format!(
                "TLS needs a PEM key: convert a copy with `ssh-keygen -p -N '' -m PKCS8 -f COPY` \
                 (or issue a TLS key with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {}`)",
                path.display()
            ),
        ));
    }
    if text.contains("BEGIN DSA PRIVATE KEY") {
        return Err(dsa(path));
    }
    let key =
        PrivateKeyDer::from_pem_slice(bytes).map_err(|_| TlsError::NoKey { path: path.into() })?;
    match provider.key_provider.load_private_key(key.clone_key()) {
        Ok(signing) => Ok(signing),
        Err(e) => Err(diagnose(path, &key)
            .unwrap_or_else(|| TlsError::BadKey { path: path.into(), reason: e.to_string() })),
    }
}

const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const RSA: &str = "1.2.840.113549.1.1.1";
const RSA_PSS: &str = "1.2.840.113549.1.1.10";
const DSA: &str = "1.2.840.10040.4.1";
const ED448: &str = "1.3.101.113";
const X25519_X448: [&str; 2] = ["1.3.101.110", "1.3.101.111"];
const SUPPORTED_CURVES: [&str; 2] = ["1.2.840.10045.3.1.7", "1.3.132.0.34"];

fn dsa(path: &Path) -> TlsError {
    TlsError::UnsupportedKey {
        path: path.into(),
        what: "a DSA key".into(),
        fix: format!(
            "TLS servers use RSA or ECDSA keys: issue a new key and certificate, e.g. \
             `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {}`",
            path.display()
        ),
    }
}

fn curve_name(oid: &str) -> &str {
    match oid {
        "1.3.132.0.35" => "P-521 (secp521r1)",
        "1.3.132.0.10" => "secp256k1",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1",
        "1.3.36.3.3.2.8.1.1.13" => "brainpoolP512r1",
        other => other,
    }
}

/// The elements of a DER SEQUENCE.
fn sequence(der: &[u8]) -> Option<Vec<Any<'_>>> {
    let (_, any) = Any::from_der(der).ok()?;
    items(&any)
}

/// The elements of a parsed SEQUENCE.
fn items<'a>(any: &Any<'a>) -> Option<Vec<Any<'a>>> {
    if any.tag() != Tag::Sequence {
        return None;
    }
    let mut rest = any.data;
    let mut items = Vec::new();
    while !rest.is_empty() {
        let (r, item) = Any::from_der(rest).ok()?;
        items.push(item);
        rest = r;
    }
    Some(items)
}

fn oid_of(any: &Any<'_>) -> Option<String> {
    (any.tag() == Tag::Oid).then(|| any.clone().oid().ok().map(|o| o.to_id_string())).flatten()
}

/// Why the provider refused an EC key, from its curve parameters (an OID or an explicit SEQUENCE).
fn ec_params(path: &Path, params: &Any<'_>) -> Option<TlsError> {
    let explicit = || {
        TlsError::UnsupportedKey {
        path: path.into(),
        what: "an EC key with explicit curve parameters".into(),
        fix: format!(
            "write it with a named curve: `openssl ec -in {p} -param_enc named_curve -out {p}.named` \
             and point key_pem at the new file",
            p = path.display()
        ),
    }
    };
    if params.tag() == Tag::Sequence {
        return Some(explicit());
    }
    let oid = oid_of(params)?;
    (!SUPPORTED_CURVES.contains(&oid.as_str())).then(|| TlsError::UnsupportedKey {
        path: path.into(),
        what: format!("an EC key on curve {}", curve_name(&oid)),
        fix: format!(
            "TLS here signs with P-256 or P-384: issue a new key and certificate, e.g. \
             `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {}`",
            path.display()
        ),
    })
}

/// Bits of an RSA modulus in a PKCS#1 `RSAPrivateKey`.
fn rsa_bits(pkcs1: &[u8]) -> Option<usize> {
    let items = sequence(pkcs1)?;
    let modulus = items.get(1)?.data;
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    Some(significant * 8)
}

fn short_rsa(path: &Path, pkcs1: &[u8]) -> Option<TlsError> {
    let bits = rsa_bits(pkcs1)?;
    (bits < 2048).then(|| TlsError::UnsupportedKey {
        path: path.into(),
        what: format!("an RSA key of {bits} bits"),
        fix: format!(
            "RSA keys need at least 2048 bits: `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out {}` \
             and a new certificate for it",
            path.display()
        ),
    })
}

/// Names a known encoding the provider cannot use; `None` when nothing specific is found.
fn diagnose(path: &Path, key: &PrivateKeyDer<'_>) -> Option<TlsError> {
    match key {
        PrivateKeyDer::Pkcs1(der) => short_rsa(path, der.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(der) => {
            // ECPrivateKey ::= SEQUENCE { version, privateKey, [0] ECParameters OPTIONAL, [1] ... }
            let items = sequence(der.secret_sec1_der())?;
            let tagged =
                items.iter().find(|i| i.class() == Class::ContextSpecific && i.tag() == Tag(0))?;
            let (_, params) = Any::from_der(tagged.data).ok()?;
            ec_params(path, &params)
        }
        PrivateKeyDer::Pkcs8(der) => {
            // PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, OCTET STRING, ... }
            let items_of = sequence(der.secret_pkcs8_der())?;
            let algorithm = items(items_of.get(1)?)?;
            let oid = oid_of(algorithm.first()?)?;
            match oid.as_str() {
                EC_PUBLIC_KEY => ec_params(path, algorithm.get(1)?),
                RSA => short_rsa(path, items_of.get(2)?.data),
                RSA_PSS => Some(TlsError::UnsupportedKey {
                    path: path.into(),
                    what: "an RSA-PSS-only key (openssl genpkey -algorithm RSA-PSS)".into(),
                    fix: format!(
                        "issue a plain RSA key (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out {}`) \
                         and a certificate for it; TLS still signs with PSS",
                        path.display()
                    ),
                }),
                DSA => Some(dsa(path)),
                ED448 => Some(TlsError::UnsupportedKey {
                    path: path.into(),
                    what: "an Ed448 key".into(),
                    fix: "use an Ed25519, ECDSA P-256/P-384 or RSA key and a certificate for it"
                        .into(),
                }),
                o if X25519_X448.contains(&o) => Some(TlsError::UnsupportedKey {
                    path: path.into(),
                    what: "a key-agreement key (X25519/X448), which cannot sign".into(),
                    fix: "use an Ed25519, ECDSA P-256/P-384 or RSA key and a certificate for it"
                        .into(),
                }),
                _ => None,
            }
        }
        _ => None,
    }
}
