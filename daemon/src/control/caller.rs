//! Who is on the other end of the control socket, and what they may do: every control route
//! asks [`Caller::authorize`] for its one action and scope, which asks the RBAC evaluator
//! (SPEC §4) with the caller's unix user and groups.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use nix::unistd::{Gid, Group, Uid, User};

use crate::auth::rbac::{self, Principal, RbacSnapshot};
use crate::error::ApiError;
use crate::state::AppState;

pub use crate::auth::rbac::{Action, Scope};

/// A control-socket peer, as the kernel reported it (`SO_PEERCRED`).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The peer process's user id.
    pub uid: u32,
    /// Its primary group id.
    pub gid: u32,
    /// Its process id (for logs).
    pub pid: i32,
    /// The daemon's `daemon.admin_group`, resolved at start (None if it does not exist). Its
    /// members are Owner through the built-in assignment `builtin-admin-group`.
    pub admin_gid: Option<u32>,
}

impl Caller {
    /// Whether the caller is root, who is Owner whatever the assignments say (SPEC §4).
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// The caller's principals (SPEC §4): `unix-user:NAME` first, then `unix-group:NAME` for its
    /// primary group and every group the group database lists it in. A uid or gid without a
    /// name appears as its number.
    pub fn principals(&self) -> Vec<Principal> {
        let user = User::from_uid(Uid::from_raw(self.uid)).ok().flatten();
        let mut out = vec![Principal::unix_user(
            user.as_ref().map_or_else(|| self.uid.to_string(), |u| u.name.clone()),
        )];
        let mut gids = vec![Gid::from_raw(self.gid)];
        if let Some(user) = &user {
            if let Ok(name) = std::ffi::CString::new(user.name.as_str()) {
                if let Ok(groups) = nix::unistd::getgrouplist(&name, Gid::from_raw(self.gid)) {
                    gids.extend(groups);
                }
            }
        }
        for gid in gids {
            let name = Group::from_gid(gid)
                .ok()
                .flatten()
                .map_or_else(|| gid.as_raw().to_string(), |g| g.name);
            let p = Principal::unix_group(name);
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// How the caller appears in messages and logs: `unix-user:NAME`.
    pub fn describe(&self) -> String {
        let name = User::from_uid(Uid::from_raw(self.uid))
            .ok()
            .flatten()
            .map_or_else(|| self.uid.to_string(), |u| u.name);
        Principal::unix_user(name).to_string()
    }

    /// Whether the caller holds `action` at `scope` in `snapshot` (root holds everything).
    pub fn holds(&self, snapshot: &RbacSnapshot, action: &str, scope: &Scope) -> bool {
        self.is_root() || snapshot.allows(&self.principals(), action, scope)
    }

    /// The one control-plane check (SPEC §4): the caller must hold `action` at `scope` through
    /// a role assignment (root is Owner). A refusal is 403 naming the action and the caller.
    pub fn authorize(&self, app: &AppState, action: Action, scope: Scope) -> Result<(), ApiError> {
        if self.is_root() {
            return Ok(());
        }
        rbac::authorize(&app.rbac(), &self.principals(), action.as_str(), &scope)
            .map_err(ApiError::from)
    }
}

/// Resolves `daemon.admin_group` to its gid.
pub fn admin_gid(name: &str) -> Option<u32> {
    Group::from_name(name).ok().flatten().map(|g| g.gid.as_raw())
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::forbidden("the caller's credentials are unknown"))
    }
}
