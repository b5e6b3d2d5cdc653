//! Board support for edgeserve: board profiles (data files in `bsp/boards/`) and detection of
//! the profile that fits the box, from a sysfs/proc root that tests point at a fixture tree.

mod detect;
mod profile;

pub use detect::{detect, BoardFacts, Detection};
pub use profile::{builtin_profiles, profile_by_name, Accelerator, BoardProfile, MatchRules};

/// Why board support failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BspError {
    #[error("board profile {name}: {reason}")]
    BadProfile { name: String, reason: String },
    #[error("no board profile named {0:?} (known: {1})")]
    UnknownBoard(String, String),
    #[error("no board profile matches this {0} box")]
    NoMatch(String),
}
