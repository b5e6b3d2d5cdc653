//! OIDC mode (SPEC §4): JWTs from an external identity provider (RFC 7519), verified offline
//! against a JSON Web Key Set file (RFC 7517) with the configured issuer, audience, algorithms
//! (RS256, ES256 only: `none`, HMAC and unknown `kid`s are refused, so the classic
//! algorithm-confusion attack fails) and clock skew. The identity is `oidc:<sub>`; roles decide
//! what it may do.

use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::OidcSection;

/// Why the OIDC settings or the JWKS file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    #[error("oidc.jwks_file {path}: {reason}")]
    /// The JWKS file at `path` cannot be read, is not a JWKS, or holds no usable key; `reason`.
    Jwks {
        /// `oidc.jwks_file`.
        path: String,
        /// Why the file cannot be used (unreadable, not a JWKS, a key that does not decode).
        reason: String,
    },
    #[error("oidc.{key} must be set when an endpoint uses auth_mode oidc")]
    /// `oidc.{key}` (issuer, audience or jwks_file) is empty while an endpoint needs it.
    Missing {
        /// The key under `[oidc]` (`issuer`, `audience`, `jwks_file`).
        key: &'static str,
    },
}

/// The signing keys of the identity provider, by `kid`, with the algorithm family each fits.
pub struct OidcVerifier {
    keys: HashMap<String, (DecodingKey, Family)>,
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    leeway: u64,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier").field("kids", &self.keys.keys()).finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    Ec,
}

fn family(alg: Algorithm) -> Option<Family> {
    match alg {
        Algorithm::RS256 => Some(Family::Rsa),
        Algorithm::ES256 => Some(Family::Ec),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
}

impl OidcVerifier {
    /// Reads the JWKS file named in `[oidc]`. Keys without a `kid`, or of a type other than
    /// RSA or EC, are skipped (and logged); a file with no usable key is an error.
    pub fn load(settings: &OidcSection) -> Result<OidcVerifier, OidcError> {
        Self::check_settings(settings)?;
        let path = &settings.jwks_file;
        let text = std::fs::read_to_string(Path::new(path))
            .map_err(|e| OidcError::Jwks { path: path.clone(), reason: e.to_string() })?;
        Self::from_jwks(settings, &text)
    }

    fn check_settings(settings: &OidcSection) -> Result<(), OidcError> {
        for (key, value) in [
            ("issuer", &settings.issuer),
            ("audience", &settings.audience),
            ("jwks_file", &settings.jwks_file),
        ] {
            if value.trim().is_empty() {
                return Err(OidcError::Missing { key });
            }
        }
        Ok(())
    }

    /// [`OidcVerifier::load`] with the JWKS file's text already read (`settings.jwks_file` only
    /// names it in messages). Errors: [`OidcError::Missing`] for an unset issuer, audience or
    /// jwks_file; [`OidcError::Jwks`] for text that is not a JWKS, a key that does not decode,
    /// or no usable key. The fuzz targets feed it arbitrary text (`crate::fuzz::jwks`).
    pub fn from_jwks(settings: &OidcSection, text: &str) -> Result<OidcVerifier, OidcError> {
        Self::check_settings(settings)?;
        let path = settings.jwks_file.clone();
        let fail = |reason: String| OidcError::Jwks { path: path.clone(), reason };
        let set: JwkSet =
            serde_json::from_str(text).map_err(|e| fail(format!("not a JSON Web Key Set: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                tracing::warn!(jwks = %path, "a JWKS key without kid is ignored");
                continue;
            };
            let fam = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Family::Rsa,
                AlgorithmParameters::EllipticCurve(_) => Family::Ec,
                _ => {
                    tracing::warn!(jwks = %path, kid = %kid, "a JWKS key that is neither RSA nor EC is ignored");
                    continue;
                }
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| fail(format!("key {kid}: {e}")))?;
            keys.insert(kid, (key, fam));
        }
        if keys.is_empty() {
            return Err(fail("it holds no RSA or EC key with a kid".into()));
        }
        let algorithms = settings
            .algorithms
            .iter()
            .filter_map(|a| match a.as_str() {
                "RS256" => Some(Algorithm::RS256),
                "ES256" => Some(Algorithm::ES256),
                _ => None,
            })
            .collect();
        Ok(OidcVerifier {
            keys,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            algorithms,
            leeway: settings.clock_skew_s,
        })
    }

    /// The subject of a valid token; the refusal names what is wrong, never the token.
    pub fn verify(&self, token: &str) -> Result<String, String> {
        let header =
            decode_header(token).map_err(|_| "the token is not a valid JWT".to_string())?;
        if !self.algorithms.contains(&header.alg) {
            return Err(format!("tokens signed with {:?} are not accepted", header.alg));
        }
        let kid = header.kid.ok_or("the token names no key (kid)")?;
        let (key, fam) = self
            .keys
            .get(&kid)
            .ok_or_else(|| format!("the token's key {kid} is not in the JWKS"))?;
        if family(header.alg) != Some(*fam) {
            return Err(format!("key {kid} does not sign {:?}", header.alg));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        decode::<Claims>(token, key, &validation).map(|d| d.claims.sub).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired".into(),
                ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
                ErrorKind::InvalidIssuer => "the token's issuer is not oidc.issuer".into(),
                ErrorKind::InvalidAudience => "the token's audience is not oidc.audience".into(),
                ErrorKind::MissingRequiredClaim(c) => format!("the token has no {c} claim"),
                _ => "the token's signature is not valid".into(),
            }
        })
    }
}
