//! Declarative apply (SPEC §6, §7; issue 21): the config's `[[model]]`, `[[endpoint]]`,
//! `[[deployment]]` and `[[role_assignment]]` declarations are reconciled with the store at
//! start and on every reload, like `kubectl apply`: what is new is created, what changed is
//! updated (a new deployment loads before the old one retires), what was declared before and is
//! no longer is deleted, and objects made with the CLI are never touched (each stored object
//! records its origin).
//!
//! - `plan.rs` computes the changes without making any (`edgeserved --check-config` prints it);
//! - `apply.rs` makes them through `manage/`, the CLI's own write path;
//! - `credentials.rs` reads the shared key files a fleet uses;
//! - `reload.rs` is SIGHUP: re-read the file, check everything, then swap and apply.

mod apply;
mod credentials;
mod plan;
mod reload;

pub use apply::{apply, Applied};
pub use plan::{plan, Action, Current, Plan, PlanError, Step};
pub use reload::{failed_deployments, reload, ConfigSource, ReloadError};
