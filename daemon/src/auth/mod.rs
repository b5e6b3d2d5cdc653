//! Who is calling: the credential of a scoring request, checked against its endpoint.

pub mod keys;
pub mod limit;

use axum::http::{header, HeaderMap};

use crate::error::ApiError;
use crate::store::AuthMode;
pub use keys::{KeyDigests, KeySlot};

/// The identity a request was authenticated as, for the traffic log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    Key(KeySlot),
    /// A control-socket caller (`edgeserve endpoint invoke`).
    UnixUser(u32),
}

impl Identity {
    /// How the identity appears in logs: `key:primary`, never a secret.
    pub fn describe(&self) -> String {
        match self {
            Identity::Key(slot) => format!("key:{}", slot.as_str()),
            Identity::UnixUser(uid) => format!("unix-user:{uid}"),
        }
    }
}

/// The credentials an endpoint accepts.
#[derive(Debug, Clone)]
pub enum Credentials {
    Keys(KeyDigests),
}

impl Credentials {
    /// The auth mode these credentials implement.
    pub fn mode(&self) -> AuthMode {
        match self {
            Credentials::Keys(_) => AuthMode::Key,
        }
    }
}

/// Checks the request's `Authorization: Bearer` credential against the endpoint's.
pub fn authenticate(
    endpoint: &str,
    creds: &Credentials,
    headers: &HeaderMap,
) -> Result<Identity, ApiError> {
    let presented = bearer(headers).ok_or_else(|| {
        ApiError::unauthorized(format!(
            "endpoint {endpoint} needs a credential: send \"Authorization: Bearer <key>\""
        ))
    })?;
    match creds {
        Credentials::Keys(digests) => {
            digests.verify(presented).map(Identity::Key).ok_or_else(|| {
                ApiError::unauthorized(format!(
                    "the credential is not valid for endpoint {endpoint}"
                ))
            })
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim()).filter(|s| !s.is_empty())
}
