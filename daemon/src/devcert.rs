//! Development certificates for `--demo`: a throwaway CA and a `localhost` leaf signed by it.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// PEM files of a development PKI.
pub struct DevPki {
    /// The self-signed development CA's certificate (what clients trust).
    pub ca_pem: String,
    /// The leaf certificate, signed by the CA.
    pub cert_pem: String,
    /// The leaf's private key (PKCS#8).
    pub key_pem: String,
}

/// A CA and an ECDSA P-256 leaf for `names`, valid from now for a year.
pub fn generate(names: &[&str]) -> Result<DevPki, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "edgeserve development CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let mut leaf_params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("localhost"));
    let leaf_key = KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca)?;
    Ok(DevPki { ca_pem: ca.pem(), cert_pem: leaf.pem(), key_pem: leaf_key.serialize_pem() })
}
