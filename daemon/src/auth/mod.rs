//! Who is calling and what they may do: the one authentication gate of the data plane
//! (`gate`), credentials per auth mode (`keys`, `token`), failure limiting (`limit`), the client
//! behind a trusted load balancer (`proxy`).

pub mod gate;
pub mod keys;
pub mod limit;
pub mod oidc;
pub mod proxy;
pub mod rbac;
pub mod token;

use axum::http::{header, HeaderMap};

use crate::error::ApiError;
use crate::store::{AuthMode, EndpointKeys, EndpointRecord};
pub use gate::{admit, AuthError};
pub use keys::{KeyDigests, KeySlot};
pub use token::TokenVerifier;

/// The identity a request was authenticated as (SPEC §4's names), for logs and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// An endpoint key, by slot (never the key itself).
    Key(KeySlot),
    /// A token of this endpoint (token mode).
    Token(String),
    /// An identity-provider subject (oidc mode, the token route).
    Oidc(String),
    /// A client certificate's common name (mutual TLS).
    Cert(String),
    /// A control-socket caller (`edgeserve endpoint invoke`).
    /// Described as `unix-user:NAME` (SPEC §4).
    UnixUser(String),
    /// No credential, on an endpoint with `auth_mode = "none"`.
    Anonymous,
}

impl Identity {
    /// How the identity appears in logs: `key:primary`, `token:ep1`, never a secret.
    pub fn describe(&self) -> String {
        match self {
            Identity::Key(slot) => format!("key:{}", slot.as_str()),
            Identity::Token(endpoint) => format!("token:{endpoint}"),
            Identity::Oidc(sub) => format!("oidc:{sub}"),
            Identity::Cert(cn) => format!("cert:{cn}"),
            Identity::UnixUser(described) => described.clone(),
            Identity::Anonymous => "anonymous".into(),
        }
    }
}

/// The credentials an endpoint accepts: one auth mode, never two (SPEC §4).
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Key mode: the digests of the primary and secondary keys.
    Keys(KeyDigests),
    /// Token mode: the verifier of the endpoint's HS256 tokens.
    Token(Box<TokenVerifier>),
    /// JWTs of the identity provider (`[oidc]`), whose subject needs a role to score.
    Oidc,
    /// No credential needed (`auth_mode = "none"` with `allow_unauthenticated = true`).
    None,
}

impl Credentials {
    /// What the data plane keeps for `record` in its auth mode: key digests, or the token
    /// verifier made from the endpoint's sealed signing secret.
    pub fn for_endpoint(record: &EndpointRecord, keys: &EndpointKeys) -> Credentials {
        match record.auth_mode {
            AuthMode::Key => Credentials::Keys(KeyDigests::new(keys)),
            AuthMode::Token => Credentials::Token(Box::new(TokenVerifier::new(
                &record.name,
                keys.token_secret.as_bytes(),
            ))),
            AuthMode::Oidc => Credentials::Oidc,
            AuthMode::None => Credentials::None,
        }
    }

    /// The auth mode these credentials implement.
    pub fn mode(&self) -> AuthMode {
        match self {
            Credentials::Keys(_) => AuthMode::Key,
            Credentials::Token(_) => AuthMode::Token,
            Credentials::Oidc => AuthMode::Oidc,
            Credentials::None => AuthMode::None,
        }
    }
}

/// The `Authorization: Bearer` credential of a request (the scheme in any case).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim()).filter(|s| !s.is_empty())
}

/// Maps a gate refusal to its response; `ApiError` stays the one error → response mapping.
impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        e.into_api_error()
    }
}
