//! Role-based access control (SPEC §4): actions, roles, scopes, assignments, and the one
//! evaluator both the control socket and the data plane ask.
//!
//! The evaluator reads an [`RbacSnapshot`] (roles and assignments in memory, swapped atomically by
//! `AppState` after every control-plane change), never the store.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// A control-plane or data-plane action (SPEC §4's names), checked before each operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `endpoints/read`: list and show endpoints and deployments.
    EndpointsRead,
    /// `endpoints/write`: create and update endpoints and deployments, set traffic.
    EndpointsWrite,
    /// `endpoints/delete`: delete endpoints and deployments.
    EndpointsDelete,
    /// `endpoints/token/action`: a token for a token-mode endpoint (SPEC §4's token route).
    Token,
    /// `endpoints/listKeys/action`: read an endpoint's keys (`get-credentials`).
    ListKeys,
    /// `endpoints/regenerateKeys/action`: rotate an endpoint's keys or token-signing secret.
    RegenerateKeys,
    /// `endpoints/score/action`: score through the data plane or `endpoint invoke`.
    Score,
    /// `models/read`: list and show registered models.
    ModelsRead,
    /// `models/write`: register and delete models.
    ModelsWrite,
    /// `tls/read`: `tls show`.
    TlsRead,
    /// `tls/write`: replace the certificate and key (`tls set`).
    TlsWrite,
    /// `roles/read`: list roles and role assignments.
    RolesRead,
    /// `roles/write`: create and delete custom roles and role assignments.
    RolesWrite,
    /// Devices, board and status: read with `endpoints/read`.
    DevicesRead,
}

/// Every action a role can grant (SPEC §4), in the order `role show` lists them.
pub const ACTIONS: [&str; 13] = [
    "endpoints/read",
    "endpoints/write",
    "endpoints/delete",
    "endpoints/token/action",
    "endpoints/listKeys/action",
    "endpoints/regenerateKeys/action",
    "endpoints/score/action",
    "models/read",
    "models/write",
    "tls/read",
    "tls/write",
    "roles/read",
    "roles/write",
];

impl Action {
    /// The action's name in roles and messages (SPEC §4).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::EndpointsRead | Action::DevicesRead => "endpoints/read",
            Action::EndpointsWrite => "endpoints/write",
            Action::EndpointsDelete => "endpoints/delete",
            Action::Token => "endpoints/token/action",
            Action::ListKeys => "endpoints/listKeys/action",
            Action::RegenerateKeys => "endpoints/regenerateKeys/action",
            Action::Score => "endpoints/score/action",
            Action::ModelsRead => "models/read",
            Action::ModelsWrite => "models/write",
            Action::TlsRead => "tls/read",
            Action::TlsWrite => "tls/write",
            Action::RolesRead => "roles/read",
            Action::RolesWrite => "roles/write",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an assignment applies (SPEC §4): everything (`/`) or one endpoint (`/endpoints/NAME`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// `/`: every endpoint and the box itself.
    Root,
    /// `/endpoints/NAME`: one endpoint, by name.
    Endpoint(String),
}

impl Scope {
    /// The scope of one endpoint.
    pub fn endpoint(name: &str) -> Scope {
        Scope::Endpoint(name.to_string())
    }

    /// Parses `/` or `/endpoints/NAME`.
    pub fn parse(text: &str) -> Result<Scope, RbacError> {
        if text == "/" {
            return Ok(Scope::Root);
        }
        match text.strip_prefix("/endpoints/") {
            Some(name) if crate::names::check("endpoint name", name).is_ok() => {
                Ok(Scope::endpoint(name))
            }
            _ => Err(RbacError::Scope(text.to_string())),
        }
    }

    /// Whether an assignment at `self` applies to a request at `target`.
    pub fn covers(&self, target: &Scope) -> bool {
        match self {
            Scope::Root => true,
            Scope::Endpoint(_) => self == target,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Root => f.write_str("/"),
            Scope::Endpoint(name) => write!(f, "/endpoints/{name}"),
        }
    }
}

/// The kinds of assignee (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalKind {
    /// `unix-user:NAME`: a local user on the control socket.
    UnixUser,
    /// `unix-group:NAME`: every member of a local group.
    UnixGroup,
    /// `oidc:SUBJECT`: an identity provider's `sub` claim.
    Oidc,
    /// `cert:COMMON_NAME`: a client certificate's subject CN (mutual TLS).
    Cert,
}

impl PrincipalKind {
    /// The kind's prefix in assignees and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::UnixUser => "unix-user",
            PrincipalKind::UnixGroup => "unix-group",
            PrincipalKind::Oidc => "oidc",
            PrincipalKind::Cert => "cert",
        }
    }
}

/// Who a request acts as: `unix-user:NAME`, `unix-group:NAME`, `oidc:SUBJECT` or
/// `cert:COMMON_NAME` (SPEC §4). A caller usually has several (a user and its groups).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Principal {
    kind: PrincipalKind,
    name: String,
}

impl Principal {
    /// A principal of `kind` named `name` (any text; assignees are checked by [`Principal::parse`]).
    pub fn new(kind: PrincipalKind, name: impl Into<String>) -> Principal {
        Principal { kind, name: name.into() }
    }

    /// `unix-user:NAME`.
    pub fn unix_user(name: impl Into<String>) -> Principal {
        Principal::new(PrincipalKind::UnixUser, name)
    }

    /// `unix-group:NAME`.
    pub fn unix_group(name: impl Into<String>) -> Principal {
        Principal::new(PrincipalKind::UnixGroup, name)
    }

    /// `oidc:SUBJECT`, an identity provider's `sub`.
    pub fn oidc(subject: impl Into<String>) -> Principal {
        Principal::new(PrincipalKind::Oidc, subject)
    }

    /// `cert:COMMON_NAME`, a client certificate's CN.
    pub fn cert(common_name: impl Into<String>) -> Principal {
        Principal::new(PrincipalKind::Cert, common_name)
    }

    /// Parses an assignee such as `unix-user:alice` or `oidc:3f2a…`.
    pub fn parse(text: &str) -> Result<Principal, RbacError> {
        let bad = || RbacError::Assignee(text.to_string());
        let (kind, name) = text.split_once(':').ok_or_else(bad)?;
        let kind = match kind {
            "unix-user" => PrincipalKind::UnixUser,
            "unix-group" => PrincipalKind::UnixGroup,
            "oidc" => PrincipalKind::Oidc,
            "cert" => PrincipalKind::Cert,
            _ => return Err(bad()),
        };
        if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
            return Err(bad());
        }
        Ok(Principal::new(kind, name))
    }

    /// The principal's kind.
    pub fn kind(&self) -> PrincipalKind {
        self.kind
    }

    /// The name after the kind's prefix.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)
    }
}

impl std::str::FromStr for Principal {
    type Err = RbacError;

    fn from_str(s: &str) -> Result<Principal, RbacError> {
        Principal::parse(s)
    }
}

/// Why a role, an assignment or a name was refused; every message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RbacError {
    #[error("scope \"{0}\" must be \"/\" or \"/endpoints/NAME\"")]
    /// The scope text given, which is neither `/` nor `/endpoints/NAME`.
    Scope(String),
    #[error(
        "assignee \"{0}\" must be unix-user:NAME, unix-group:NAME, oidc:SUBJECT or cert:COMMON_NAME"
    )]
    /// The assignee text given, which has none of the four principal prefixes.
    Assignee(String),
    #[error("role {role}: {reason}")]
    /// Role `role` is not defined, or its definition is refused for `reason`.
    Role {
        /// The role's name.
        role: String,
        /// What is wrong with it (unknown action, bad scope, built-in name).
        reason: String,
    },
}

/// A role definition in the seed's JSON shape (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDefinition {
    #[serde(rename = "Name")]
    /// `Name`: unique; built-in roles are Owner, Data Scientist, Reader and Scorer.
    pub name: String,
    #[serde(rename = "IsCustom", default = "yes")]
    /// `IsCustom`: false only for the built-in roles.
    pub is_custom: bool,
    #[serde(rename = "Description", default)]
    /// `Description`: free text.
    pub description: String,
    #[serde(rename = "Actions", default)]
    /// `Actions`: action names (from [`ACTIONS`]) the role grants; `*` grants all.
    pub actions: Vec<String>,
    #[serde(rename = "NotActions", default)]
    /// `NotActions`: actions taken back from `actions` (`*` minus these).
    pub not_actions: Vec<String>,
    #[serde(rename = "AssignableScopes", default = "root_scopes")]
    /// `AssignableScopes`: the scopes it may be assigned at (`/`, `/endpoints/NAME`).
    pub assignable_scopes: Vec<String>,
}

fn yes() -> bool {
    true
}

fn root_scopes() -> Vec<String> {
    vec!["/".to_string()]
}

/// The names of the built-in roles (SPEC §4).
pub const OWNER: &str = "Owner";
/// Every `endpoints/*` and `models/*` action, scoring included.
pub const DATA_SCIENTIST: &str = "Data Scientist";
/// Every `*/read` action.
pub const READER: &str = "Reader";
/// `endpoints/score/action` only.
pub const SCORER: &str = "Scorer";

/// The id of the built-in assignment making `daemon.admin_group` Owner.
pub const ADMIN_GROUP_ASSIGNMENT: &str = "builtin-admin-group";
/// The id of the built-in assignment making root Owner.
pub const ROOT_ASSIGNMENT: &str = "builtin-root";

/// The built-in roles (SPEC §4).
pub fn builtin_roles() -> Vec<RoleDefinition> {
    let role = |name: &str, description: &str, actions: &[&str]| RoleDefinition {
        name: name.into(),
        is_custom: false,
        description: description.into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        not_actions: Vec::new(),
        assignable_scopes: root_scopes(),
    };
    vec![
        role(OWNER, "Everything, including roles and assignments.", &["*"]),
        role(
            DATA_SCIENTIST,
            "Every endpoint and model action, scoring included.",
            &["endpoints/*", "models/*"],
        ),
        role(READER, "Read everything; change nothing.", &["*/read"]),
        role(SCORER, "Score endpoints.", &["endpoints/score/action"]),
    ]
}

/// Whether `name` is a built-in role's (in any case, so none can be shadowed).
pub fn is_builtin_role(name: &str) -> bool {
    [OWNER, DATA_SCIENTIST, READER, SCORER].iter().any(|b| b.eq_ignore_ascii_case(name))
}

/// Whether an action pattern (`endpoints/*/action`, `*/read`, `*`) matches `action`: `*` stands
/// for one or more whole segments; segments compare without regard to case.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[&str], a: &[&str]) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some((&"*", rest)) => (1..=a.len()).any(|k| go(rest, &a[k..])),
            Some((seg, rest)) => {
                a.first().is_some_and(|s| s.eq_ignore_ascii_case(seg)) && go(rest, &a[1..])
            }
        }
    }
    let p: Vec<&str> = pattern.split('/').collect();
    let a: Vec<&str> = action.split('/').collect();
    go(&p, &a)
}

impl RoleDefinition {
    /// Whether the role grants `action`: an `Actions` pattern matches it and no `NotActions`
    /// pattern does (NotActions subtract from this role only; they deny nothing another role
    /// grants).
    pub fn allows(&self, action: &str) -> bool {
        self.actions.iter().any(|p| action_matches(p, action))
            && !self.not_actions.iter().any(|p| action_matches(p, action))
    }

    /// Every known action the role grants.
    pub fn granted(&self) -> Vec<&'static str> {
        ACTIONS.iter().copied().filter(|a| self.allows(a)).collect()
    }

    /// Whether the role may be assigned at `scope`.
    pub fn assignable_at(&self, scope: &Scope) -> bool {
        self.assignable_scopes.iter().any(|s| Scope::parse(s).is_ok_and(|s| s.covers(scope)))
    }

    /// Checks a custom role before it is stored: a free name, `IsCustom: true`, actions that
    /// each match a known action, scopes that parse.
    pub fn validate_custom(&self) -> Result<(), RbacError> {
        let err = |reason: String| RbacError::Role { role: self.name.clone(), reason };
        let name = self.name.trim();
        if name.is_empty() || name != self.name || self.name.len() > 128 {
            return Err(RbacError::Role {
                role: format!("\"{}\"", self.name),
                reason: "Name must be 1 to 128 characters without leading or trailing spaces"
                    .into(),
            });
        }
        if self.name.chars().any(|c| c.is_control() || c == '/') {
            return Err(err("Name must not contain '/' or control characters".into()));
        }
        if is_builtin_role(&self.name) {
            return Err(err("is a built-in role's name; choose another Name".into()));
        }
        if !self.is_custom {
            return Err(err("IsCustom must be true: only custom roles can be created".into()));
        }
        if self.actions.is_empty() {
            return Err(err("Actions must list at least one action".into()));
        }
        for (field, patterns) in [("Actions", &self.actions), ("NotActions", &self.not_actions)] {
            for p in patterns {
                let well_formed = !p.is_empty()
                    && p.split('/').all(|seg| {
                        seg == "*"
                            || (!seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphabetic()))
                    });
                if !well_formed || !ACTIONS.iter().any(|a| action_matches(p, a)) {
                    return Err(err(format!(
                        "{field} entry \"{p}\" matches no action; actions are {} (\"*\" stands \
                         for one or more whole segments)",
                        ACTIONS.join(", ")
                    )));
                }
            }
        }
        if self.granted().is_empty() {
            return Err(err("NotActions remove every action the role grants".into()));
        }
        if self.assignable_scopes.is_empty() {
            return Err(err("AssignableScopes must list at least one scope, e.g. \"/\"".into()));
        }
        for s in &self.assignable_scopes {
            Scope::parse(s).map_err(|e| err(format!("AssignableScopes: {e}")))?;
        }
        Ok(())
    }
}

/// A role assignment: `assignee` holds `role` at `scope` (SPEC §4, §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    /// The assignment's id (a UUID), as `role assignment delete` takes it.
    pub id: String,
    /// Who holds the role: `unix-user:N`, `unix-group:N`, `oidc:SUB` or `cert:CN`.
    pub assignee: String,
    /// The role's `Name`.
    pub role: String,
    /// Where it applies: `/` or `/endpoints/NAME`.
    pub scope: String,
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// Built-in assignments (root, `daemon.admin_group`) are listed but cannot be deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub built_in: bool,
    /// Made with the CLI or declared in the config (`[[role_assignment]]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<crate::store::Origin>,
}

/// Roles and assignments as the evaluator sees them: built-ins plus the store's records.
#[derive(Debug, Clone)]
pub struct RbacSnapshot {
    roles: BTreeMap<String, RoleDefinition>,
    /// Assignments with their parsed assignee and scope; unparsable stored ones are skipped.
    assignments: Vec<(RoleAssignment, Principal, Scope)>,
}

impl RbacSnapshot {
    /// The built-in roles and assignments (root and `admin_group` are Owner at `/`) plus the
    /// stored custom roles and assignments.
    pub fn new(
        custom_roles: Vec<RoleDefinition>,
        assignments: Vec<RoleAssignment>,
        admin_group: &str,
    ) -> RbacSnapshot {
        let mut roles: BTreeMap<String, RoleDefinition> =
            builtin_roles().into_iter().map(|r| (r.name.clone(), r)).collect();
        for r in custom_roles {
            if !is_builtin_role(&r.name) {
                roles.insert(r.name.clone(), r);
            }
        }
        let builtin = |id: &str, assignee: String| RoleAssignment {
            id: id.into(),
            assignee,
            role: OWNER.into(),
            scope: "/".into(),
            created_at: String::new(),
            built_in: true,
            origin: None,
        };
        let mut all = vec![builtin(ROOT_ASSIGNMENT, "unix-user:root".into())];
        if !admin_group.is_empty() {
            all.push(builtin(ADMIN_GROUP_ASSIGNMENT, format!("unix-group:{admin_group}")));
        }
        all.extend(assignments.into_iter().filter(|a| !a.built_in));
        let assignments = all
            .into_iter()
            .filter_map(|a| {
                let parsed = (Principal::parse(&a.assignee), Scope::parse(&a.scope));
                match parsed {
                    (Ok(p), Ok(s)) => Some((a, p, s)),
                    _ => {
                        tracing::error!(id = %a.id, "role assignment with a bad assignee or scope ignored");
                        None
                    }
                }
            })
            .collect();
        RbacSnapshot { roles, assignments }
    }

    /// Only the built-ins (for an empty store).
    pub fn builtin(admin_group: &str) -> RbacSnapshot {
        RbacSnapshot::new(Vec::new(), Vec::new(), admin_group)
    }

    /// Every role, built-in ones first.
    pub fn roles(&self) -> Vec<&RoleDefinition> {
        let (builtin, custom): (Vec<_>, Vec<_>) = self.roles.values().partition(|r| !r.is_custom);
        builtin.into_iter().chain(custom).collect()
    }

    /// A role by name.
    pub fn role(&self, name: &str) -> Option<&RoleDefinition> {
        self.roles.get(name)
    }

    /// Every assignment, built-in ones first.
    pub fn assignments(&self) -> impl Iterator<Item = &RoleAssignment> {
        self.assignments.iter().map(|(a, _, _)| a)
    }

    /// An assignment by id.
    pub fn assignment(&self, id: &str) -> Option<&RoleAssignment> {
        self.assignments().find(|a| a.id == id)
    }

    /// Whether any of `principals` holds `action` at `scope`.
    pub fn allows(&self, principals: &[Principal], action: &str, scope: &Scope) -> bool {
        self.assignments.iter().any(|(a, who, at)| {
            at.covers(scope)
                && principals.contains(who)
                && self.roles.get(&a.role).is_some_and(|r| r.allows(action))
        })
    }
}

/// A refusal: the caller does not hold the action at the scope. The message names both.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{caller} may not perform {action} on {scope}: no role assignment grants it (an Owner can \
     grant it with `edgeserve role assignment create --assignee {caller} --role ROLE --scope {scope}`)"
)]
pub struct Denied {
    /// The caller's first principal (`unix-user:alice`, `oidc:SUB`), which the fix names.
    pub caller: String,
    /// The action's name (`endpoints/write`).
    pub action: String,
    /// The scope it was asked at (`/endpoints/NAME` or `/`).
    pub scope: String,
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> ApiError {
        ApiError::forbidden(d.to_string())
    }
}

/// The one RBAC check (SPEC §4): whether any of `principals` (e.g. `[Principal::oidc(sub)]`, or
/// a unix user and its groups) holds `action` at `scope`. The denial names the action and the
/// first principal as the caller.
pub fn authorize(
    snapshot: &RbacSnapshot,
    principals: &[Principal],
    action: &str,
    scope: &Scope,
) -> Result<(), Denied> {
    if snapshot.allows(principals, action, scope) {
        return Ok(());
    }
    Err(Denied {
        caller: principals.first().map_or_else(|| "an unknown caller".into(), ToString::to_string),
        action: action.to_string(),
        scope: scope.to_string(),
    })
}

/// [`authorize`] for principals written as text (`"oidc:SUB"`, `"cert:CN"`), as the data plane
/// has them: a string that is no principal grants nothing; the denial names the first string.
pub fn authorize_names<S: AsRef<str>>(
    snapshot: &RbacSnapshot,
    principals: &[S],
    action: &str,
    scope: &Scope,
) -> Result<(), Denied> {
    let parsed: Vec<Principal> =
        principals.iter().filter_map(|p| Principal::parse(p.as_ref()).ok()).collect();
    authorize(snapshot, &parsed, action, scope).map_err(|mut denied| {
        if let Some(first) = principals.first() {
            denied.caller = first.as_ref().to_string();
        }
        denied
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(name: &str, actions: &[&str], not_actions: &[&str]) -> RoleDefinition {
        RoleDefinition {
            name: name.into(),
            is_custom: true,
            description: String::new(),
            actions: actions.iter().map(|s| s.to_string()).collect(),
            not_actions: not_actions.iter().map(|s| s.to_string()).collect(),
            assignable_scopes: root_scopes(),
        }
    }

    fn assign(id: &str, assignee: &str, role: &str, scope: &str) -> RoleAssignment {
        RoleAssignment {
            id: id.into(),
            assignee: assignee.into(),
            role: role.into(),
            scope: scope.into(),
            created_at: String::new(),
            built_in: false,
            origin: None,
        }
    }

    fn ep(name: &str) -> Scope {
        Scope::endpoint(name)
    }

    #[test]
    fn wildcards_match_one_or_more_whole_segments() {
        assert!(action_matches("*", "endpoints/read"));
        assert!(action_matches("*", "endpoints/score/action"));
        assert!(action_matches("endpoints/*", "endpoints/read"));
        assert!(action_matches("endpoints/*", "endpoints/score/action"));
        assert!(!action_matches("endpoints/*", "endpoints"));
        assert!(!action_matches("endpoints/*", "models/read"));
        assert!(action_matches("endpoints/*/action", "endpoints/listKeys/action"));
        assert!(!action_matches("endpoints/*/action", "endpoints/read"));
        assert!(action_matches("*/read", "tls/read"));
        assert!(!action_matches("*/read", "roles/write"));
        assert!(!action_matches("*/read", "endpoints/score/action"));
        assert!(action_matches("Endpoints/READ", "endpoints/read"));
        assert!(!action_matches("endpoints/re*", "endpoints/read"));
    }

    #[test]
    fn builtin_roles_grant_what_spec_4_says() {
        let s = RbacSnapshot::builtin("edgeserve-admin");
        let r = |n: &str| s.role(n).unwrap().granted();
        assert_eq!(r(OWNER), ACTIONS.to_vec());
        assert_eq!(
            r(DATA_SCIENTIST),
            [
                "endpoints/read",
                "endpoints/write",
                "endpoints/delete",
                "endpoints/token/action",
                "endpoints/listKeys/action",
                "endpoints/regenerateKeys/action",
                "endpoints/score/action",
                "models/read",
                "models/write",
            ]
        );
        assert_eq!(r(READER), ["endpoints/read", "models/read", "tls/read", "roles/read"]);
        assert_eq!(r(SCORER), ["endpoints/score/action"]);
        let names: Vec<&str> = s.roles().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, [DATA_SCIENTIST, OWNER, READER, SCORER]);
    }

    #[test]
    fn root_and_admin_group_are_owner_through_listed_assignments() {
        let s = RbacSnapshot::builtin("edgeserve-admin");
        let ids: Vec<&str> = s.assignments().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, [ROOT_ASSIGNMENT, ADMIN_GROUP_ASSIGNMENT]);
        let admin = [Principal::unix_user("alice"), Principal::unix_group("edgeserve-admin")];
        assert!(authorize(&s, &admin, "roles/write", &Scope::Root).is_ok());
        assert!(authorize(&s, &admin, "endpoints/delete", &ep("x")).is_ok());
        assert!(authorize(&s, &[Principal::unix_user("root")], "tls/write", &Scope::Root).is_ok());
        let d = authorize(&s, &[Principal::unix_user("bob")], "endpoints/read", &Scope::Root)
            .unwrap_err();
        assert_eq!(d.action, "endpoints/read");
        assert_eq!(d.caller, "unix-user:bob");
        let msg = d.to_string();
        assert!(msg.contains("unix-user:bob may not perform endpoints/read on /"), "{msg}");
    }

    #[test]
    fn scopes_root_covers_every_endpoint_and_an_endpoint_only_itself() {
        let s = RbacSnapshot::new(
            vec![],
            vec![
                assign("a1", "oidc:sensor-7", SCORER, "/endpoints/ep1"),
                assign("a2", "cert:fleet", SCORER, "/"),
            ],
            "",
        );
        let sensor = [Principal::oidc("sensor-7")];
        assert!(authorize(&s, &sensor, "endpoints/score/action", &ep("ep1")).is_ok());
        assert!(authorize(&s, &sensor, "endpoints/score/action", &ep("ep2")).is_err());
        assert!(authorize(&s, &sensor, "endpoints/score/action", &Scope::Root).is_err());
        assert!(authorize(&s, &sensor, "endpoints/token/action", &ep("ep1")).is_err());
        let fleet = [Principal::cert("fleet")];
        assert!(authorize(&s, &fleet, "endpoints/score/action", &ep("any")).is_ok());
        assert!(authorize(&s, &fleet, "endpoints/read", &ep("any")).is_err());
        // Another kind with the same name is another principal.
        assert!(authorize(
            &s,
            &[Principal::cert("sensor-7")],
            "endpoints/score/action",
            &ep("ep1")
        )
        .is_err());
    }

    #[test]
    fn data_plane_identities_as_text() {
        let s = RbacSnapshot::new(
            vec![],
            vec![
                assign("a1", "oidc:sensor-7", SCORER, "/endpoints/ep1"),
                assign("a2", "cert:gateway.local", "Data Scientist", "/endpoints/ep1"),
            ],
            "",
        );
        let score = Action::Score.as_str();
        let token = Action::Token.as_str();
        assert!(authorize_names(&s, &["oidc:sensor-7"], score, &ep("ep1")).is_ok());
        assert!(authorize_names(&s, &["cert:gateway.local"], token, &ep("ep1")).is_ok());
        let d = authorize_names(&s, &["oidc:sensor-7"], token, &ep("ep1")).unwrap_err();
        assert_eq!((d.caller.as_str(), d.action.as_str()), ("oidc:sensor-7", token));
        assert!(d.to_string().contains("endpoints/token/action"), "{d}");
        let d = authorize_names(&s, &["garbage"], score, &ep("ep1")).unwrap_err();
        assert_eq!(d.caller, "garbage");
        let api: ApiError = d.into();
        assert_eq!(api.status, axum::http::StatusCode::FORBIDDEN);
    }

    #[test]
    fn not_actions_subtract_from_their_role_only() {
        let operator = custom("Operator", &["endpoints/*"], &["endpoints/score/action"]);
        let s = RbacSnapshot::new(
            vec![operator],
            vec![
                assign("a1", "unix-user:op", "Operator", "/endpoints/ep1"),
                assign("a2", "unix-group:scorers", SCORER, "/endpoints/ep2"),
            ],
            "",
        );
        let op = [Principal::unix_user("op"), Principal::unix_group("ops")];
        assert!(authorize(&s, &op, "endpoints/regenerateKeys/action", &ep("ep1")).is_ok());
        assert!(authorize(&s, &op, "endpoints/regenerateKeys/action", &ep("ep2")).is_err());
        assert!(authorize(&s, &op, "endpoints/score/action", &ep("ep1")).is_err());
        assert!(authorize(&s, &op, "models/read", &Scope::Root).is_err());
        // A NotAction is no deny: another role of the same caller still grants it.
        let both = [Principal::unix_user("op"), Principal::unix_group("scorers")];
        assert!(authorize(&s, &both, "endpoints/score/action", &ep("ep2")).is_ok());
        assert!(authorize(&s, &both, "endpoints/score/action", &ep("ep1")).is_err());
    }

    #[test]
    fn custom_roles_are_validated() {
        assert!(custom("Operator", &["endpoints/*"], &["endpoints/score/action"])
            .validate_custom()
            .is_ok());
        assert!(custom("Owner", &["*"], &[]).validate_custom().is_err());
        assert!(custom("reader", &["*"], &[]).validate_custom().is_err());
        assert!(custom("X", &[], &[]).validate_custom().is_err());
        let typo = custom("X", &["endpoint/read"], &[]).validate_custom().unwrap_err();
        assert!(typo.to_string().contains("\"endpoint/read\" matches no action"), "{typo}");
        assert!(custom("X", &["endpoints/re*"], &[]).validate_custom().is_err());
        assert!(custom("X", &["endpoints/read"], &["*"]).validate_custom().is_err());
        let mut scoped = custom("X", &["endpoints/read"], &[]);
        scoped.assignable_scopes = vec!["/models/m".into()];
        assert!(scoped.validate_custom().is_err());
        scoped.assignable_scopes = vec!["/endpoints/ep1".into()];
        assert!(scoped.validate_custom().is_ok());
        assert!(scoped.assignable_at(&ep("ep1")));
        assert!(!scoped.assignable_at(&ep("ep2")));
        assert!(!scoped.assignable_at(&Scope::Root));
        let mut builtin = custom("Y", &["endpoints/read"], &[]);
        builtin.is_custom = false;
        assert!(builtin.validate_custom().is_err());
    }

    #[test]
    fn seed_json_shape_round_trips() {
        let json = r#"{"Name":"Operator","IsCustom":true,"Description":"d",
            "Actions":["endpoints/*"],"NotActions":["endpoints/score/action"],
            "AssignableScopes":["/"]}"#;
        let role: RoleDefinition = serde_json::from_str(json).unwrap();
        assert_eq!(role.not_actions, ["endpoints/score/action"]);
        let back = serde_json::to_value(&role).unwrap();
        assert_eq!(back["AssignableScopes"], serde_json::json!(["/"]));
        let minimal: RoleDefinition =
            serde_json::from_str(r#"{"Name":"M","Actions":["models/read"]}"#).unwrap();
        assert!(minimal.is_custom);
        assert_eq!(minimal.assignable_scopes, ["/"]);
        assert!(serde_json::from_str::<RoleDefinition>(r#"{"Name":"M","Action":[]}"#).is_err());
    }

    #[test]
    fn scopes_and_assignees_parse() {
        assert_eq!(Scope::parse("/").unwrap(), Scope::Root);
        assert_eq!(Scope::parse("/endpoints/ep1").unwrap(), ep("ep1"));
        for bad in ["", "/endpoints/", "/endpoints/a/b", "endpoints/ep1", "/models/m"] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Principal::parse("oidc:abc|def").unwrap(), Principal::oidc("abc|def"));
        assert_eq!(Principal::parse("cert:box 1.local").unwrap().to_string(), "cert:box 1.local");
        for bad in ["alice", "user:alice", "unix-user:", "oidc:a\nb"] {
            assert!(Principal::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_principals_and_unknown_roles_grant_nothing() {
        let s = RbacSnapshot::new(vec![], vec![assign("a", "unix-user:x", "Gone", "/")], "");
        assert!(authorize(&s, &[], "endpoints/read", &Scope::Root).is_err());
        assert!(
            authorize(&s, &[Principal::unix_user("x")], "endpoints/read", &Scope::Root).is_err()
        );
    }
}
