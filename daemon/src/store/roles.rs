//! Durable custom role definitions and role assignments (SPEC §4): one JSON record per key in
//! their own sled trees, each write durable before it returns.

use super::{decode, encode, write_err, Store, StoreError};
use crate::auth::rbac::{RoleAssignment, RoleDefinition};

/// The sled tree holding custom role definitions, keyed by `Name`.
pub(super) const ROLE_DEFINITIONS: &str = "role_definitions";
/// The sled tree holding role assignments, keyed by `id`.
pub(super) const ROLE_ASSIGNMENTS: &str = "role_assignments";

impl Store {
    /// Every stored custom role definition (SPEC §4).
    pub fn role_definitions(&self) -> Result<Vec<RoleDefinition>, StoreError> {
        Self::list(&self.role_definitions, "role definition")
    }

    /// Writes (creates or replaces) a custom role definition.
    pub fn put_role_definition(&self, role: &RoleDefinition) -> Result<(), StoreError> {
        self.role_definitions.insert(role.name.as_bytes(), encode(role)?).map_err(write_err)?;
        self.durable()
    }

    /// Removes a custom role definition; false if there was none of that name.
    pub fn delete_role_definition(&self, name: &str) -> Result<bool, StoreError> {
        let old = self.role_definitions.remove(name.as_bytes()).map_err(write_err)?;
        self.durable()?;
        Ok(old.is_some())
    }

    /// Every stored role assignment (SPEC §4; the built-in ones are not stored).
    pub fn role_assignments(&self) -> Result<Vec<RoleAssignment>, StoreError> {
        Self::list(&self.role_assignments, "role assignment")
    }

    /// Writes a role assignment.
    pub fn put_role_assignment(&self, assignment: &RoleAssignment) -> Result<(), StoreError> {
        self.role_assignments
            .insert(assignment.id.as_bytes(), encode(assignment)?)
            .map_err(write_err)?;
        self.durable()
    }

    /// Removes a role assignment; false if there was none with that id.
    pub fn delete_role_assignment(&self, id: &str) -> Result<bool, StoreError> {
        let old = self.role_assignments.remove(id.as_bytes()).map_err(write_err)?;
        self.durable()?;
        Ok(old.is_some())
    }

    /// A stored role assignment by id.
    pub fn role_assignment(&self, id: &str) -> Result<Option<RoleAssignment>, StoreError> {
        self.role_assignments
            .get(id.as_bytes())
            .map_err(write_err)?
            .map(|v| decode("role assignment", &v))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> RoleDefinition {
        RoleDefinition {
            name: name.into(),
            is_custom: true,
            description: "ops".into(),
            actions: vec!["endpoints/*".into()],
            not_actions: vec!["endpoints/score/action".into()],
            assignable_scopes: vec!["/".into()],
        }
    }

    fn assignment(id: &str) -> RoleAssignment {
        RoleAssignment {
            id: id.into(),
            assignee: "unix-user:nobody".into(),
            role: "Operator".into(),
            scope: "/endpoints/ep1".into(),
            created_at: crate::store::now_rfc3339(),
            built_in: false,
            origin: None,
        }
    }

    #[test]
    fn roles_and_assignments_survive_reopen_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("master.key");
        {
            let store = Store::open(dir.path(), &key_path).unwrap();
            store.put_role_definition(&role("Operator")).unwrap();
            store.put_role_assignment(&assignment("a1")).unwrap();
            store.put_role_assignment(&assignment("a2")).unwrap();
        }
        let store = Store::open(dir.path(), &key_path).unwrap();
        assert_eq!(store.role_definitions().unwrap(), vec![role("Operator")]);
        assert_eq!(store.role_assignments().unwrap().len(), 2);
        assert_eq!(store.role_assignment("a1").unwrap().unwrap().scope, "/endpoints/ep1");
        assert!(store.delete_role_assignment("a1").unwrap());
        assert!(!store.delete_role_assignment("a1").unwrap());
        assert!(store.delete_role_definition("Operator").unwrap());
        assert!(!store.delete_role_definition("Operator").unwrap());
        drop(store);
        let store = Store::open(dir.path(), &key_path).unwrap();
        assert!(store.role_definitions().unwrap().is_empty());
        let ids: Vec<String> =
            store.role_assignments().unwrap().into_iter().map(|a| a.id).collect();
        assert_eq!(ids, ["a2"]);
    }
}
