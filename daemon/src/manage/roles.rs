//! Granting and revoking role assignments (SPEC §4): the one write path for `role assignment
//! create/delete` and for declared `[[role_assignment]]`s.

use super::ManageError;
use crate::auth::rbac::{Principal, RbacSnapshot, RoleAssignment, RoleDefinition, Scope};
use crate::state::AppState;
use crate::store::Origin;

/// Who may grant: the CLI route passes a check that the caller holds every action the role
/// grants at the scope; declarations (written by the box's administrator) pass none.
pub type GrantCheck<'a> =
    &'a (dyn Fn(&RbacSnapshot, &RoleDefinition, &Scope) -> Result<(), ManageError> + Sync);

/// Grants `role` to `assignee` at `scope` and swaps the new assignments in.
///
/// Errors: `Invalid` for an unparsable assignee or scope, an unknown role or one not assignable
/// at the scope, or an endpoint scope naming no endpoint; `Conflict` if the assignee already
/// holds the role there; whatever `check` returns.
pub async fn assign(
    app: &AppState,
    assignee: &str,
    role: &str,
    scope: &str,
    origin: Origin,
    check: GrantCheck<'_>,
) -> Result<RoleAssignment, ManageError> {
    let scope = Scope::parse(scope).map_err(|e| ManageError::Invalid(e.to_string()))?;
    let assignee = Principal::parse(assignee).map_err(|e| ManageError::Invalid(e.to_string()))?;
    let _writing = app.writes.lock().await;
    if let Scope::Endpoint(name) = &scope {
        if app.store.endpoint(name)?.is_none() {
            return Err(ManageError::Invalid(format!(
                "scope {scope} names endpoint {name}, which does not exist: create the endpoint \
                 first"
            )));
        }
    }
    let snapshot = app.rbac();
    let role = snapshot.role(role).ok_or_else(|| {
        ManageError::Invalid(format!("role {role} does not exist (see `edgeserve role list`)"))
    })?;
    if !role.assignable_at(&scope) {
        return Err(ManageError::Invalid(format!(
            "role {} cannot be assigned at {scope}: its AssignableScopes are {}",
            role.name,
            role.assignable_scopes.join(", ")
        )));
    }
    let assignee_text = assignee.to_string();
    let scope_text = scope.to_string();
    if let Some(same) = snapshot
        .assignments()
        .find(|a| a.assignee == assignee_text && a.role == role.name && a.scope == scope_text)
    {
        return Err(ManageError::Conflict(format!(
            "{assignee_text} already holds {} at {scope_text} (assignment {})",
            role.name, same.id
        )));
    }
    check(&snapshot, role, &scope)?;
    let assignment = RoleAssignment {
        id: uuid::Uuid::new_v4().to_string(),
        assignee: assignee_text,
        role: role.name.clone(),
        scope: scope_text,
        created_at: crate::store::now_rfc3339(),
        built_in: false,
        origin: Some(origin),
    };
    app.store.put_role_assignment(&assignment)?;
    app.reload_rbac()?;
    tracing::info!(
        id = %assignment.id,
        assignee = %assignment.assignee,
        role = %assignment.role,
        scope = %assignment.scope,
        origin = origin.as_str(),
        "role assigned"
    );
    Ok(assignment)
}

/// Revokes the assignment `id`; `NotFound` if there is none, `Conflict` for a built-in one.
pub async fn unassign(app: &AppState, id: &str) -> Result<RoleAssignment, ManageError> {
    let _writing = app.writes.lock().await;
    let not_found = || ManageError::NotFound(format!("role assignment {id} not found"));
    let existing = app.rbac().assignment(id).cloned().ok_or_else(not_found)?;
    if existing.built_in {
        return Err(ManageError::Conflict(format!(
            "role assignment {id} is built in ({} is {} at {}: root and daemon.admin_group are \
             always Owner) and cannot be deleted",
            existing.assignee, existing.role, existing.scope
        )));
    }
    if !app.store.delete_role_assignment(id)? {
        return Err(not_found());
    }
    app.reload_rbac()?;
    tracing::info!(id = %id, "role assignment deleted");
    Ok(existing)
}
