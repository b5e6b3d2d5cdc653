//! Who is on the other end of the control socket, and what they may do.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use nix::unistd::{Gid, Group, Uid, User};

use crate::error::ApiError;

/// A control-plane action (SPEC §4's names), checked before each operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    EndpointsRead,
    EndpointsWrite,
    EndpointsDelete,
    ListKeys,
    RegenerateKeys,
    Score,
    ModelsRead,
    ModelsWrite,
    TlsWrite,
    DevicesRead,
}

impl Action {
    /// The action's name in roles and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::EndpointsRead => "endpoints/read",
            Action::EndpointsWrite => "endpoints/write",
            Action::EndpointsDelete => "endpoints/delete",
            Action::ListKeys => "endpoints/listKeys/action",
            Action::RegenerateKeys => "endpoints/regenerateKeys/action",
            Action::Score => "endpoints/score/action",
            Action::ModelsRead => "models/read",
            Action::ModelsWrite => "models/write",
            Action::TlsWrite => "tls/write",
            Action::DevicesRead => "endpoints/read",
        }
    }
}

/// A control-socket peer, as the kernel reported it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
    /// The daemon's `daemon.admin_group`, resolved at start (None if it does not exist).
    pub admin_gid: Option<u32>,
}

impl Caller {
    /// Whether the caller may perform `action`. Root and members of `daemon.admin_group` may do
    /// everything; role assignments will refine this here.
    pub fn authorize(&self, action: Action) -> Result<(), ApiError> {
        if self.uid == 0 || self.in_admin_group() {
            return Ok(());
        }
        let who = User::from_uid(Uid::from_raw(self.uid))
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| format!("uid {}", self.uid));
        Err(ApiError::forbidden(format!(
            "{who} may not perform {}: only root and members of the admin group may use the control socket",
            action.as_str()
        )))
    }

    fn in_admin_group(&self) -> bool {
        let Some(admin) = self.admin_gid else { return false };
        if self.gid == admin {
            return true;
        }
        let Ok(Some(user)) = User::from_uid(Uid::from_raw(self.uid)) else { return false };
        let Ok(name) = std::ffi::CString::new(user.name) else { return false };
        nix::unistd::getgrouplist(&name, Gid::from_raw(self.gid))
            .map(|groups| groups.contains(&Gid::from_raw(admin)))
            .unwrap_or(false)
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
