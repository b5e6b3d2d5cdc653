//! The one authentication gate of the data plane (SPEC §4), in order: network access, failure
//! limiting, credential verification, authorization. It returns the caller's [`Identity`] or an
//! [`AuthError`] whose `reason()` labels the failure metric and whose status (401/403/429) is
//! decided here and nowhere else.

use std::net::IpAddr;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};

use super::{bearer, Credentials, Identity};
use crate::deploy::LiveEndpoint;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::NetworkAccess;

/// Why the gate refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The peer is outside `network.allowed_networks` of a private endpoint (403).
    Network {
        /// The endpoint asked for.
        endpoint: String,
        /// The peer's address (after `X-Forwarded-For` from a trusted proxy).
        peer: IpAddr,
    },
    /// Too many failed authentications from this peer (429).
    RateLimited {
        /// When the peer may try again (sent as `Retry-After`).
        retry_after: Duration,
    },
    /// No `Authorization: Bearer` credential (401).
    Missing {
        /// The endpoint asked for.
        endpoint: String,
        /// Its auth mode (`key`, `token`, `oidc`), so the 401 names the credential it wants.
        mode: &'static str,
    },
    /// A credential that is not valid here (401); `why` names no part of it.
    Invalid {
        /// The endpoint asked for.
        endpoint: String,
        /// What is wrong with the credential (expired, another endpoint's, bad signature).
        why: String,
    },
    /// A valid identity without the role the request needs (403): names action and caller.
    Forbidden {
        /// Names the action, the scope and the caller's identity.
        message: String,
    },
}

impl AuthError {
    /// The label of `edgeserve_auth_failures_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Network { .. } => "network",
            AuthError::RateLimited { .. } => "rate_limited",
            AuthError::Missing { .. } => "missing",
            AuthError::Invalid { .. } => "invalid",
            AuthError::Forbidden { .. } => "forbidden",
        }
    }

    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::Network { .. } | AuthError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::Missing { .. } | AuthError::Invalid { .. } => StatusCode::UNAUTHORIZED,
        }
    }

    /// Whether the refusal counts against the peer's failure limit.
    fn counts_as_failure(&self) -> bool {
        matches!(self, AuthError::Missing { .. } | AuthError::Invalid { .. })
    }

    pub(super) fn into_api_error(self) -> ApiError {
        match self {
            AuthError::Network { endpoint, peer } => ApiError::forbidden(format!(
                "endpoint {endpoint} is not open to public networks and {peer} is not in network.allowed_networks"
            )),
            AuthError::RateLimited { retry_after } => ApiError::too_many_auth_failures(retry_after),
            AuthError::Missing { endpoint, mode } => ApiError::unauthorized(match mode {
                "token" => format!(
                    "endpoint {endpoint} needs a token: send \"Authorization: Bearer <token>\" \
                     (get one with `edgeserve endpoint get-credentials -n {endpoint}` or POST \
                     /api/v1/service/{endpoint}/token)"
                ),
                "oidc" => format!(
                    "endpoint {endpoint} needs an identity: send \"Authorization: Bearer <JWT of \
                     your identity provider>\" or connect with a client certificate"
                ),
                _ => format!(
                    "endpoint {endpoint} needs a credential: send \"Authorization: Bearer <key>\" \
                     (`edgeserve endpoint get-credentials -n {endpoint}`)"
                ),
            }),
            AuthError::Invalid { endpoint, why } => {
                ApiError::unauthorized(format!("{why} for endpoint {endpoint}"))
            }
            AuthError::Forbidden { message } => ApiError::forbidden(message),
        }
    }
}

/// Checks a scoring request against `endpoint`, counting failures and refusals.
pub fn admit(
    app: &AppState,
    endpoint: &LiveEndpoint,
    peer: IpAddr,
    headers: &HeaderMap,
) -> Result<Identity, AuthError> {
    let result = admission(app, endpoint, peer).and_then(|()| check(app, endpoint, headers));
    account(app, endpoint, peer, result)
}

/// The first two steps of every request: network access, then the failure limit.
fn admission(app: &AppState, endpoint: &LiveEndpoint, peer: IpAddr) -> Result<(), AuthError> {
    if endpoint.record.public_network_access == NetworkAccess::Disabled
        && !app.allowed_networks().iter().any(|n| n.contains(&peer))
    {
        return Err(AuthError::Network { endpoint: endpoint.record.name.clone(), peer });
    }
    match app.auth_limiter.blocked_for(peer) {
        Some(retry_after) => Err(AuthError::RateLimited { retry_after }),
        None => Ok(()),
    }
}

/// Counts a refusal: in the peer's failure limit (bad credentials only) and in the metric.
fn account(
    app: &AppState,
    endpoint: &LiveEndpoint,
    peer: IpAddr,
    result: Result<Identity, AuthError>,
) -> Result<Identity, AuthError> {
    if let Err(e) = &result {
        if e.counts_as_failure() {
            app.auth_limiter.record_failure(peer);
        }
        app.metrics.auth_failure(&endpoint.record.name, e.reason());
    }
    result
}

fn check(
    app: &AppState,
    endpoint: &LiveEndpoint,
    headers: &HeaderMap,
) -> Result<Identity, AuthError> {
    let name = endpoint.record.name.clone();
    let mode = endpoint.credentials.mode().as_str();
    if let Credentials::None = endpoint.credentials {
        return Ok(Identity::Anonymous);
    }
    let presented =
        bearer(headers).ok_or_else(|| AuthError::Missing { endpoint: name.clone(), mode })?;
    match &endpoint.credentials {
        Credentials::Keys(digests) => {
            digests.verify(presented).map(Identity::Key).ok_or_else(|| AuthError::Invalid {
                endpoint: name.clone(),
                why: "the credential is not valid".into(),
            })
        }
        Credentials::Token(verifier) => {
            verifier.verify(presented).map(|()| Identity::Token(name.clone())).map_err(|why| {
                let why = if presented.starts_with(super::keys::KEY_PREFIX) {
                    "a key is not accepted: the endpoint uses token auth (get a token with \
                     `edgeserve endpoint get-credentials`)"
                        .to_string()
                } else {
                    why
                };
                AuthError::Invalid { endpoint: name.clone(), why }
            })
        }
        Credentials::Oidc => {
            let invalid = |why: String| AuthError::Invalid { endpoint: name.clone(), why };
            let verifier =
                app.oidc().ok_or_else(|| invalid("oidc is not configured on this box".into()))?;
            let subject = verifier.verify(presented).map_err(invalid)?;
            let identity = Identity::Oidc(subject);
            authorize(app, &identity, SCORE, &name)?;
            Ok(identity)
        }
        Credentials::None => Ok(Identity::Anonymous),
    }
}

/// Checks a token-route request (SPEC §4): network access and failure limiting as for scoring,
/// then an identity of the identity provider (`Authorization: Bearer <JWT>`) or, without one,
/// the client certificate's common name, which must hold `action` on the endpoint.
pub fn admit_identity(
    app: &AppState,
    endpoint: &LiveEndpoint,
    peer: IpAddr,
    cert_cn: Option<&str>,
    headers: &HeaderMap,
    action: &str,
) -> Result<Identity, AuthError> {
    let name = endpoint.record.name.clone();
    let result = admission(app, endpoint, peer).and_then(|()| {
        let identity = match (bearer(headers), cert_cn) {
            (Some(jwt), _) => {
                let invalid = |why: String| AuthError::Invalid { endpoint: name.clone(), why };
                let verifier = app
                    .oidc()
                    .ok_or_else(|| invalid("oidc is not configured on this box".into()))?;
                Identity::Oidc(verifier.verify(jwt).map_err(invalid)?)
            }
            (None, Some(cn)) => Identity::Cert(cn.to_string()),
            (None, None) => {
                return Err(AuthError::Missing { endpoint: name.clone(), mode: "oidc" });
            }
        };
        authorize(app, &identity, action, &name)?;
        Ok(identity)
    });
    account(app, endpoint, peer, result)
}

/// The action the token route needs (SPEC §4).
pub const TOKEN: &str = "endpoints/token/action";

/// The action scoring needs (SPEC §4).
pub const SCORE: &str = "endpoints/score/action";

/// Whether `identity` holds `action` on `endpoint` through its role assignments (identities
/// of the identity provider and of client certificates; keys and tokens need no role).
pub fn authorize(
    app: &AppState,
    identity: &Identity,
    action: &str,
    endpoint: &str,
) -> Result<(), AuthError> {
    use super::rbac::{Principal, Scope};
    let principal = match identity {
        Identity::Oidc(sub) => Principal::oidc(sub.clone()),
        Identity::Cert(cn) => Principal::cert(cn.clone()),
        _ => return Ok(()),
    };
    super::rbac::authorize(&app.rbac(), &[principal], action, &Scope::endpoint(endpoint))
        .map_err(|denied| AuthError::Forbidden { message: denied.to_string() })
}
