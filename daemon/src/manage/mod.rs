//! Control-plane operations: validate, load new deployments before retiring old ones, write the
//! store atomically, then swap the routing table. Writes are serialized by one lock.

pub mod deployments;
pub mod endpoints;
pub mod models;
pub mod roles;

use std::sync::Arc;

use crate::deploy::{LiveEndpoint, RoutingTable};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoreError;

/// Why a control-plane operation was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManageError {
    #[error("{0}")]
    /// A model, deployment or role named in the request does not exist: 404.
    NotFound(String),
    #[error("{0}")]
    /// The endpoint does not exist: 404 with code `EndpointNotFound` (the message may suggest a
    /// near name).
    EndpointNotFound(String),
    #[error("{0}")]
    /// The change contradicts the current state (a name taken, a deployment still routed): 409.
    Conflict(String),
    /// The caller may not make this change (RBAC, SPEC §4): 403.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    /// The request is malformed or a value is out of range: 400 `InvalidInput`.
    Invalid(String),
    #[error("{0}")]
    /// The deployment could not be loaded (the model does not fit the target): 400
    /// `DeploymentFailed`.
    DeploymentFailed(String),
    /// A fault of the box (randomness, I/O), not of the request: 500, details in the log.
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    /// The store failed: 500.
    Store(#[from] StoreError),
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> ApiError {
        match e {
            ManageError::NotFound(m) => ApiError::not_found(m),
            ManageError::EndpointNotFound(message) => {
                ApiError { code: "EndpointNotFound", ..ApiError::not_found(message) }
            }
            ManageError::Conflict(m) => ApiError::conflict(m),
            ManageError::Forbidden(m) => ApiError::forbidden(m),
            ManageError::Invalid(m) => ApiError::invalid_input(m),
            ManageError::DeploymentFailed(m) => {
                ApiError { code: "DeploymentFailed", ..ApiError::invalid_input(m) }
            }
            ManageError::Internal(m) => {
                tracing::error!(error = %m, "control-plane operation failed");
                ApiError::internal()
            }
            ManageError::Store(e) => {
                tracing::error!(error = %e, "store operation failed");
                ApiError::internal()
            }
        }
    }
}

/// Swaps in a table where `name` is `endpoint` (or gone, with `None`).
fn publish(app: &AppState, name: &str, endpoint: Option<LiveEndpoint>) {
    let mut table: RoutingTable = (*app.table()).clone();
    match endpoint {
        Some(e) => table.endpoints.insert(name.to_string(), Arc::new(e)),
        None => table.endpoints.remove(name),
    };
    app.swap_table(table);
}

/// The live endpoint, or the endpoint-not-found error.
fn live_endpoint(app: &AppState, name: &str) -> Result<Arc<LiveEndpoint>, ManageError> {
    app.table().endpoint(name).cloned().ok_or_else(|| endpoint_missing(app, name))
}

/// "endpoint X not found", with the closest existing name when one is near (control plane
/// only: the data plane never lists names to unauthenticated clients).
pub fn endpoint_missing(app: &AppState, name: &str) -> ManageError {
    let table = app.table();
    let hint = crate::names::did_you_mean(name, table.endpoints.keys().map(String::as_str));
    ManageError::EndpointNotFound(format!("endpoint {name} not found{hint}"))
}
