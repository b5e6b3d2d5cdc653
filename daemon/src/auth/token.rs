//! Token mode (SPEC §4): short-lived JWTs (RFC 7519, HS256 with a per-endpoint secret sealed in
//! the store like the keys) bound to one endpoint by their audience. Issued by
//! `get-credentials` and the token route; rotating the secret revokes every token at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The `iss` of every token the daemon signs.
pub const ISSUER: &str = "edgeserved";

/// The `aud` that binds a token to its endpoint: a token of endpoint A is refused on B.
pub fn audience(endpoint: &str) -> String {
    format!("edgeserve:endpoint:{endpoint}")
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: u64,
    exp: u64,
}

/// The `get-credentials` JSON of a token endpoint (SPEC §6).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenGrant {
    /// The JWT, sent as `Authorization: Bearer ...`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// When the token expires (RFC 3339, UTC, whole seconds).
    pub expiry_time_utc: String,
    /// When to fetch the next one: three quarters of the lifetime (RFC 3339, UTC).
    pub refresh_after_time_utc: String,
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign a token: {0}")]
pub struct IssueError(String);

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Signs a token for `endpoint` valid `lifetime` from now; clients should refresh after
/// three quarters of it. `subject` names who asked (`unix-user:NAME`, `oidc:SUB`, `cert:CN`).
pub fn issue(
    endpoint: &str,
    secret: &[u8],
    lifetime: Duration,
    subject: &str,
) -> Result<TokenGrant, IssueError> {
    let now = SystemTime::now();
    let iat = now.duration_since(UNIX_EPOCH).map_err(|e| IssueError(e.to_string()))?.as_secs();
    let exp = iat + lifetime.as_secs().max(1);
    let claims =
        Claims { iss: ISSUER.into(), aud: audience(endpoint), sub: subject.into(), iat, exp };
    let token = encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret))
        .map_err(|e| IssueError(e.to_string()))?;
    let expiry = UNIX_EPOCH + Duration::from_secs(exp);
    // Three quarters of the lifetime, in whole seconds: always before the expiry.
    let refresh = UNIX_EPOCH + Duration::from_secs(iat + (exp - iat) * 3 / 4);
    Ok(TokenGrant {
        access_token: token,
        token_type: "Bearer",
        expiry_time_utc: rfc3339(expiry),
        refresh_after_time_utc: rfc3339(refresh),
    })
}

/// What the data plane keeps to verify an endpoint's tokens.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
    /// False for a missing or short secret: nothing verifies then (an empty HMAC key would
    /// let anyone sign).
    usable: bool,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenVerifier { .. }")
    }
}

impl TokenVerifier {
    /// A verifier for `endpoint`'s tokens signed with `secret`.
    pub fn new(endpoint: &str, secret: &[u8]) -> TokenVerifier {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience(endpoint)]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.leeway = 0;
        TokenVerifier {
            key: DecodingKey::from_secret(secret),
            validation,
            usable: secret.len() >= 16,
        }
    }

    /// Whether `token` is a valid, unexpired token of this endpoint. The reason of a refusal
    /// names no part of the token.
    pub fn verify(&self, token: &str) -> Result<(), String> {
        if !self.usable {
            tracing::error!("a token endpoint has no signing secret; regenerate it with --key-type token-signing");
            return Err("the endpoint cannot verify tokens now (no signing secret)".into());
        }
        decode::<Claims>(token, &self.key, &self.validation).map(|_| ()).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired: get a new one".into(),
                ErrorKind::InvalidAudience => "the token was issued for another endpoint".into(),
                _ => "the token is not valid (altered, or revoked by a signing-secret rotation): \
                      get a new one"
                    .into(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_scores_only_its_endpoint_and_only_until_it_expires() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let grant = issue("ep1", secret, Duration::from_secs(60), "unix-user:root").unwrap();
        assert_eq!(grant.token_type, "Bearer");
        assert!(grant.refresh_after_time_utc < grant.expiry_time_utc);
        TokenVerifier::new("ep1", secret).verify(&grant.access_token).unwrap();
        let err = TokenVerifier::new("ep2", secret).verify(&grant.access_token).unwrap_err();
        assert!(err.contains("another endpoint"), "{err}");
        let err = TokenVerifier::new("ep1", b"another secret, another secret!!")
            .verify(&grant.access_token)
            .unwrap_err();
        assert!(err.starts_with("the token is not valid"), "{err}");
        let mut tampered = grant.access_token.clone();
        tampered.insert(tampered.len() / 2, 'x');
        assert!(TokenVerifier::new("ep1", secret).verify(&tampered).is_err());
        // An empty secret verifies nothing, not even a token signed with it.
        let forged = issue("ep1", b"", Duration::from_secs(60), "mallory").unwrap();
        assert!(TokenVerifier::new("ep1", b"").verify(&forged.access_token).is_err());
    }
}
