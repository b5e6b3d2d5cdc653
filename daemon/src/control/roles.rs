//! Role routes of the control plane (SPEC §4, §6): `/roleDefinitions` and `/roleAssignments`.
//!
//! Reading needs `roles/read` at `/`. Writing needs `roles/write` (at `/` for definitions, at
//! the assignment's scope for assignments), and nobody can grant more than they hold: a role
//! can only be defined or assigned by a caller who holds every action it grants where it
//! applies. Writes are serialized by `AppState::writes`, flushed to the store, then swapped into
//! the snapshot the evaluator reads.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::endpoints::store_err;
use super::{Action, Caller, Scope};
use crate::auth::rbac::{is_builtin_role, RbacSnapshot, RoleDefinition};
use crate::error::ApiError;
use crate::state::AppState;

/// Refuses unless `caller` holds every action `role` grants at `scope`.
fn check_grant(
    caller: &Caller,
    snapshot: &RbacSnapshot,
    role: &RoleDefinition,
    scope: &Scope,
) -> Result<(), ApiError> {
    if let Some(missing) = role.granted().into_iter().find(|a| !caller.holds(snapshot, a, scope)) {
        return Err(ApiError::forbidden(format!(
            "{} may not grant role {} on {scope}: it grants {missing}, which {} does not hold \
             there (nobody can grant more than they hold)",
            caller.describe(),
            role.name,
            caller.describe(),
        )));
    }
    Ok(())
}

fn reload(app: &AppState) -> Result<(), ApiError> {
    app.reload_rbac().map_err(store_err)
}

fn role_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("role definition {name} not found (see `edgeserve role list`)"))
}

/// `GET /roleDefinitions`: built-in roles first, then custom ones.
pub async fn list_definitions(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::RolesRead, Scope::Root)?;
    let snapshot = app.rbac();
    Ok(Json(json!(snapshot.roles())))
}

/// `GET /roleDefinitions/{name}`.
pub async fn show_definition(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::RolesRead, Scope::Root)?;
    let snapshot = app.rbac();
    let role = snapshot.role(&name).ok_or_else(|| role_not_found(&name))?;
    Ok(Json(json!(role)))
}

/// `PUT /roleDefinitions`: creates or replaces a custom role (the seed's JSON shape).
pub async fn put_definition(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::RolesWrite, Scope::Root)?;
    let role: RoleDefinition = super::json_body(body).await?;
    role.validate_custom().map_err(|e| ApiError::invalid_input(e.to_string()))?;
    let _writing = app.writes.lock().await;
    let snapshot = app.rbac();
    for s in &role.assignable_scopes {
        let scope = Scope::parse(s).map_err(|e| ApiError::invalid_input(e.to_string()))?;
        check_grant(&caller, &snapshot, &role, &scope)?;
    }
    // Replacing a role changes what its assignments grant: the caller must hold that too.
    for a in snapshot.assignments().filter(|a| a.role == role.name) {
        let scope = Scope::parse(&a.scope).map_err(|e| ApiError::invalid_input(e.to_string()))?;
        check_grant(&caller, &snapshot, &role, &scope)?;
    }
    app.store.put_role_definition(&role).map_err(store_err)?;
    reload(&app)?;
    tracing::info!(role = %role.name, by = %caller.describe(), "role definition written");
    Ok(Json(json!(role)))
}

/// `DELETE /roleDefinitions/{name}`: refused for built-in roles and while the role is assigned.
pub async fn delete_definition(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::RolesWrite, Scope::Root)?;
    if is_builtin_role(&name) {
        return Err(ApiError::invalid_input(format!(
            "role {name} is built in and cannot be deleted"
        )));
    }
    let _writing = app.writes.lock().await;
    let assigned: Vec<String> = app
        .store
        .role_assignments()
        .map_err(store_err)?
        .into_iter()
        .filter(|a| a.role == name)
        .map(|a| a.id)
        .collect();
    if !assigned.is_empty() {
        return Err(ApiError::conflict(format!(
            "role {name} is still assigned ({}): delete those assignments first with \
             `edgeserve role assignment delete --id ID`",
            assigned.join(", ")
        )));
    }
    if !app.store.delete_role_definition(&name).map_err(store_err)? {
        return Err(role_not_found(&name));
    }
    reload(&app)?;
    tracing::info!(role = %name, by = %caller.describe(), "role definition deleted");
    Ok(Json(json!({ "deleted": name })))
}

/// `GET /roleAssignments`: built-in assignments (root, `daemon.admin_group`) first.
pub async fn list_assignments(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.authorize(&app, Action::RolesRead, Scope::Root)?;
    let snapshot = app.rbac();
    Ok(Json(json!(snapshot.assignments().collect::<Vec<_>>())))
}

/// The body of `POST /roleAssignments`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAssignment {
    assignee: String,
    role: String,
    scope: String,
}

/// `POST /roleAssignments`: `assignee` gets `role` at `scope`.
pub async fn create_assignment(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    let req: NewAssignment = super::json_body(body).await?;
    let scope = Scope::parse(&req.scope).map_err(|e| ApiError::invalid_input(e.to_string()))?;
    caller.authorize(&app, Action::RolesWrite, scope)?;
    let check = |snapshot: &RbacSnapshot, role: &RoleDefinition, scope: &Scope| {
        check_grant(&caller, snapshot, role, scope)
            .map_err(|e| crate::manage::ManageError::Forbidden(e.message))
    };
    let assignment = crate::manage::roles::assign(
        &app,
        &req.assignee,
        &req.role,
        &req.scope,
        crate::store::Origin::Cli,
        &check,
    )
    .await?;
    tracing::info!(id = %assignment.id, by = %caller.describe(), "role assignment made with the CLI");
    Ok(Json(json!(assignment)))
}

/// `DELETE /roleAssignments/{id}`: needs `roles/write` at the assignment's scope; built-in
/// assignments cannot be deleted.
pub async fn delete_assignment(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = app.rbac();
    let Some(existing) = snapshot.assignment(&id) else {
        // Without roles/read the caller learns nothing about which ids exist.
        caller.authorize(&app, Action::RolesWrite, Scope::Root)?;
        return Err(ApiError::not_found(format!("role assignment {id} not found")));
    };
    let scope = Scope::parse(&existing.scope).unwrap_or(Scope::Root);
    caller.authorize(&app, Action::RolesWrite, scope)?;
    crate::manage::roles::unassign(&app, &id).await?;
    tracing::info!(id = %id, by = %caller.describe(), "role assignment deleted with the CLI");
    Ok(Json(json!({ "deleted": id })))
}
